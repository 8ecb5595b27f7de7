package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/console"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// RunConsole is the console's part of the suite: login links are single-use and expire, the
// sessions they open are found by their secret's hash, and expiry and sign-out remove them.
func RunConsole(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"LoginLinks", testConsoleLoginLinks},
		{"Sessions", testConsoleSessions},
		{"LinkUsedOnce", testConsoleLinkUsedOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

const consoleTenant = "7e000000-0000-4000-8000-0000000000c1"

func consoleFixture(t *testing.T, db *store.DB) {
	t.Helper()
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: consoleTenant, Name: "console", Created: t0}), "CreateTenant")
}

func consoleLink(hash string, expires time.Time) console.LoginLink {
	return console.LoginLink{Hash: hash, TenantID: consoleTenant, CreatedBy: "admin-socket:uid=0", Created: t0, Expires: expires}
}

func consoleSession(id, secretHash string) console.Session {
	return console.Session{ID: id, SecretHash: secretHash, PrincipalKind: console.PrincipalAdmin, Created: t0, Expires: t0.Add(8 * time.Hour)}
}

func testConsoleLoginLinks(t *testing.T, db *store.DB) {
	consoleFixture(t, db)
	must(t, db.CreateConsoleLoginLink(ctx, consoleLink("h1", t0.Add(5*time.Minute))), "CreateConsoleLoginLink")
	if err := db.CreateConsoleLoginLink(ctx, consoleLink("h1", t0.Add(5*time.Minute))); !errs.Is(err, errs.Conflict) {
		t.Errorf("a second link with the same hash: %v, want Conflict", err)
	}
	other := consoleLink("h2", t0.Add(5*time.Minute))
	other.TenantID = "7e000000-0000-4000-8000-0000000000ff"
	if err := db.CreateConsoleLoginLink(ctx, other); !errs.Is(err, errs.NotFound) {
		t.Errorf("a link for an unknown tenant: %v, want NotFound", err)
	}
	// Expired: refused, and no session is stored.
	must(t, db.CreateConsoleLoginLink(ctx, consoleLink("old", t0.Add(time.Minute))), "CreateConsoleLoginLink")
	if _, err := db.UseConsoleLoginLink(ctx, "old", t0.Add(time.Minute), consoleSession("00000000-0000-4000-8000-000000000001", "s-old")); !errs.Is(err, errs.Denied) {
		t.Errorf("an expired link: %v, want Denied", err)
	}
	if _, err := db.GetConsoleSession(ctx, "s-old"); !errs.Is(err, errs.NotFound) {
		t.Errorf("the session of a refused link: %v, want NotFound", err)
	}
	if _, err := db.UseConsoleLoginLink(ctx, "nope", t0, consoleSession("00000000-0000-4000-8000-000000000002", "s-nope")); !errs.Is(err, errs.Denied) {
		t.Errorf("an unknown link: %v, want Denied", err)
	}
	// Used: the session carries the link's tenant and creator; a second use is refused.
	s, err := db.UseConsoleLoginLink(ctx, "h1", t0.Add(time.Minute), consoleSession("00000000-0000-4000-8000-000000000003", "s1"))
	must(t, err, "UseConsoleLoginLink")
	if s.TenantID != consoleTenant || s.CreatedBy != "admin-socket:uid=0" {
		t.Errorf("session = %+v, want the link's tenant and creator", s)
	}
	if _, err := db.UseConsoleLoginLink(ctx, "h1", t0.Add(2*time.Minute), consoleSession("00000000-0000-4000-8000-000000000004", "s2")); !errs.Is(err, errs.Denied) {
		t.Errorf("a used link: %v, want Denied", err)
	}
}

func testConsoleSessions(t *testing.T, db *store.DB) {
	consoleFixture(t, db)
	must(t, db.CreateConsoleLoginLink(ctx, consoleLink("h1", t0.Add(5*time.Minute))), "CreateConsoleLoginLink")
	want := consoleSession("00000000-0000-4000-8000-000000000010", "secret-hash")
	_, err := db.UseConsoleLoginLink(ctx, "h1", t0, want)
	must(t, err, "UseConsoleLoginLink")
	got, err := db.GetConsoleSession(ctx, "secret-hash")
	must(t, err, "GetConsoleSession")
	if got.ID != want.ID || got.PrincipalKind != console.PrincipalAdmin || got.TenantID != consoleTenant ||
		!got.Created.Equal(t0.Truncate(time.Microsecond)) || !got.Expires.Equal(want.Expires.Truncate(time.Microsecond)) {
		t.Errorf("GetConsoleSession = %+v, want %+v", got, want)
	}
	if _, err := db.GetConsoleSession(ctx, "other"); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown session: %v, want NotFound", err)
	}
	// Expiry removes sessions and links past their time, and only those.
	n, err := db.DeleteExpiredConsole(ctx, t0.Add(time.Hour))
	must(t, err, "DeleteExpiredConsole")
	if n != 1 { // the used link (expired at t0+5m); the session lasts 8h
		t.Errorf("DeleteExpiredConsole removed %d, want 1", n)
	}
	if _, err := db.GetConsoleSession(ctx, "secret-hash"); err != nil {
		t.Errorf("a live session was removed: %v", err)
	}
	// Sign-out.
	must(t, db.DeleteConsoleSession(ctx, want.ID), "DeleteConsoleSession")
	must(t, db.DeleteConsoleSession(ctx, want.ID), "DeleteConsoleSession again")
	if _, err := db.GetConsoleSession(ctx, "secret-hash"); !errs.Is(err, errs.NotFound) {
		t.Errorf("after sign-out: %v, want NotFound", err)
	}
}

// testConsoleLinkUsedOnce uses one link from many goroutines: exactly one session is opened.
func testConsoleLinkUsedOnce(t *testing.T, db *store.DB) {
	consoleFixture(t, db)
	must(t, db.CreateConsoleLoginLink(ctx, consoleLink("race", t0.Add(5*time.Minute))), "CreateConsoleLoginLink")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, denied := 0, 0
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "00000000-0000-4000-8000-0000000001" + string(rune('a'+i)) + "0"
			_, err := db.UseConsoleLoginLink(ctx, "race", t0, consoleSession(id, "s-"+id))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errs.Is(err, errs.Denied):
				denied++
			default:
				t.Errorf("UseConsoleLoginLink: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || denied != workers-1 {
		t.Errorf("%d sessions opened, %d refused; want 1 and %d", ok, denied, workers-1)
	}
}
