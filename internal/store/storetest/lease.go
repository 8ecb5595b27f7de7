package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
)

func testLease(t *testing.T, db *store.DB) {
	const ttl = time.Minute
	try := func(holder string, at time.Duration, want bool) {
		t.Helper()
		got, err := db.TryLease(ctx, "rotation", holder, ttl, t0.Add(at))
		must(t, err, "TryLease")
		if got != want {
			t.Fatalf("TryLease(%s) at +%v = %v, want %v", holder, at, got, want)
		}
	}
	try("a", 0, true)                // free: a takes it until +60s
	try("b", 30*time.Second, false)  // a holds it
	try("a", 30*time.Second, true)   // a renews until +90s
	try("b", 60*time.Second, false)  // renewed: still a's
	try("b", 90*time.Second, true)   // expired at +90s: b takes it until +150s
	try("a", 91*time.Second, false)  // b's now
	try("b", 100*time.Second, true)  // b renews until +160s
	try("a", 159*time.Second, false) //
	must(t, db.ReleaseLease(ctx, "rotation", "a"), "ReleaseLease by a non-holder")
	try("a", 159*time.Second, false) // releasing what one does not hold changes nothing
	must(t, db.ReleaseLease(ctx, "rotation", "b"), "ReleaseLease by the holder")
	try("a", 159*time.Second, true) // free again at once
	must(t, db.ReleaseLease(ctx, "never-taken", "a"), "ReleaseLease of an unknown lease")

	// Leases are independent of each other.
	got, err := db.TryLease(ctx, "cleanup", "b", ttl, t0.Add(159*time.Second))
	must(t, err, "TryLease cleanup")
	if !got {
		t.Fatal("TryLease of another lease name failed")
	}

	_, err = db.TryLease(ctx, "rotation", "a", 0, t0)
	wantKind(t, err, errs.Invalid, "TryLease with ttl 0")
	_, err = db.TryLease(ctx, "", "a", ttl, t0)
	wantKind(t, err, errs.Invalid, "TryLease without a name")
	_, err = db.TryLease(ctx, "rotation", "", ttl, t0)
	wantKind(t, err, errs.Invalid, "TryLease without a holder")
}

// testLeaseConcurrent is every server trying to take the lease at the same moment: one gets it.
func testLeaseConcurrent(t *testing.T, db *store.DB) {
	for r := range 5 {
		now := t0.Add(time.Duration(r) * time.Hour) // each round, the last round's lease has expired
		won := make([]bool, workers)
		errList := parallel(workers, func(i int) error {
			var err error
			won[i], err = db.TryLease(ctx, "rotation", fmt.Sprintf("server-%d", i), time.Minute, now)
			return err
		})
		waitAll(t, errList, "TryLease")
		n := 0
		for _, w := range won {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d servers got the lease, want 1", r, n)
		}
	}
}
