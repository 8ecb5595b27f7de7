package storetest

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/pki"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/token"
)

func testCA(t *testing.T, db *store.DB) {
	_, err := db.GetCA(ctx)
	wantKind(t, err, errs.NotFound, "GetCA before there is one")

	ca := pki.CARecord{CertDER: []byte("root cert"), SealedKey: []byte("sealed root key"), KEKID: "kek-1", Created: t0}
	must(t, db.CreateCA(ctx, ca), "CreateCA")
	got, err := db.GetCA(ctx)
	must(t, err, "GetCA")
	if !bytes.Equal(got.CertDER, ca.CertDER) || !bytes.Equal(got.SealedKey, ca.SealedKey) || got.KEKID != ca.KEKID {
		t.Fatalf("GetCA = %+v, want %+v", got, ca)
	}
	sameTime(t, "CA Created", got.Created, ca.Created)

	err = db.CreateCA(ctx, pki.CARecord{CertDER: []byte("other"), SealedKey: []byte("other"), KEKID: "kek-2", Created: t0})
	wantKind(t, err, errs.Conflict, "a second CreateCA")
	got, err = db.GetCA(ctx)
	must(t, err, "GetCA after the conflict")
	if !bytes.Equal(got.CertDER, ca.CertDER) {
		t.Fatalf("the second CreateCA replaced the CA")
	}
}

// testCARace is several servers starting at once, each creating the CA: one wins, the others
// get Conflict and read the winner's.
func testCARace(t *testing.T, db *store.DB) {
	errList := parallel(workers, func(i int) error {
		id := fmt.Sprint(i)
		return db.CreateCA(ctx, pki.CARecord{CertDER: []byte("cert " + id), SealedKey: []byte("key " + id), KEKID: "kek", Created: t0})
	})
	won := 0
	for i, err := range errList {
		switch {
		case err == nil:
			won++
		case !errs.Is(err, errs.Conflict):
			t.Errorf("worker %d: %v, want success or Conflict", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d CAs created, want 1", won)
	}
}

// sealedFixture stores a CA and two signing keys: the CA and k1 under kek-a, k2 under kek-b.
func sealedFixture(t *testing.T, db *store.DB) (ca pki.CARecord, k1, k2 token.KeyRecord) {
	ca = pki.CARecord{CertDER: []byte("root"), SealedKey: []byte("ca blob a"), KEKID: "kek-a", Created: t0}
	must(t, db.CreateCA(ctx, ca), "CreateCA")
	k1, k2 = newKey("k1", t0), newKey("k2", t0)
	k1.KEKID, k1.SealedKey = "kek-a", []byte("k1 blob a")
	k2.KEKID, k2.SealedKey = "kek-b", []byte("k2 blob b")
	must(t, update(db, token.KeyChange{Insert: &k1}), "insert k1")
	must(t, update(db, token.KeyChange{Insert: &k2}), "insert k2")
	return ca, k1, k2
}

func sealedKey(s seal.Sealed) string { return s.Table + "/" + s.ID + "/" + s.Purpose }

func testSealed(t *testing.T, db *store.DB) {
	n, err := db.CountSealedNotUnder(ctx, "kek-b")
	must(t, err, "CountSealedNotUnder on an empty store")
	if n != 0 {
		t.Fatalf("CountSealedNotUnder on an empty store = %d", n)
	}
	sealedFixture(t, db)

	n, err = db.CountSealedNotUnder(ctx, "kek-b")
	must(t, err, "CountSealedNotUnder kek-b")
	if n != 2 {
		t.Fatalf("CountSealedNotUnder(kek-b) = %d, want 2", n)
	}
	n, err = db.CountSealedNotUnder(ctx, "kek-c")
	must(t, err, "CountSealedNotUnder kek-c")
	if n != 3 {
		t.Fatalf("CountSealedNotUnder(kek-c) = %d, want 3", n)
	}

	// Table, ID and Purpose are exactly the associated data the domains seal with.
	list, err := db.ListSealedNotUnder(ctx, "kek-b", 10)
	must(t, err, "ListSealedNotUnder")
	want := map[string]seal.Sealed{
		"signing_keys/k1/private-key": {Table: "signing_keys", ID: "k1", Purpose: "private-key", KEKID: "kek-a", Blob: []byte("k1 blob a")},
		"ca/root/private-key":         {Table: "ca", ID: "root", Purpose: "private-key", KEKID: "kek-a", Blob: []byte("ca blob a")},
	}
	if len(list) != len(want) {
		t.Fatalf("ListSealedNotUnder(kek-b) = %+v, want %+v", list, want)
	}
	for _, s := range list {
		w, ok := want[sealedKey(s)]
		if !ok || s.KEKID != w.KEKID || !bytes.Equal(s.Blob, w.Blob) {
			t.Errorf("ListSealedNotUnder(kek-b) has %+v, want one of %+v", s, want)
		}
	}

	// limit bounds the answer; batches cover everything.
	var keys []string
	for _, limit := range []int{1, 2} {
		list, err := db.ListSealedNotUnder(ctx, "kek-c", limit)
		must(t, err, "ListSealedNotUnder with a limit")
		if len(list) != limit {
			t.Fatalf("ListSealedNotUnder(kek-c, %d) returned %d values", limit, len(list))
		}
	}
	list, err = db.ListSealedNotUnder(ctx, "kek-c", 3)
	must(t, err, "ListSealedNotUnder kek-c")
	for _, s := range list {
		keys = append(keys, sealedKey(s))
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[ca/root/private-key signing_keys/k1/private-key signing_keys/k2/private-key]" {
		t.Fatalf("ListSealedNotUnder(kek-c) = %v", keys)
	}
	_, err = db.ListSealedNotUnder(ctx, "kek-c", 0)
	wantKind(t, err, errs.Invalid, "ListSealedNotUnder with limit 0")
}

// testSealedCAS: ReplaceSealed is a compare-and-swap on the blob.
func testSealedCAS(t *testing.T, db *store.DB) {
	_, k1, _ := sealedFixture(t, db)
	list, err := db.ListSealedNotUnder(ctx, "kek-b", 10)
	must(t, err, "ListSealedNotUnder")
	for _, s := range list {
		stale := s
		stale.Blob = []byte("not the stored blob")
		err := db.ReplaceSealed(ctx, stale, []byte("new"), "kek-b")
		wantKind(t, err, errs.Conflict, "ReplaceSealed with a stale blob of "+sealedKey(s))

		newBlob := []byte(sealedKey(s) + " blob b")
		must(t, db.ReplaceSealed(ctx, s, newBlob, "kek-b"), "ReplaceSealed "+sealedKey(s))
		// The same swap again: the blob is no longer s.Blob.
		wantKind(t, db.ReplaceSealed(ctx, s, []byte("again"), "kek-b"), errs.Conflict, "a repeated ReplaceSealed")
	}
	n, err := db.CountSealedNotUnder(ctx, "kek-b")
	must(t, err, "CountSealedNotUnder")
	if n != 0 {
		t.Fatalf("CountSealedNotUnder(kek-b) after rotation = %d, want 0", n)
	}

	// The new blobs are where the domains read them.
	ca, err := db.GetCA(ctx)
	must(t, err, "GetCA")
	if string(ca.SealedKey) != "ca/root/private-key blob b" || ca.KEKID != "kek-b" {
		t.Errorf("CA after ReplaceSealed = %q under %s", ca.SealedKey, ca.KEKID)
	}
	keys, err := db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	k1.SealedKey, k1.KEKID = []byte("signing_keys/k1/private-key blob b"), "kek-b"
	sameKey(t, keys[0], k1) // and its other columns are as they were

	err = db.ReplaceSealed(ctx, seal.Sealed{Table: "signing_keys", ID: "gone", Purpose: "private-key", Blob: []byte("x")}, []byte("y"), "kek-b")
	wantKind(t, err, errs.NotFound, "ReplaceSealed of a row that is gone")
	err = db.ReplaceSealed(ctx, seal.Sealed{Table: "nowhere", ID: "x", Purpose: "private-key", Blob: []byte("x")}, []byte("y"), "kek-b")
	wantKind(t, err, errs.Invalid, "ReplaceSealed in an unknown table")
}
