package rbac_test

import (
	"sync"
	"testing"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/store"
)

// TestAllowedNeverStale: Allowed keeps grants it has read, but every change to role assignments
// — made through another store handle, as another server would make it — is seen by the very
// next question: a grant, a revocation, another principal's change, the deletion of the
// principal.
func TestAllowedNeverStale(t *testing.T) {
	e := newEnv(t)
	// The other server: its own connections to the same database.
	other, err := store.Open(ctx, "sqlite:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p, q := e.principal(t, tenantID), e.principal(t, tenantID)
	scope := arm.MustParse(vaultInA)
	const read = "Microsoft.KeyVault/vaults/read"
	ask := func(step string, want bool) {
		t.Helper()
		for range 2 { // the second answer comes from what the first one kept
			got, err := e.svc.Allowed(ctx, tenantID, p, read, scope, false)
			if err != nil || got != want {
				t.Fatalf("%s: Allowed = %v, %v; want %v", step, got, err, want)
			}
		}
	}
	grant := func(principal, role, scope, id string) {
		t.Helper()
		err := other.CreateRoleAssignment(ctx, rbac.Assignment{TenantID: tenantID, ID: id, Scope: scope,
			RoleDefinitionID: role, PrincipalID: principal, PrincipalType: rbac.PrincipalTypeServicePrincipal,
			Created: t0, CreatedBy: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	revoke := func(id string) {
		t.Helper()
		if _, err := other.DeleteRoleAssignment(ctx, tenantID, id); err != nil {
			t.Fatal(err)
		}
	}

	ask("before any grant", false)
	grant(p, rbac.Reader, groupA, "66666666-0000-4000-8000-000000000001")
	ask("after Reader on the group", true)
	grant(q, rbac.Owner, sub, "66666666-0000-4000-8000-000000000002")
	ask("after another principal's grant", true)
	revoke("66666666-0000-4000-8000-000000000001")
	ask("after the revocation", false)
	grant(p, rbac.Reader, sub, "66666666-0000-4000-8000-000000000003")
	ask("after Reader on the subscription", true)
	if err := other.DeleteServicePrincipal(ctx, tenantID, p); err != nil {
		t.Fatal(err)
	}
	ask("after the principal's deletion", false)
	// The other tenant's decisions are its own.
	if ok, err := e.svc.Allowed(ctx, otherTenant, q, read, scope, false); ok || err != nil {
		t.Errorf("q in the other tenant: Allowed = %v, %v; want false", ok, err)
	}
}

// TestAllowedConcurrent: questions asked while assignments change never fail, and once a change
// has committed every later question sees it (run with -race).
func TestAllowedConcurrent(t *testing.T) {
	e := newEnv(t)
	ps := make([]string, 8)
	for i := range ps {
		ps[i] = e.principal(t, tenantID)
	}
	scope := arm.MustParse(vaultInA)
	const read = "Microsoft.KeyVault/vaults/read"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }() // before the store closes, also after a Fatal
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.svc.Allowed(ctx, tenantID, ps[(i+n)%len(ps)], read, scope, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for round := range 20 {
		p := ps[round%len(ps)]
		id := e.assign(t, p, rbac.Reader, groupA)
		if ok, err := e.svc.Allowed(ctx, tenantID, p, read, scope, false); !ok || err != nil {
			t.Fatalf("round %d: after the grant Allowed = %v, %v", round, ok, err)
		}
		if _, err := e.db.DeleteRoleAssignment(ctx, tenantID, id); err != nil {
			t.Fatal(err)
		}
		if ok, err := e.svc.Allowed(ctx, tenantID, p, read, scope, false); ok || err != nil {
			t.Fatalf("round %d: after the revocation Allowed = %v, %v", round, ok, err)
		}
	}
}
