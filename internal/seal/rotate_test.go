package seal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// mapStore is a RotateStore over a map, as the SQL store behaves: ReplaceSealed compares and
// swaps. failAfter, when positive, makes ReplaceSealed fail once that many replaces succeeded.
type mapStore struct {
	mu        sync.Mutex
	vals      map[AD]Sealed
	replaced  int
	failAfter int
	onReplace func(s Sealed) // called before a replace, without the lock: may change the store
}

func newMapStore() *mapStore { return &mapStore{vals: map[AD]Sealed{}} }

func (m *mapStore) put(k *KEK, ad AD, plain string) {
	blob, err := k.Seal(rand.Reader, []byte(plain), ad)
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals[ad] = Sealed{Table: ad.Table, ID: ad.ID, Purpose: ad.Purpose, KEKID: k.ID(), Blob: blob}
}

func (m *mapStore) ListSealedNotUnder(ctx context.Context, kekID string, limit int) ([]Sealed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Sealed
	for _, s := range m.vals {
		if s.KEKID != kekID {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Sealed) int { return strings.Compare(a.Table+a.ID+a.Purpose, b.Table+b.ID+b.Purpose) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *mapStore) ReplaceSealed(ctx context.Context, s Sealed, newBlob []byte, newKEKID string) error {
	if m.onReplace != nil {
		m.onReplace(s)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAfter > 0 && m.replaced >= m.failAfter {
		return errs.E(errs.Unavailable, "store went away")
	}
	ad := AD{Table: s.Table, ID: s.ID, Purpose: s.Purpose}
	cur, ok := m.vals[ad]
	if !ok {
		return errs.E(errs.NotFound, "no such value")
	}
	if string(cur.Blob) != string(s.Blob) {
		return errs.E(errs.Conflict, "changed")
	}
	m.vals[ad] = Sealed{Table: s.Table, ID: s.ID, Purpose: s.Purpose, KEKID: newKEKID, Blob: newBlob}
	m.replaced++
	return nil
}

func (m *mapStore) CountSealedNotUnder(ctx context.Context, kekID string) (int, error) {
	l, _ := m.ListSealedNotUnder(ctx, kekID, 1<<30)
	return len(l), nil
}

func (m *mapStore) checkAll(t *testing.T, k *KEK) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for ad, s := range m.vals {
		plain, err := k.Open(s.Blob, ad)
		if err != nil {
			t.Fatalf("%v does not open under %s: %v", ad, k, err)
		}
		if want := "plain " + ad.ID; string(plain) != want || s.KEKID != k.ID() {
			t.Fatalf("%v = %q under %s, want %q under %s", ad, plain, s.KEKID, want, k.ID())
		}
	}
}

func fill(m *mapStore, k *KEK, n int) {
	for i := range n {
		ad := AD{Table: []string{"secret_versions", "signing_keys"}[i%2], ID: fmt.Sprintf("%04d", i), Purpose: "value"}
		m.put(k, ad, "plain "+ad.ID)
	}
}

func TestRotate(t *testing.T) {
	from, _ := newKEK(t)
	to, _ := newKEK(t)
	st := newMapStore()
	fill(st, from, 250)
	var progress [][2]int
	n, err := Rotate(t.Context(), st, from, to, func(done, total int) { progress = append(progress, [2]int{done, total}) })
	if err != nil || n != 250 {
		t.Fatalf("Rotate = %d, %v; want 250", n, err)
	}
	st.checkAll(t, to)
	if want := [][2]int{{100, 250}, {200, 250}, {250, 250}}; !slices.Equal(progress, want) {
		t.Errorf("progress = %v, want %v", progress, want)
	}
	// Nothing left: a second run is a no-op.
	if n, err := Rotate(t.Context(), st, from, to, nil); err != nil || n != 0 {
		t.Errorf("second Rotate = %d, %v; want 0, nil", n, err)
	}
}

func TestRotateResumes(t *testing.T) {
	from, _ := newKEK(t)
	to, _ := newKEK(t)
	st := newMapStore()
	fill(st, from, 150)
	st.failAfter = 70
	n, err := Rotate(t.Context(), st, from, to, nil)
	if err == nil || !errs.Is(err, errs.Unavailable) || n != 70 {
		t.Fatalf("interrupted Rotate = %d, %v; want 70 and the store's error", n, err)
	}
	if left, _ := st.CountSealedNotUnder(t.Context(), to.ID()); left != 80 {
		t.Fatalf("%d values left under the old KEK, want 80", left)
	}
	// A server still running with the old KEK can open what is left; the new one what was done.
	st.failAfter = 0
	n, err = Rotate(t.Context(), st, from, to, nil)
	if err != nil || n != 80 {
		t.Fatalf("resumed Rotate = %d, %v; want 80", n, err)
	}
	st.checkAll(t, to)
}

func TestRotateStaleKEKColumn(t *testing.T) {
	from, _ := newKEK(t)
	to, _ := newKEK(t)
	st := newMapStore()
	fill(st, to, 3)
	for ad, s := range st.vals {
		s.KEKID = from.ID() // the blob was rewrapped but the column not updated
		st.vals[ad] = s
	}
	if n, err := Rotate(t.Context(), st, from, to, nil); err != nil || n != 3 {
		t.Fatalf("Rotate = %d, %v", n, err)
	}
	st.checkAll(t, to)
}

func TestRotateUnknownKEK(t *testing.T) {
	from, _ := newKEK(t)
	to, _ := newKEK(t)
	third, _ := newKEK(t)
	st := newMapStore()
	fill(st, from, 5)
	st.put(third, AD{Table: "signing_keys", ID: "stray", Purpose: "private-key"}, "x")
	_, err := Rotate(t.Context(), st, from, to, nil)
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("Rotate with a value under a third KEK: %v, want ErrWrongKEK", err)
	}
	for _, want := range []string{"signing_keys", "stray", third.ID()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestRotateConcurrentChange(t *testing.T) {
	from, _ := newKEK(t)
	to, _ := newKEK(t)
	st := newMapStore()
	fill(st, from, 4)
	// Another server rewrites one value (still under the old KEK) just before it is replaced.
	changed := false
	st.onReplace = func(s Sealed) {
		if !changed && s.ID == "0002" {
			changed = true
			st.put(from, AD{Table: s.Table, ID: s.ID, Purpose: s.Purpose}, "plain "+s.ID)
		}
	}
	n, err := Rotate(t.Context(), st, from, to, nil)
	if err != nil || n != 4 {
		t.Fatalf("Rotate = %d, %v; want 4", n, err)
	}
	st.checkAll(t, to)
}

func TestRotateArguments(t *testing.T) {
	k, _ := newKEK(t)
	if _, err := Rotate(t.Context(), newMapStore(), k, k, nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("Rotate to the same KEK: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	to, _ := newKEK(t)
	st := newMapStore()
	fill(st, k, 3)
	if _, err := Rotate(ctx, st, k, to, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Rotate with a cancelled context: %v", err)
	}
}
