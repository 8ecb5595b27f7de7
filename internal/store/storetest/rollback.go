package storetest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/pki"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
	"github.com/lanyardhq/lanyard/internal/token"
)

// testBeforeCommit fails every write at its last moment, through DB.BeforeCommit, and checks
// that nothing of it remains.
func testBeforeCommit(t *testing.T, db *store.DB) {
	injected := func(err error, what string) {
		t.Helper()
		if !errors.Is(err, errInjected) {
			t.Fatalf("%s with a failing commit = %v, want the injected error", what, err)
		}
	}

	db.BeforeCommit = func(string) error { return errInjected }
	injected(db.CreateCA(ctx, pki.CARecord{CertDER: []byte("x"), SealedKey: []byte("x"), KEKID: "x"}), "CreateCA")
	db.BeforeCommit = nil
	_, err := db.GetCA(ctx)
	wantKind(t, err, errs.NotFound, "GetCA after a rolled back CreateCA")

	ca, k1, _ := sealedFixture(t, db)
	_, err = db.AppendAudit(ctx, chain(audit.Event{Time: t0, Actor: "system", Action: "first", Result: "success"}))
	must(t, err, "AppendAudit")

	var (
		mu  sync.Mutex
		ops []string
	)
	db.BeforeCommit = func(op string) error {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op)
		return errInjected
	}
	injected(db.CreateTenant(ctx, tenant.Tenant{ID: "t", Name: "T", Default: true, Created: t0}), "CreateTenant")

	k3 := newKey("k3", t0.Add(time.Hour))
	injected(update(db, token.KeyChange{Insert: &k3, Retire: map[string]token.RetireTimes{
		"k1": {RetireAt: t0.Add(time.Hour), DropAt: t0.Add(2 * time.Hour)},
	}}), "UpdateSigningKeys")

	_, err = db.AppendAudit(ctx, chain(audit.Event{Time: t0, Actor: "system", Action: "second", Result: "success"}))
	injected(err, "AppendAudit")

	list, err := db.ListSealedNotUnder(ctx, "kek-z", 10)
	must(t, err, "ListSealedNotUnder")
	for _, s := range list {
		injected(db.ReplaceSealed(ctx, s, []byte("new blob"), "kek-z"), "ReplaceSealed")
	}

	_, err = db.TryLease(ctx, "rotation", "a", time.Minute, t0)
	injected(err, "TryLease")

	db.BeforeCommit = nil
	wantOps := []string{"CreateTenant", "UpdateSigningKeys", "AppendAudit", "ReplaceSealed", "ReplaceSealed", "ReplaceSealed", "TryLease"}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("BeforeCommit saw %v, want %v", ops, wantOps)
	}

	_, err = db.GetTenant(ctx, "t")
	wantKind(t, err, errs.NotFound, "GetTenant of the rolled back tenant")
	_, err = db.DefaultTenant(ctx)
	wantKind(t, err, errs.NotFound, "DefaultTenant after the rollback")

	keys, err := db.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	if len(keys) != 2 {
		t.Fatalf("%d keys after a rolled back insert, want 2", len(keys))
	}
	sameKey(t, keys[0], k1) // not retired

	evs := listAll(t, db)
	checkChain(t, evs, 1)
	out, err := db.AppendAudit(ctx, chain(audit.Event{Time: t0, Actor: "system", Action: "second", Result: "success"}))
	must(t, err, "AppendAudit after the rollback")
	if out.Seq != 2 || out.PrevHash != evs[0].Hash {
		t.Fatalf("event after the rollback = %+v, want seq 2 linking to event 1", out)
	}

	n, err := db.CountSealedNotUnder(ctx, "kek-z")
	must(t, err, "CountSealedNotUnder")
	if n != 3 {
		t.Fatalf("CountSealedNotUnder(kek-z) after rolled back replaces = %d, want 3", n)
	}
	got, err := db.GetCA(ctx)
	must(t, err, "GetCA")
	if !bytes.Equal(got.SealedKey, ca.SealedKey) || got.KEKID != ca.KEKID {
		t.Fatalf("CA after a rolled back replace = %q under %s", got.SealedKey, got.KEKID)
	}

	// The rolled back lease was never taken: someone else gets it.
	ok, err := db.TryLease(ctx, "rotation", "b", time.Minute, t0)
	must(t, err, "TryLease")
	if !ok {
		t.Fatal("a lease taken in a rolled back transaction is held")
	}
}
