package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

const (
	rbacTenant = "7a000000-0000-4000-8000-000000000001"
	rbacOther  = "7a000000-0000-4000-8000-000000000002"
	rbacSub    = "/subscriptions/5b000000-0000-4000-8000-000000000001"
)

// rbacFixture makes two tenants and n managed-identity service principals in the first,
// returning their ids.
func rbacFixture(t *testing.T, db *store.DB, n int) []string {
	t.Helper()
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: rbacTenant, Name: "R", Created: t0}), "CreateTenant")
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: rbacOther, Name: "O", Created: t0}), "CreateTenant other")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("9c000000-0000-4000-8000-%012d", i)
		_, err := db.CreateServicePrincipal(ctx, directory.ServicePrincipal{
			TenantID: rbacTenant, ID: ids[i], AppID: fmt.Sprintf("9d000000-0000-4000-8000-%012d", i),
			Type: directory.TypeManagedIdentity, DisplayName: "mi", Created: t0,
		}, nil)
		must(t, err, "CreateServicePrincipal")
	}
	return ids
}

func assignment(id, scope, role, principal string) rbac.Assignment {
	return rbac.Assignment{
		TenantID: rbacTenant, ID: id, Scope: scope, RoleDefinitionID: role, PrincipalID: principal,
		PrincipalType: rbac.PrincipalTypeServicePrincipal, Description: "d " + id, Created: t0, CreatedBy: "admin",
	}
}

func sameAssignment(t *testing.T, got, want rbac.Assignment) {
	t.Helper()
	created := got.Created
	got.Created = want.Created
	if got != want {
		t.Errorf("assignment = %+v, want %+v", got, want)
	}
	sameTime(t, "assignment "+want.ID+" Created", created, want.Created)
}

func ids(as []rbac.Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func testRoleAssignments(t *testing.T, db *store.DB) {
	p := rbacFixture(t, db, 2)
	rg := rbacSub + "/resourceGroups/GroupA"
	site := rg + "/providers/Microsoft.Web/sites/App"
	as := []rbac.Assignment{
		assignment("a1", rbacSub, rbac.Reader, p[0]),
		assignment("a2", rg, rbac.Contributor, p[0]),
		assignment("a3", site, rbac.Owner, p[1]),
		assignment("a4", rbacSub+"/resourceGroups/GroupAB", rbac.Reader, p[1]),
	}
	for _, a := range as {
		must(t, db.CreateRoleAssignment(ctx, a), "CreateRoleAssignment "+a.ID)
	}
	got, err := db.GetRoleAssignment(ctx, rbacTenant, "a3")
	must(t, err, "GetRoleAssignment")
	sameAssignment(t, got, as[2])
	_, err = db.GetRoleAssignment(ctx, rbacOther, "a3")
	wantKind(t, err, errs.NotFound, "GetRoleAssignment in another tenant")

	dup := assignment("a1", rbacSub, rbac.Owner, p[1])
	wantKind(t, db.CreateRoleAssignment(ctx, dup), errs.Conflict, "CreateRoleAssignment with a taken id")
	triple := assignment("a5", "/SUBSCRIPTIONS/5B000000-0000-4000-8000-000000000001/resourcegroups/groupa", rbac.Contributor, p[0])
	wantKind(t, db.CreateRoleAssignment(ctx, triple), errs.Conflict, "CreateRoleAssignment of a held role at a scope in other case")
	stranger := assignment("a6", rbacSub, rbac.Reader, "9c000000-0000-4000-8000-0000000000ff")
	wantKind(t, db.CreateRoleAssignment(ctx, stranger), errs.NotFound, "CreateRoleAssignment for an unknown principal")
	wantKind(t, db.CreateRoleAssignment(ctx, rbac.Assignment{TenantID: rbacTenant, ID: "x"}), errs.Invalid, "CreateRoleAssignment without a scope")
	got, err = db.GetRoleAssignment(ctx, rbacTenant, "a1")
	must(t, err, "GetRoleAssignment a1 after the conflict")
	sameAssignment(t, got, as[0])

	gen, grants, err := db.PrincipalGrants(ctx, rbacTenant, p[0])
	must(t, err, "PrincipalGrants")
	if now, err := db.RBACGeneration(ctx, rbacTenant); err != nil || now != gen || gen == 0 {
		t.Errorf("RBACGeneration = %d, %v; PrincipalGrants read generation %d", now, err, gen)
	}
	slices.SortFunc(grants, func(a, b rbac.Grant) int { return strings.Compare(a.ScopeKey, b.ScopeKey) })
	want := []rbac.Grant{
		{ScopeKey: "/subscriptions/5b000000-0000-4000-8000-000000000001", RoleDefinitionID: rbac.Reader},
		{ScopeKey: "/subscriptions/5b000000-0000-4000-8000-000000000001/resourcegroups/groupa", RoleDefinitionID: rbac.Contributor},
	}
	if !slices.Equal(grants, want) {
		t.Errorf("PrincipalGrants = %+v, want %+v", grants, want)
	}
	otherGen, grants, err := db.PrincipalGrants(ctx, rbacOther, p[0])
	must(t, err, "PrincipalGrants in another tenant")
	if len(grants) != 0 || otherGen != 0 {
		t.Errorf("PrincipalGrants in another tenant = generation %d, %+v; want 0 and none", otherGen, grants)
	}

	lower := strings.ToLower
	lists := []struct {
		name string
		q    rbac.AssignmentQuery
		want []string
	}{
		{"at the subscription", rbac.AssignmentQuery{AtScopes: []string{lower(rbacSub)}}, []string{"a1"}},
		{"at and above the group", rbac.AssignmentQuery{AtScopes: []string{lower(rg), lower(rbacSub)}}, []string{"a1", "a2"}},
		{"at, above and below the group", rbac.AssignmentQuery{AtScopes: []string{lower(rg), lower(rbacSub)}, Below: lower(rg) + "/"}, []string{"a1", "a2", "a3"}},
		{"below the subscription", rbac.AssignmentQuery{Below: lower(rbacSub) + "/"}, []string{"a2", "a3", "a4"}},
		{"everything", rbac.AssignmentQuery{Below: "/"}, []string{"a1", "a2", "a3", "a4"}},
		{"one principal", rbac.AssignmentQuery{AtScopes: []string{lower(rbacSub)}, Below: lower(rbacSub) + "/", PrincipalID: p[1]}, []string{"a3", "a4"}},
		{"nothing asked", rbac.AssignmentQuery{}, nil},
		{"a first page", rbac.AssignmentQuery{Below: "/", Limit: 2}, []string{"a1", "a2"}},
		{"the page after a2", rbac.AssignmentQuery{Below: "/", Limit: 2, After: &rbac.AssignmentCursor{ScopeKey: lower(rg), ID: "a2"}}, []string{"a3", "a4"}},
		{"after the last", rbac.AssignmentQuery{Below: "/", After: &rbac.AssignmentCursor{ScopeKey: "~", ID: ""}}, nil},
	}
	for _, l := range lists {
		got, err := db.ListRoleAssignments(ctx, rbacTenant, l.q)
		must(t, err, "ListRoleAssignments "+l.name)
		if !slices.Equal(ids(got), l.want) {
			t.Errorf("ListRoleAssignments %s = %v, want %v", l.name, ids(got), l.want)
		}
	}
	other, err := db.ListRoleAssignments(ctx, rbacOther, rbac.AssignmentQuery{Below: "/"})
	must(t, err, "ListRoleAssignments in another tenant")
	if len(other) != 0 {
		t.Errorf("another tenant lists %v", ids(other))
	}

	deleted, err := db.DeleteRoleAssignment(ctx, rbacTenant, "a2")
	must(t, err, "DeleteRoleAssignment")
	sameAssignment(t, deleted, as[1])
	if now, err := db.RBACGeneration(ctx, rbacTenant); err != nil || now != gen+1 {
		t.Errorf("RBACGeneration after a delete = %d, %v; want %d", now, err, gen+1)
	}
	_, err = db.DeleteRoleAssignment(ctx, rbacTenant, "a2")
	wantKind(t, err, errs.NotFound, "DeleteRoleAssignment again")
	_, err = db.DeleteRoleAssignment(ctx, rbacOther, "a1")
	wantKind(t, err, errs.NotFound, "DeleteRoleAssignment from another tenant")
	_, err = db.GetRoleAssignment(ctx, rbacTenant, "a2")
	wantKind(t, err, errs.NotFound, "GetRoleAssignment of the deleted")
	// The triple is free again.
	must(t, db.CreateRoleAssignment(ctx, triple), "CreateRoleAssignment after the delete")
}

// testRoleAssignmentsCascade: deleting a service principal deletes its role assignments in the
// same transaction, and a rolled-back delete keeps them.
func testRoleAssignmentsCascade(t *testing.T, db *store.DB) {
	p := rbacFixture(t, db, 2)
	must(t, db.CreateRoleAssignment(ctx, assignment("c1", rbacSub, rbac.Owner, p[0])), "CreateRoleAssignment c1")
	must(t, db.CreateRoleAssignment(ctx, assignment("c2", rbacSub+"/resourceGroups/g", rbac.Reader, p[0])), "CreateRoleAssignment c2")
	must(t, db.CreateRoleAssignment(ctx, assignment("c3", rbacSub, rbac.Reader, p[1])), "CreateRoleAssignment c3")

	db.BeforeCommit = func(string) error { return errInjected }
	if err := db.DeleteServicePrincipal(ctx, rbacTenant, p[0]); !errors.Is(err, errInjected) {
		t.Fatalf("DeleteServicePrincipal with a failing commit = %v", err)
	}
	db.BeforeCommit = nil
	genBefore, err := db.RBACGeneration(ctx, rbacTenant)
	must(t, err, "RBACGeneration")
	gen, grants, err := db.PrincipalGrants(ctx, rbacTenant, p[0])
	must(t, err, "PrincipalGrants after the rolled back delete")
	if len(grants) != 2 || gen != genBefore {
		t.Fatalf("after a rolled back principal delete: %d grants at generation %d, want 2 at %d", len(grants), gen, genBefore)
	}

	must(t, db.DeleteServicePrincipal(ctx, rbacTenant, p[0]), "DeleteServicePrincipal")
	gen, grants, err = db.PrincipalGrants(ctx, rbacTenant, p[0])
	must(t, err, "PrincipalGrants after the delete")
	if len(grants) != 0 {
		t.Errorf("the deleted principal keeps %d grants", len(grants))
	}
	// The cascade deleted two assignments: each raised the generation.
	if gen != genBefore+2 {
		t.Errorf("RBAC generation after the cascade = %d, want %d", gen, genBefore+2)
	}
	_, err = db.GetRoleAssignment(ctx, rbacTenant, "c2")
	wantKind(t, err, errs.NotFound, "GetRoleAssignment of the deleted principal's")
	_, err = db.GetRoleAssignment(ctx, rbacTenant, "c3")
	must(t, err, "GetRoleAssignment of another principal's")
}

// testRoleAssignmentsRollback: a create or delete failing at commit leaves nothing behind.
func testRoleAssignmentsRollback(t *testing.T, db *store.DB) {
	p := rbacFixture(t, db, 1)
	must(t, db.CreateRoleAssignment(ctx, assignment("k1", rbacSub, rbac.Owner, p[0])), "CreateRoleAssignment k1")
	gen, err := db.RBACGeneration(ctx, rbacTenant)
	must(t, err, "RBACGeneration")
	var ops []string
	db.BeforeCommit = func(op string) error { ops = append(ops, op); return errInjected }
	if err := db.CreateRoleAssignment(ctx, assignment("k2", rbacSub, rbac.Reader, p[0])); !errors.Is(err, errInjected) {
		t.Fatalf("CreateRoleAssignment with a failing commit = %v", err)
	}
	if _, err := db.DeleteRoleAssignment(ctx, rbacTenant, "k1"); !errors.Is(err, errInjected) {
		t.Fatalf("DeleteRoleAssignment with a failing commit = %v", err)
	}
	db.BeforeCommit = nil
	if want := []string{"CreateRoleAssignment", "DeleteRoleAssignment"}; !slices.Equal(ops, want) {
		t.Errorf("BeforeCommit saw %v, want %v", ops, want)
	}
	_, err = db.GetRoleAssignment(ctx, rbacTenant, "k2")
	wantKind(t, err, errs.NotFound, "GetRoleAssignment of the rolled back create")
	_, err = db.GetRoleAssignment(ctx, rbacTenant, "k1")
	must(t, err, "GetRoleAssignment of the rolled back delete")
	if now, err := db.RBACGeneration(ctx, rbacTenant); err != nil || now != gen {
		t.Errorf("RBACGeneration after rolled back changes = %d, %v; want %d as before", now, err, gen)
	}
}

// testRoleAssignmentsConcurrent: workers creating the same grant under different names; exactly
// one wins.
func testRoleAssignmentsConcurrent(t *testing.T, db *store.DB) {
	p := rbacFixture(t, db, 1)
	gen, err := db.RBACGeneration(ctx, rbacTenant)
	must(t, err, "RBACGeneration")
	errList := parallel(workers, func(i int) error {
		return db.CreateRoleAssignment(ctx, assignment(fmt.Sprintf("w%d", i), rbacSub, rbac.Owner, p[0]))
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
		t.Errorf("%d workers created the same grant, want 1", won)
	}
	// Concurrent changes each raise the generation once: the refused ones not at all.
	if now, err := db.RBACGeneration(ctx, rbacTenant); err != nil || now != gen+1 {
		t.Errorf("RBACGeneration after one of %d creates won = %d, %v; want %d", workers, now, err, gen+1)
	}
	for i, err := range parallel(workers, func(i int) error {
		return db.CreateRoleAssignment(ctx, assignment(fmt.Sprintf("d%d", i), fmt.Sprintf("%s/resourceGroups/d%d", rbacSub, i), rbac.Reader, p[0]))
	}) {
		if err != nil {
			t.Errorf("worker %d creating its own grant: %v", i, err)
		}
	}
	if now, err := db.RBACGeneration(ctx, rbacTenant); err != nil || now != gen+1+workers {
		t.Errorf("RBACGeneration after %d concurrent creates = %d, %v; want %d", workers, now, err, gen+1+workers)
	}
}
