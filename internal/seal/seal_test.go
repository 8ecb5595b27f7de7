package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

func newKEK(t testing.TB) (*KEK, []byte) {
	t.Helper()
	raw := make([]byte, KeySize)
	rand.Read(raw)
	k, err := ParseKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k, raw
}

var testAD = AD{Table: "secret_versions", ID: "0b6e1c", Purpose: "value"}

func TestRoundTrip(t *testing.T) {
	k, _ := newKEK(t)
	for _, plain := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret"), 10000)} {
		blob, err := k.Seal(rand.Reader, plain, testAD)
		if err != nil {
			t.Fatal(err)
		}
		if len(blob) != len(plain)+Overhead {
			t.Errorf("blob is %d bytes for %d bytes of plaintext, want overhead %d", len(blob), len(plain), Overhead)
		}
		if len(plain) > 8 && bytes.Contains(blob, plain[:8]) {
			t.Error("the blob contains the plaintext")
		}
		got, err := k.Open(blob, testAD)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
		id, err := BlobKEKID(blob)
		if err != nil || id != k.ID() {
			t.Errorf("BlobKEKID = %q, %v; want %q", id, err, k.ID())
		}
	}
}

func TestSealIsFreshEachTime(t *testing.T) {
	k, _ := newKEK(t)
	a, _ := k.Seal(rand.Reader, []byte("same"), testAD)
	b, _ := k.Seal(rand.Reader, []byte("same"), testAD)
	if bytes.Equal(a[offWrapped:offNonce], b[offWrapped:offNonce]) || bytes.Equal(a[offPayload:], b[offPayload:]) {
		t.Error("two seals of the same plaintext share a wrapped key or ciphertext")
	}
}

func TestTamperingFails(t *testing.T) {
	k, _ := newKEK(t)
	blob, err := k.Seal(rand.Reader, []byte("the payload"), testAD)
	if err != nil {
		t.Fatal(err)
	}
	regions := []struct {
		name     string
		at       int
		wrongKEK bool
	}{
		{"version", 0, false},
		{"kek id", offID + 3, true},
		{"wrap nonce", offWrapNonce + 1, false},
		{"wrapped key", offWrapped + 5, false},
		{"wrapped key tag", offNonce - 1, false},
		{"nonce", offNonce + 2, false},
		{"ciphertext", offPayload, false},
		{"tag", len(blob) - 1, false},
	}
	for _, r := range regions {
		t.Run(r.name, func(t *testing.T) {
			bad := bytes.Clone(blob)
			bad[r.at] ^= 0x01
			_, err := k.Open(bad, testAD)
			want := ErrCorrupt
			if r.wrongKEK {
				want = ErrWrongKEK
			}
			if !errors.Is(err, want) {
				t.Fatalf("Open of a blob with a flipped bit in its %s: %v, want %v", r.name, err, want)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 1, offPayload, minBlobLen - 1, len(blob) - 1} {
			if _, err := k.Open(blob[:n], testAD); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open of the first %d bytes: %v, want ErrCorrupt", n, err)
			}
		}
	})
	t.Run("extended", func(t *testing.T) {
		if _, err := k.Open(append(bytes.Clone(blob), 0), testAD); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with a byte appended: %v, want ErrCorrupt", err)
		}
	})
	t.Run("wrapped key from another blob", func(t *testing.T) {
		other, _ := k.Seal(rand.Reader, []byte("the payload"), testAD)
		bad := bytes.Clone(blob)
		copy(bad[offWrapNonce:offNonce], other[offWrapNonce:offNonce])
		if _, err := k.Open(bad, testAD); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with another blob's wrapped key: %v, want ErrCorrupt", err)
		}
	})
}

func TestMovedBlobFails(t *testing.T) {
	k, _ := newKEK(t)
	blob, err := k.Seal(rand.Reader, []byte("payload"), testAD)
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range []AD{
		{Table: "signing_keys", ID: testAD.ID, Purpose: testAD.Purpose},
		{Table: testAD.Table, ID: "0b6e1d", Purpose: testAD.Purpose},
		{Table: testAD.Table, ID: testAD.ID, Purpose: "private-key"},
		// Field boundaries are part of the AD: moving bytes between fields is another AD.
		{Table: "secret_versions0", ID: "b6e1c", Purpose: testAD.Purpose},
		{},
	} {
		if _, err := k.Open(blob, ad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with AD %+v: %v, want ErrCorrupt", ad, err)
		}
	}
}

func TestWrongKEK(t *testing.T) {
	k1, _ := newKEK(t)
	k2, _ := newKEK(t)
	blob, _ := k1.Seal(rand.Reader, []byte("payload"), testAD)
	_, err := k2.Open(blob, testAD)
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("Open under another KEK: %v, want ErrWrongKEK", err)
	}
	if !strings.Contains(err.Error(), k1.ID()) || !strings.Contains(err.Error(), k2.ID()) {
		t.Errorf("error %q should name both KEK ids", err)
	}
	// A forged header naming k2 does not help.
	forged := bytes.Clone(blob)
	copy(forged[offID:offWrapNonce], k2.rawID[:])
	if _, err := k2.Open(forged, testAD); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open of a blob relabelled to the other KEK: %v, want ErrCorrupt", err)
	}
}

func TestRewrap(t *testing.T) {
	from, _ := newKEK(t)
	to, _ := newKEK(t)
	plain := []byte("payload that must not be re-encrypted")
	blob, _ := from.Seal(rand.Reader, plain, testAD)
	re, err := from.Rewrap(blob, testAD, to)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(re[offNonce:], blob[offNonce:]) {
		t.Error("Rewrap changed the payload nonce or ciphertext")
	}
	if bytes.Equal(re[offWrapNonce:offNonce], blob[offWrapNonce:offNonce]) {
		t.Error("Rewrap did not change the wrapped key")
	}
	if id, _ := BlobKEKID(re); id != to.ID() {
		t.Errorf("rewrapped blob's KEK id = %s, want %s", id, to.ID())
	}
	got, err := to.Open(re, testAD)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open under the new KEK = %q, %v", got, err)
	}
	if _, err := from.Open(re, testAD); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Open of the rewrapped blob under the old KEK: %v, want ErrWrongKEK", err)
	}
	if _, err := from.Rewrap(blob, AD{Table: "x"}, to); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Rewrap with the wrong AD: %v, want ErrCorrupt", err)
	}
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	if _, err := from.Rewrap(bad, testAD, to); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Rewrap of a tampered payload: %v, want ErrCorrupt", err)
	}
}

func TestKEKID(t *testing.T) {
	k, raw := newKEK(t)
	if len(k.ID()) != 2*idSize {
		t.Errorf("ID %q is not %d hex digits", k.ID(), 2*idSize)
	}
	k2, _ := ParseKEK(raw)
	if k2.ID() != k.ID() {
		t.Error("the same key gave two ids")
	}
	if strings.Contains(fmt.Sprintf("%x", raw), k.ID()) {
		t.Error("the id is a piece of the key")
	}
}

func TestKEKNeverPrinted(t *testing.T) {
	k, raw := newKEK(t)
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("kek", "kek", k, "deref", *k)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("kek", "kek", k, "deref", *k)
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&out, verb+"\n", k)
		fmt.Fprintf(&out, verb+"\n", *k)
	}
	fmt.Fprintln(&out, k, *k, []*KEK{k}, struct{ K *KEK }{k}, map[string]KEK{"k": *k})
	all := out.String() + logs.String()
	if !strings.Contains(all, k.ID()) {
		t.Errorf("output does not show the id:\n%s", all)
	}
	for _, form := range []string{string(raw), fmt.Sprintf("%x", raw), fmt.Sprintf("%X", raw), fmt.Sprint(raw), fmt.Sprintf("%x", raw[:4])} {
		if strings.Contains(all, form) {
			t.Fatalf("the key appears in printed output:\n%s", all)
		}
	}
}

func TestParseKEKBase64(t *testing.T) {
	_, raw := newKEK(t)
	raw[0], raw[1] = 0xfb, 0xff // characters that differ between std and URL alphabets
	for _, enc := range []string{
		base64Std(raw), strings.TrimRight(base64Std(raw), "="), base64URL(raw), strings.TrimRight(base64URL(raw), "="), " " + base64Std(raw) + "\n",
	} {
		k, err := ParseKEKBase64(enc)
		if err != nil {
			t.Fatalf("ParseKEKBase64(%q): %v", enc, err)
		}
		want, _ := ParseKEK(raw)
		if k.ID() != want.ID() {
			t.Errorf("ParseKEKBase64(%q) gave another key", enc)
		}
	}
	secretish := "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw"
	for _, bad := range []string{"", "!!!!" + secretish, secretish, base64Std(raw[:31]), base64Std(append(raw, 1))} {
		_, err := ParseKEKBase64(bad)
		if err == nil {
			t.Errorf("ParseKEKBase64(%q) succeeded", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad[4:12]) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

func TestKEKFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	k, err := CreateKEKFile(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != KeySize {
		t.Fatalf("created file: %v, mode %v, size %d", err, st.Mode(), st.Size())
	}
	loaded, err := LoadKEKFile(path)
	if err != nil || loaded.ID() != k.ID() {
		t.Fatalf("LoadKEKFile = %v, %v; want id %s", loaded, err, k.ID())
	}
	if _, err := CreateKEKFile(path, rand.Reader); !errs.Is(err, errs.Conflict) {
		t.Errorf("CreateKEKFile over an existing file: %v, want Conflict", err)
	}

	check := func(name, path, want string) {
		t.Helper()
		_, err := LoadKEKFile(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: LoadKEKFile = %v, want an error naming %s and saying %q", name, err, path, want)
		}
	}
	check("missing", filepath.Join(dir, "nope"), "does not exist")

	short := filepath.Join(dir, "short")
	os.WriteFile(short, make([]byte, 31), 0o600)
	check("short", short, "31 bytes")
	long := filepath.Join(dir, "long")
	os.WriteFile(long, make([]byte, 44), 0o600) // a base64 key written by mistake
	check("long", long, "44 bytes")

	open := filepath.Join(dir, "open")
	os.WriteFile(open, make([]byte, 32), 0o600)
	os.Chmod(open, 0o644)
	check("world-readable", open, "mode 0644")
	os.Chmod(open, 0o640)
	check("group-readable", open, "mode 0640")

	check("directory", dir, "not a regular file")

	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable")
		os.WriteFile(unreadable, make([]byte, 32), 0o600)
		os.Chmod(unreadable, 0o200)
		check("unreadable", unreadable, "not readable")
	}
}

func TestCreateKEKFileShortRand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if _, err := CreateKEKFile(path, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("CreateKEKFile with too little randomness succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed CreateKEKFile left a file behind: %v", err)
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
func base64URL(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

func FuzzOpen(f *testing.F) {
	raw := bytes.Repeat([]byte{7}, KeySize)
	k, _ := ParseKEK(raw)
	blob, _ := k.Seal(rand.Reader, []byte("seed payload"), testAD)
	f.Add(blob, testAD.Table, testAD.ID, testAD.Purpose)
	f.Add(blob[:minBlobLen], "", "", "")
	f.Add([]byte{1}, "a", "b", "c")
	f.Add([]byte{}, "", "", "")
	f.Fuzz(func(t *testing.T, blob []byte, table, id, purpose string) {
		ad := AD{Table: table, ID: id, Purpose: purpose}
		plain, err := k.Open(blob, ad)
		if err == nil {
			// Only a genuine seal can open: check it reseals and opens the same.
			again, err := k.Seal(rand.Reader, plain, ad)
			if err != nil {
				t.Fatal(err)
			}
			if p2, err := k.Open(again, ad); err != nil || !bytes.Equal(p2, plain) {
				t.Fatalf("reseal round trip: %v", err)
			}
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("Open failed with %v, neither ErrCorrupt nor ErrWrongKEK", err)
		}
		BlobKEKID(blob)
		k.Rewrap(blob, ad, k)
	})
}
