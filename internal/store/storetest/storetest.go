// Package storetest is the conformance suite of store.DB: every storage method the domains rely
// on, its error kinds and its behaviour under concurrency, run the same against every dialect.
// store's own tests run it against SQLite always and against PostgreSQL when
// LANYARD_TEST_POSTGRES_DSN is set.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/pki"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// Run runs the suite. open must return a new, empty, migrated database for each call, and close
// it when t ends (t.Cleanup). Subtests run in parallel, each on its own database.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Tenants", testTenants},
		{"DefaultTenant", testDefaultTenant},
		{"DefaultTenantRace", testDefaultTenantRace},
		{"ZeroTimes", testZeroTimes},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysRollback", testSigningKeysRollback},
		{"SigningKeysConcurrent", testSigningKeysConcurrent},
		{"Audit", testAudit},
		{"AuditRejectsBadEvents", testAuditRejectsBadEvents},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditQuery", testAuditQuery},
		{"AuditQueryFolded", testAuditQueryFolded},
		{"AuditCheckpointsAndPrune", testAuditCheckpointsAndPrune},
		{"CA", testCA},
		{"CARace", testCARace},
		{"Sealed", testSealed},
		{"SealedCAS", testSealedCAS},
		{"Lease", testLease},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"BeforeCommit", testBeforeCommit},
		{"RoleAssignments", testRoleAssignments},
		{"RoleAssignmentsCascade", testRoleAssignmentsCascade},
		{"RoleAssignmentsRollback", testRoleAssignmentsRollback},
		{"RoleAssignmentsConcurrent", testRoleAssignmentsConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Workers and rounds of the concurrency tests.
const (
	workers = 8
	rounds  = 25
)

var ctx = context.Background()

// t0 is a time with microseconds, in a zone other than UTC, to show that times come back exact
// and in UTC.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("X", 3600))

func wantKind(t *testing.T, err error, k errs.Kind, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, k)
	}
	if got := errs.KindOf(err); got != k {
		t.Fatalf("%s: error %q is %v, want %v", what, err, got, k)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameTime checks that got is want, to the microsecond, and in UTC (or zero).
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	want = want.Truncate(time.Microsecond)
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

// parallel runs fn(i) for i in [0, n) at once and returns the errors.
func parallel(n int, fn func(i int) error) []error {
	errList := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errList[i] = fn(i) })
	}
	wg.Wait()
	return errList
}

func sameTenant(t *testing.T, got, want tenant.Tenant) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Default != want.Default {
		t.Errorf("tenant = %+v, want %+v", got, want)
	}
	sameTime(t, "tenant "+want.ID+" Created", got.Created, want.Created)
}

func testTenants(t *testing.T, db *store.DB) {
	ts, err := db.ListTenants(ctx)
	must(t, err, "ListTenants on an empty store")
	if len(ts) != 0 {
		t.Fatalf("ListTenants on an empty store = %v", ts)
	}
	a := tenant.Tenant{ID: "0b9e7f4a-0000-4000-8000-00000000000a", Name: "A", Created: t0}
	b := tenant.Tenant{ID: "0b9e7f4a-0000-4000-8000-00000000000b", Name: "B", Created: t0.Add(-time.Hour)}
	must(t, db.CreateTenant(ctx, a), "CreateTenant a")
	must(t, db.CreateTenant(ctx, b), "CreateTenant b")

	got, err := db.GetTenant(ctx, a.ID)
	must(t, err, "GetTenant a")
	sameTenant(t, got, a)

	_, err = db.GetTenant(ctx, "0b9e7f4a-0000-4000-8000-0000000000ff")
	wantKind(t, err, errs.NotFound, "GetTenant of an unknown id")

	err = db.CreateTenant(ctx, tenant.Tenant{ID: a.ID, Name: "other", Created: t0})
	wantKind(t, err, errs.Conflict, "CreateTenant with an existing id")
	got, err = db.GetTenant(ctx, a.ID)
	must(t, err, "GetTenant a after the conflict")
	sameTenant(t, got, a)

	err = db.CreateTenant(ctx, tenant.Tenant{Name: "no id", Created: t0})
	wantKind(t, err, errs.Invalid, "CreateTenant without an id")

	ts, err = db.ListTenants(ctx)
	must(t, err, "ListTenants")
	if len(ts) != 2 {
		t.Fatalf("ListTenants = %+v, want b, a", ts)
	}
	sameTenant(t, ts[0], b) // oldest first
	sameTenant(t, ts[1], a)
}

func testDefaultTenant(t *testing.T, db *store.DB) {
	_, err := db.DefaultTenant(ctx)
	wantKind(t, err, errs.NotFound, "DefaultTenant before there is one")

	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: "plain", Name: "Plain", Created: t0}), "CreateTenant plain")
	_, err = db.DefaultTenant(ctx)
	wantKind(t, err, errs.NotFound, "DefaultTenant with only a non-default tenant")

	d := tenant.Tenant{ID: "d1", Name: "Default Directory", Default: true, Created: t0}
	must(t, db.CreateTenant(ctx, d), "CreateTenant d1")
	got, err := db.DefaultTenant(ctx)
	must(t, err, "DefaultTenant")
	sameTenant(t, got, d)

	err = db.CreateTenant(ctx, tenant.Tenant{ID: "d2", Name: "Second", Default: true, Created: t0})
	wantKind(t, err, errs.Conflict, "CreateTenant of a second default")
	_, err = db.GetTenant(ctx, "d2")
	wantKind(t, err, errs.NotFound, "GetTenant of the refused second default")

	err = db.CreateTenant(ctx, tenant.Tenant{ID: "d1", Name: "Same id", Created: t0})
	wantKind(t, err, errs.Conflict, "CreateTenant with the default's id")

	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: "plain2", Name: "Plain 2", Created: t0}), "a non-default tenant after the default")
	got, err = db.DefaultTenant(ctx)
	must(t, err, "DefaultTenant at the end")
	sameTenant(t, got, d)
}

// testDefaultTenantRace is several servers starting at once, each creating the default tenant.
func testDefaultTenantRace(t *testing.T, db *store.DB) {
	errList := parallel(workers, func(i int) error {
		return db.CreateTenant(ctx, tenant.Tenant{ID: fmt.Sprintf("d%d", i), Name: "Default Directory", Default: true, Created: t0})
	})
	won := 0
	for i, err := range errList {
		switch {
		case err == nil:
			won++
		case errs.Is(err, errs.Conflict):
		default:
			t.Errorf("worker %d: %v, want success or Conflict", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d default tenants created, want 1", won)
	}
	ts, err := db.ListTenants(ctx)
	must(t, err, "ListTenants")
	if len(ts) != 1 || !ts[0].Default {
		t.Fatalf("tenants = %+v, want one default", ts)
	}
}

func testZeroTimes(t *testing.T, db *store.DB) {
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: "z", Name: "Zero"}), "CreateTenant with a zero time")
	got, err := db.GetTenant(ctx, "z")
	must(t, err, "GetTenant z")
	sameTime(t, "zero Created", got.Created, time.Time{})

	// Before 1970, after 2100, and a nanosecond part that is dropped.
	for i, tm := range []time.Time{
		time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 999999000, time.FixedZone("Y", -5*3600)),
		t0.Add(789 * time.Nanosecond),
	} {
		id := fmt.Sprintf("t%d", i)
		must(t, db.CreateTenant(ctx, tenant.Tenant{ID: id, Name: id, Created: tm}), "CreateTenant "+id)
		got, err := db.GetTenant(ctx, id)
		must(t, err, "GetTenant "+id)
		sameTime(t, id+" Created", got.Created, tm)
	}

	must(t, db.CreateCA(ctx, pki.CARecord{CertDER: []byte("cert"), SealedKey: []byte("key"), KEKID: "k"}), "CreateCA with a zero time")
	ca, err := db.GetCA(ctx)
	must(t, err, "GetCA")
	sameTime(t, "CA Created", ca.Created, time.Time{})
	// Signing keys (zero retire and drop times) and audit events (zero Time) are in their tests.
}

// waitAll fails t with every error in errList.
func waitAll(t *testing.T, errList []error, what string) {
	t.Helper()
	for i, err := range errList {
		if err != nil {
			t.Errorf("%s, worker %d: %v", what, i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

var errInjected = errors.New("injected failure")
