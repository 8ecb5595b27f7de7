package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/token"
)

func newKey(id string, created time.Time) token.KeyRecord {
	return token.KeyRecord{
		ID: id, Alg: "ES256",
		CertDER:   []byte("cert of " + id),
		SealedKey: []byte("sealed key of " + id),
		KEKID:     "kek-1",
		CreatedAt: created, ActivateAt: created.Add(time.Hour),
	}
}

func sameKey(t *testing.T, got, want token.KeyRecord) {
	t.Helper()
	if got.ID != want.ID || got.Alg != want.Alg || got.KEKID != want.KEKID ||
		!bytes.Equal(got.CertDER, want.CertDER) || !bytes.Equal(got.SealedKey, want.SealedKey) {
		t.Errorf("key = %+v, want %+v", got, want)
	}
	sameTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.ID+" ActivateAt", got.ActivateAt, want.ActivateAt)
	sameTime(t, want.ID+" RetireAt", got.RetireAt, want.RetireAt)
	sameTime(t, want.ID+" DropAt", got.DropAt, want.DropAt)
}

func sameKeys(t *testing.T, got []token.KeyRecord, want ...token.KeyRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d keys %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		sameKey(t, got[i], want[i])
	}
}

// update runs UpdateSigningKeys with a change that does not depend on the keys.
func update(db *store.DB, ch token.KeyChange) error {
	return db.UpdateSigningKeys(ctx, func([]token.KeyRecord) (token.KeyChange, error) { return ch, nil })
}

func testSigningKeys(t *testing.T, db *store.DB) {
	keys, err := db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys on an empty store")
	sameKeys(t, keys)
	// The version moves with every change written, and only then.
	version, err := db.SigningKeysVersion(ctx)
	must(t, err, "SigningKeysVersion on an empty store")
	moved := func(what string, want bool) {
		t.Helper()
		v, err := db.SigningKeysVersion(ctx)
		must(t, err, "SigningKeysVersion")
		if (v != version) != want {
			t.Errorf("after %s the version went from %q to %q; want moved=%v", what, version, v, want)
		}
		version = v
	}

	k1 := newKey("k1", t0)
	must(t, update(db, token.KeyChange{Insert: &k1}), "insert k1")
	keys, err = db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	sameKeys(t, keys, k1) // RetireAt and DropAt zero: round-trip as zero
	moved("an insert", true)

	// fn sees the keys as they are; its error comes back as it is and nothing is written.
	k2 := newKey("k2", t0.Add(time.Minute))
	var seen []token.KeyRecord
	err = db.UpdateSigningKeys(ctx, func(keys []token.KeyRecord) (token.KeyChange, error) {
		seen = keys
		return token.KeyChange{Insert: &k2}, errInjected
	})
	if !errors.Is(err, errInjected) {
		t.Fatalf("UpdateSigningKeys with a failing fn = %v, want its error", err)
	}
	sameKeys(t, seen, k1)
	keys, err = db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	sameKeys(t, keys, k1)
	moved("a failed change", false)

	// A rotation step: a successor, and the old key retired when it activates.
	k1.RetireAt, k1.DropAt = k2.ActivateAt, k2.ActivateAt.Add(25*time.Hour)
	must(t, update(db, token.KeyChange{Insert: &k2, Retire: map[string]token.RetireTimes{
		"k1": {RetireAt: k1.RetireAt, DropAt: k1.DropAt},
	}}), "insert k2, retire k1")
	keys, err = db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	sameKeys(t, keys, k1, k2) // oldest first
	moved("an insert and a retirement", true)

	// An immediate rotation: a retirement brought forward alone (no insert) moves it too.
	k1.RetireAt, k1.DropAt = k1.RetireAt.Add(-time.Minute), k1.DropAt.Add(-time.Minute)
	must(t, update(db, token.KeyChange{Retire: map[string]token.RetireTimes{"k1": {RetireAt: k1.RetireAt, DropAt: k1.DropAt}}}), "retire k1 sooner")
	moved("a retirement brought forward", true)

	// Retire times can be cleared again (zero ⇔ NULL).
	k1.RetireAt, k1.DropAt = time.Time{}, time.Time{}
	must(t, update(db, token.KeyChange{Retire: map[string]token.RetireTimes{"k1": {}}}), "clear k1's retire times")
	keys, err = db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	sameKeys(t, keys, k1, k2)
	moved("clearing retire times", true)

	must(t, update(db, token.KeyChange{}), "an empty change")
	moved("an empty change", false)

	bad := newKey("", t0)
	wantKind(t, update(db, token.KeyChange{Insert: &bad}), errs.Invalid, "insert a key without an id")
}

// testSigningKeysRollback shows that a change is written whole or not at all.
func testSigningKeysRollback(t *testing.T, db *store.DB) {
	k1, k2 := newKey("k1", t0), newKey("k2", t0.Add(time.Minute))
	must(t, update(db, token.KeyChange{Insert: &k1}), "insert k1")
	must(t, update(db, token.KeyChange{Insert: &k2}), "insert k2")

	// A duplicate insert fails with Conflict, and its retire times are not written.
	dup := newKey("k2", t0.Add(2*time.Minute))
	err := update(db, token.KeyChange{Insert: &dup, Retire: map[string]token.RetireTimes{
		"k1": {RetireAt: t0.Add(time.Hour), DropAt: t0.Add(2 * time.Hour)},
	}})
	wantKind(t, err, errs.Conflict, "insert an existing key id")

	// Retiring an unknown key fails with NotFound, and the insert and other retirements with it.
	k3 := newKey("k3", t0.Add(3*time.Minute))
	err = update(db, token.KeyChange{Insert: &k3, Retire: map[string]token.RetireTimes{
		"k1":      {RetireAt: t0.Add(time.Hour), DropAt: t0.Add(2 * time.Hour)},
		"unknown": {RetireAt: t0.Add(time.Hour), DropAt: t0.Add(2 * time.Hour)},
	}})
	wantKind(t, err, errs.NotFound, "retire an unknown key")

	keys, err := db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	sameKeys(t, keys, k1, k2)
}

// testSigningKeysConcurrent is several servers running the same rotation step at once: each
// creates a key only if there is none. Exactly one key may result.
func testSigningKeysConcurrent(t *testing.T, db *store.DB) {
	// Warm the connection pool, so that the workers below start their transactions together
	// rather than one per new connection.
	waitAll(t, parallel(workers, func(int) error {
		for range 10 {
			if _, err := db.ListSigningKeys(ctx); err != nil {
				return err
			}
		}
		return nil
	}), "ListSigningKeys")

	calls := make([]int, workers)
	errList := parallel(workers, func(i int) error {
		for r := range 5 {
			err := db.UpdateSigningKeys(ctx, func(keys []token.KeyRecord) (token.KeyChange, error) {
				calls[i]++
				if len(keys) > 0 {
					return token.KeyChange{}, nil
				}
				// Linger, so that without the lock another worker would get in, see no key
				// either, and create one too. With the lock the others wait; nothing here
				// depends on how long.
				time.Sleep(50 * time.Millisecond)
				k := newKey(fmt.Sprintf("w%d-r%d", i, r), t0)
				return token.KeyChange{Insert: &k}, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	waitAll(t, errList, "UpdateSigningKeys")
	keys, err := db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	if len(keys) != 1 {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		t.Fatalf("%d keys after concurrent rotation steps, want 1: %v", len(keys), ids)
	}
	for i, n := range calls {
		if n != 5 { // each call ran fn once: no retry hides a lost race
			t.Errorf("worker %d: fn ran %d times, want 5", i, n)
		}
	}
}
