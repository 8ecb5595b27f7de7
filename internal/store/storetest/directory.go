package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// RunDirectory runs the directory's part of the suite (directory.Store): applications and their
// service principals kept in step, identifier URIs unique per tenant, keyset pages, cascading
// deletes, tenant scoping, rollback and races. open is as for Run.
func RunDirectory(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Applications", testDirectoryApplications},
		{"Pages", testDirectoryPages},
		{"ByName", testDirectoryByName},
		{"ServicePrincipals", testDirectoryServicePrincipals},
		{"Assignments", testDirectoryAssignments},
		{"TokenFactsSnapshot", testTokenFactsSnapshot},
		{"Groups", testDirectoryGroups},
		{"Roles", testDirectoryRoles},
		{"DeleteApplication", testDirectoryDeleteApplication},
		{"Race", testDirectoryRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

const (
	dirTenant      = "7d1f0c2a-0000-4000-8000-0000000000a1"
	dirOtherTenant = "7d1f0c2a-0000-4000-8000-0000000000b2"
)

// dirGUID returns a distinct GUID for n.
func dirGUID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func dirFixture(t *testing.T, db *store.DB) {
	t.Helper()
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: dirTenant, Name: "D", Created: t0}), "CreateTenant")
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: dirOtherTenant, Name: "O", Created: t0}), "CreateTenant other")
}

var dirDoAll = directory.AppRole{ID: dirGUID(900), Value: "DoAll", DisplayName: "Do all", Description: "everything",
	AllowedMemberTypes: []string{"Application"}, IsEnabled: true, Origin: "Application"}

func dirApp(n int, uris ...string) directory.Application {
	return directory.Application{
		TenantID: dirTenant, ID: dirGUID(n), AppID: dirGUID(n + 1000), DisplayName: fmt.Sprintf("app %d", n),
		IdentifierURIs: uris, AppRoles: []directory.AppRole{dirDoAll}, SignInAudience: "AzureADMyOrg", Created: t0,
	}
}

// dirAppSP is the service principal of app, as the directory derives it.
func dirAppSP(app directory.Application, id int) directory.ServicePrincipal {
	sp := directory.ServicePrincipal{
		TenantID: app.TenantID, ID: dirGUID(id), AppID: app.AppID, ApplicationID: app.ID, Type: directory.TypeApplication,
		AlternativeNames: []string{}, AccountEnabled: true, AppOwnerOrganizationID: app.TenantID, Created: t0,
	}
	dirInherit(app, &sp)
	return sp
}

func dirInherit(app directory.Application, sp *directory.ServicePrincipal) {
	sp.DisplayName = app.DisplayName
	sp.AppRoles = slices.Clone(app.AppRoles)
	sp.ServicePrincipalNames = append(slices.Clone(app.IdentifierURIs), app.AppID)
}

func dirMI(n int) directory.ServicePrincipal {
	return directory.ServicePrincipal{
		TenantID: dirTenant, ID: dirGUID(n), AppID: dirGUID(n + 1000), Type: directory.TypeManagedIdentity, DisplayName: fmt.Sprintf("mi %d", n),
		ServicePrincipalNames: []string{dirGUID(n + 1000)}, AlternativeNames: []string{"isExplicit=True", "/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"},
		AppRoles: []directory.AppRole{}, AccountEnabled: true, Created: t0,
	}
}

func sameDirApp(t *testing.T, got, want directory.Application) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.AppID != want.AppID || got.DisplayName != want.DisplayName ||
		!slices.Equal(got.IdentifierURIs, want.IdentifierURIs) || !slices.EqualFunc(got.AppRoles, want.AppRoles, sameDirRole) ||
		got.SignInAudience != want.SignInAudience || got.Builtin != want.Builtin {
		t.Errorf("application = %+v, want %+v", got, want)
	}
	sameTime(t, "application Created", got.Created, want.Created)
}

func sameDirRole(a, b directory.AppRole) bool {
	return a.ID == b.ID && a.Value == b.Value && a.DisplayName == b.DisplayName && a.Description == b.Description &&
		slices.Equal(a.AllowedMemberTypes, b.AllowedMemberTypes) && a.IsEnabled == b.IsEnabled && a.Origin == b.Origin
}

func sameDirSP(t *testing.T, got, want directory.ServicePrincipal) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.AppID != want.AppID || got.ApplicationID != want.ApplicationID ||
		got.Type != want.Type || got.DisplayName != want.DisplayName || !slices.Equal(got.ServicePrincipalNames, want.ServicePrincipalNames) ||
		!slices.Equal(got.AlternativeNames, want.AlternativeNames) || !slices.EqualFunc(got.AppRoles, want.AppRoles, sameDirRole) ||
		got.AccountEnabled != want.AccountEnabled || got.AppRoleAssignmentRequired != want.AppRoleAssignmentRequired ||
		got.AppOwnerOrganizationID != want.AppOwnerOrganizationID || got.Builtin != want.Builtin {
		t.Errorf("service principal = %+v, want %+v", got, want)
	}
	sameTime(t, "service principal Created", got.Created, want.Created)
}

func testDirectoryApplications(t *testing.T, db *store.DB) {
	dirFixture(t, db)
	app := dirApp(1, "api://one", "https://one.example/")
	sp := dirAppSP(app, 2)
	must(t, db.CreateApplication(ctx, app, &sp), "CreateApplication")

	got, err := db.GetApplication(ctx, dirTenant, directory.Key{ID: app.ID})
	must(t, err, "GetApplication by id")
	sameDirApp(t, got, app)
	got, err = db.GetApplication(ctx, dirTenant, directory.Key{AppID: app.AppID})
	must(t, err, "GetApplication by appId")
	sameDirApp(t, got, app)
	_, err = db.GetApplication(ctx, dirOtherTenant, directory.Key{ID: app.ID})
	wantKind(t, err, errs.NotFound, "GetApplication from another tenant")

	// A service principal is found by id, appId and any identifier URI, regardless of case and
	// trailing slashes; never from another tenant.
	for _, key := range []directory.Key{{ID: sp.ID}, {AppID: sp.AppID}, {Name: "api://one"}, {Name: "API://One/"}, {Name: "https://one.example"}} {
		gotSP, err := db.GetServicePrincipal(ctx, dirTenant, key)
		must(t, err, fmt.Sprintf("GetServicePrincipal %+v", key))
		sameDirSP(t, gotSP, sp)
		_, err = db.GetServicePrincipal(ctx, dirOtherTenant, key)
		wantKind(t, err, errs.NotFound, fmt.Sprintf("GetServicePrincipal %+v from another tenant", key))
	}
	_, err = db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "api://none"})
	wantKind(t, err, errs.NotFound, "GetServicePrincipal of an unknown name")

	// Identifier URIs are unique in a tenant: a clash leaves nothing behind.
	clash := dirApp(3, "api://new", "https://ONE.example")
	wantKind(t, db.CreateApplication(ctx, clash, nil), errs.Conflict, "CreateApplication with a taken identifier URI")
	_, err = db.GetApplication(ctx, dirTenant, directory.Key{ID: clash.ID})
	wantKind(t, err, errs.NotFound, "GetApplication of the refused application")
	_, err = db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "api://new"})
	wantKind(t, err, errs.NotFound, "identifier URI of the refused application")
	// ... but another tenant may use them.
	elsewhere := dirApp(4, "api://one")
	elsewhere.TenantID = dirOtherTenant
	must(t, db.CreateApplication(ctx, elsewhere, nil), "CreateApplication in another tenant with the same URI")
	wantKind(t, db.CreateApplication(ctx, dirApp(1), nil), errs.Conflict, "CreateApplication with an existing id")

	// Updating the application updates its service principal in the same transaction.
	upd, err := db.UpdateApplication(ctx, dirTenant, app.ID, func(a *directory.Application, s *directory.ServicePrincipal) error {
		if s == nil || s.ID != sp.ID {
			return fmt.Errorf("update got service principal %+v", s)
		}
		a.DisplayName = "renamed"
		a.IdentifierURIs = []string{"api://two"}
		a.AppRoles[0].IsEnabled = false
		dirInherit(*a, s)
		a.AppID = "changed" // ignored: identity fields are not the update's
		return nil
	})
	must(t, err, "UpdateApplication")
	want := app
	want.DisplayName, want.IdentifierURIs = "renamed", []string{"api://two"}
	want.AppRoles = []directory.AppRole{dirDoAll}
	want.AppRoles[0].IsEnabled = false
	sameDirApp(t, upd, want)
	got, err = db.GetApplication(ctx, dirTenant, directory.Key{ID: app.ID})
	must(t, err, "GetApplication after the update")
	sameDirApp(t, got, want)
	wantSP := dirAppSP(want, 2)
	gotSP, err := db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "api://two"})
	must(t, err, "GetServicePrincipal by the new URI")
	sameDirSP(t, gotSP, wantSP)
	_, err = db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "api://one"})
	wantKind(t, err, errs.NotFound, "GetServicePrincipal by a removed URI")

	// A failing update changes nothing; a clashing one neither.
	errNo := errors.New("no")
	_, err = db.UpdateApplication(ctx, dirTenant, app.ID, func(a *directory.Application, _ *directory.ServicePrincipal) error {
		a.DisplayName = "never"
		return errNo
	})
	if !errors.Is(err, errNo) {
		t.Fatalf("UpdateApplication with a failing update = %v", err)
	}
	must(t, db.CreateApplication(ctx, dirApp(5, "api://five"), nil), "CreateApplication five")
	_, err = db.UpdateApplication(ctx, dirTenant, app.ID, func(a *directory.Application, _ *directory.ServicePrincipal) error {
		a.DisplayName = "never"
		a.IdentifierURIs = []string{"api://two", "api://five/"}
		return nil
	})
	wantKind(t, err, errs.Conflict, "UpdateApplication to a taken URI")
	got, err = db.GetApplication(ctx, dirTenant, directory.Key{ID: app.ID})
	must(t, err, "GetApplication after the refused updates")
	sameDirApp(t, got, want)
	_, err = db.UpdateApplication(ctx, dirTenant, dirGUID(99), func(*directory.Application, *directory.ServicePrincipal) error { return nil })
	wantKind(t, err, errs.NotFound, "UpdateApplication of an unknown id")

	// Built-in applications share a URI without a conflict; the first keeps it.
	b1, b2 := dirApp(6, "https://cp.example"), dirApp(7, "https://cp.example/", "https://mgmt.example")
	b1.Builtin, b2.Builtin = true, true
	must(t, db.CreateApplication(ctx, b1, nil), "CreateApplication built-in 1")
	must(t, db.CreateApplication(ctx, b2, nil), "CreateApplication built-in 2 sharing a URI")
	b1sp := dirAppSP(b1, 8)
	b1sp.Builtin = true
	_, err = db.CreateServicePrincipal(ctx, b1sp, dirInherit)
	must(t, err, "CreateServicePrincipal built-in 1")
	gotSP, err = db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "https://cp.example"})
	must(t, err, "GetServicePrincipal of the shared URI")
	if gotSP.ID != b1sp.ID {
		t.Errorf("shared URI resolves to %s, want the first built-in %s", gotSP.ID, b1sp.ID)
	}
	wantKind(t, db.CreateApplication(ctx, dirApp(9, "https://cp.example"), nil), errs.Conflict, "CreateApplication with a built-in's URI")
}

func testDirectoryPages(t *testing.T, db *store.DB) {
	dirFixture(t, db)
	const n = 23
	for i := range n {
		app := dirApp(100 + i)
		sp := dirAppSP(app, 200+i)
		must(t, db.CreateApplication(ctx, app, &sp), "CreateApplication")
		must(t, db.CreateGroup(ctx, directory.Group{TenantID: dirTenant, ID: dirGUID(300 + i), DisplayName: "g", MailNickname: "g", GroupTypes: []string{}, Created: t0}), "CreateGroup")
	}
	elsewhere := dirApp(50)
	elsewhere.TenantID = dirOtherTenant
	must(t, db.CreateApplication(ctx, elsewhere, nil), "CreateApplication in another tenant")

	pages := func(what string, list func(after string) ([]string, error)) []string {
		var all []string
		after := ""
		for {
			ids, err := list(after)
			must(t, err, what)
			all = append(all, ids...)
			if len(ids) < 5 {
				return all
			}
			after = ids[len(ids)-1]
		}
	}
	idRange := func(from, count int) []string {
		var out []string
		for i := range count {
			out = append(out, dirGUID(from+i))
		}
		return out
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	check("applications", pages("ListApplications", func(after string) ([]string, error) {
		as, err := db.ListApplications(ctx, dirTenant, after, 5)
		return dirIDs(as, func(a directory.Application) string { return a.ID }), err
	}), idRange(100, n))
	check("service principals", pages("ListServicePrincipals", func(after string) ([]string, error) {
		ss, err := db.ListServicePrincipals(ctx, dirTenant, after, 5)
		return dirIDs(ss, func(s directory.ServicePrincipal) string { return s.ID }), err
	}), idRange(200, n))
	check("groups", pages("ListGroups", func(after string) ([]string, error) {
		gs, err := db.ListGroups(ctx, dirTenant, after, 5)
		return dirIDs(gs, func(g directory.Group) string { return g.ID }), err
	}), idRange(300, n))
	_, err := db.ListServicePrincipals(ctx, dirTenant, "", 0)
	wantKind(t, err, errs.Invalid, "ListServicePrincipals with limit 0")
}

func dirIDs[T any](v []T, f func(T) string) []string {
	var out []string
	for _, x := range v {
		out = append(out, f(x))
	}
	return out
}

func testDirectoryServicePrincipals(t *testing.T, db *store.DB) {
	dirFixture(t, db)
	mi := dirMI(1)
	got, err := db.CreateServicePrincipal(ctx, mi, nil)
	must(t, err, "CreateServicePrincipal of a managed identity")
	sameDirSP(t, got, mi)
	gotSP, err := db.GetServicePrincipal(ctx, dirTenant, directory.Key{AppID: mi.AppID})
	must(t, err, "GetServicePrincipal by client id")
	sameDirSP(t, gotSP, mi)
	dup := dirMI(2)
	dup.AppID = mi.AppID
	_, err = db.CreateServicePrincipal(ctx, dup, nil)
	wantKind(t, err, errs.Conflict, "CreateServicePrincipal with a taken appId")

	// An application's service principal inherits from it in the creating transaction.
	app := dirApp(10, "api://ten")
	must(t, db.CreateApplication(ctx, app, nil), "CreateApplication")
	stale := directory.ServicePrincipal{TenantID: dirTenant, ID: dirGUID(11), AppID: app.AppID, ApplicationID: app.ID,
		Type: directory.TypeApplication, DisplayName: "stale", AccountEnabled: true, Created: t0}
	got, err = db.CreateServicePrincipal(ctx, stale, dirInherit)
	must(t, err, "CreateServicePrincipal of an application")
	want := dirAppSP(app, 11)
	want.AppOwnerOrganizationID = ""
	sameDirSP(t, got, want)
	gotSP, err = db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "api://ten"})
	must(t, err, "GetServicePrincipal by URI")
	sameDirSP(t, gotSP, want)
	second := stale
	second.ID, second.AppID = dirGUID(12), dirGUID(5012)
	_, err = db.CreateServicePrincipal(ctx, second, dirInherit)
	wantKind(t, err, errs.Conflict, "a second service principal for one application")
	orphan := stale
	orphan.ID, orphan.ApplicationID = dirGUID(13), dirGUID(99)
	_, err = db.CreateServicePrincipal(ctx, orphan, dirInherit)
	wantKind(t, err, errs.NotFound, "CreateServicePrincipal of an unknown application")
	wrongTenant := stale
	wrongTenant.ID, wrongTenant.TenantID = dirGUID(14), dirOtherTenant
	_, err = db.CreateServicePrincipal(ctx, wrongTenant, dirInherit)
	wantKind(t, err, errs.NotFound, "CreateServicePrincipal of another tenant's application")

	// Deleting a service principal keeps its application.
	wantKind(t, db.DeleteServicePrincipal(ctx, dirOtherTenant, dirGUID(11)), errs.NotFound, "DeleteServicePrincipal from another tenant")
	must(t, db.DeleteServicePrincipal(ctx, dirTenant, dirGUID(11)), "DeleteServicePrincipal")
	_, err = db.GetServicePrincipal(ctx, dirTenant, directory.Key{ID: dirGUID(11)})
	wantKind(t, err, errs.NotFound, "GetServicePrincipal after its deletion")
	_, err = db.GetApplication(ctx, dirTenant, directory.Key{ID: app.ID})
	must(t, err, "GetApplication after its service principal's deletion")
	wantKind(t, db.DeleteServicePrincipal(ctx, dirTenant, dirGUID(11)), errs.NotFound, "DeleteServicePrincipal twice")
}

// dirGrantFixture: a resource application with its service principal, two managed identities, a
// group holding both and directory roles for the first.
func dirGrantFixture(t *testing.T, db *store.DB) (res, a, b directory.ServicePrincipal) {
	dirFixture(t, db)
	app := dirApp(1, "api://res")
	res = dirAppSP(app, 2)
	must(t, db.CreateApplication(ctx, app, &res), "CreateApplication")
	a, b = dirMI(10), dirMI(20)
	for _, sp := range []directory.ServicePrincipal{a, b} {
		_, err := db.CreateServicePrincipal(ctx, sp, nil)
		must(t, err, "CreateServicePrincipal")
	}
	return res, a, b
}

func dirAssignment(n int, principal, resource directory.ServicePrincipal, role string) directory.AppRoleAssignment {
	return directory.AppRoleAssignment{TenantID: dirTenant, ID: fmt.Sprintf("key-%039d", n), AppRoleID: role,
		PrincipalID: principal.ID, ResourceID: resource.ID, Created: t0}
}

// testTokenFactsSnapshot: TokenFacts under a mint snapshot (migration 0018) sees every change
// made before the snapshot was taken: a grant, its removal, the principal's deletion.
func testTokenFactsSnapshot(t *testing.T, db *store.DB) {
	res, a, _ := dirGrantFixture(t, db)
	facts := func(what string) directory.TokenFacts {
		t.Helper()
		sctx, err := db.MintSnapshot(ctx)
		must(t, err, "MintSnapshot")
		f, err := db.TokenFacts(sctx, dirTenant, a.ID, directory.Key{AppID: res.AppID})
		must(t, err, "TokenFacts "+what)
		again, err := db.TokenFacts(sctx, dirTenant, a.ID, directory.Key{AppID: res.AppID})
		must(t, err, "TokenFacts again "+what)
		if !slices.Equal(again.RoleIDs, f.RoleIDs) || (again.Principal == nil) != (f.Principal == nil) {
			t.Errorf("TokenFacts %s: %+v, then %+v under the same snapshot", what, f, again)
		}
		return f
	}
	if f := facts("before a grant"); len(f.RoleIDs) != 0 || f.Principal == nil {
		t.Fatalf("before a grant: %+v", f)
	}
	x := dirAssignment(1, a, res, dirDoAll.ID)
	_, err := db.CreateAppRoleAssignment(ctx, x)
	must(t, err, "CreateAppRoleAssignment")
	if f := facts("after a grant"); !slices.Equal(f.RoleIDs, []string{dirDoAll.ID}) {
		t.Errorf("the next snapshot after a grant: roles %v, want the grant's", f.RoleIDs)
	}
	must(t, db.DeleteAppRoleAssignment(ctx, dirTenant, x.ID), "DeleteAppRoleAssignment")
	if f := facts("after the grant's removal"); len(f.RoleIDs) != 0 {
		t.Errorf("the next snapshot after the grant's removal: roles %v, want none", f.RoleIDs)
	}
	must(t, db.DeleteServicePrincipal(ctx, dirTenant, a.ID), "DeleteServicePrincipal")
	if f := facts("after the principal's deletion"); f.Principal != nil {
		t.Errorf("the next snapshot after the principal's deletion still has it: %+v", f.Principal)
	}
}

func testDirectoryAssignments(t *testing.T, db *store.DB) {
	res, a, b := dirGrantFixture(t, db)
	x := dirAssignment(1, a, res, dirDoAll.ID)
	got, err := db.CreateAppRoleAssignment(ctx, x)
	must(t, err, "CreateAppRoleAssignment")
	want := x
	want.PrincipalDisplayName, want.ResourceDisplayName = a.DisplayName, res.DisplayName
	sameDirAssignment(t, got, want)
	gotX, err := db.GetAppRoleAssignment(ctx, dirTenant, x.ID)
	must(t, err, "GetAppRoleAssignment")
	sameDirAssignment(t, gotX, want)
	_, err = db.GetAppRoleAssignment(ctx, dirOtherTenant, x.ID)
	wantKind(t, err, errs.NotFound, "GetAppRoleAssignment from another tenant")

	dup := dirAssignment(2, a, res, dirDoAll.ID)
	_, err = db.CreateAppRoleAssignment(ctx, dup)
	wantKind(t, err, errs.Conflict, "a duplicate grant")
	_, err = db.CreateAppRoleAssignment(ctx, dirAssignment(3, dirMI(99), res, dirDoAll.ID))
	wantKind(t, err, errs.NotFound, "a grant to an unknown principal")
	_, err = db.CreateAppRoleAssignment(ctx, dirAssignment(4, a, dirMI(98), dirDoAll.ID))
	wantKind(t, err, errs.NotFound, "a grant on an unknown resource")

	_, err = db.CreateAppRoleAssignment(ctx, dirAssignment(5, a, res, directory.DefaultAccessRole))
	must(t, err, "a second role for the same pair")
	_, err = db.CreateAppRoleAssignment(ctx, dirAssignment(6, b, res, dirDoAll.ID))
	must(t, err, "a grant to b")
	_, err = db.CreateAppRoleAssignment(ctx, dirAssignment(7, res, a, directory.DefaultAccessRole))
	must(t, err, "a grant on a")

	roles, err := db.AssignedAppRoleIDs(ctx, dirTenant, a.ID, res.ID)
	must(t, err, "AssignedAppRoleIDs")
	if !slices.Equal(roles, []string{directory.DefaultAccessRole, dirDoAll.ID}) {
		t.Errorf("AssignedAppRoleIDs(a, res) = %v", roles)
	}
	if roles, err := db.AssignedAppRoleIDs(ctx, dirTenant, a.ID, res.ID); err != nil || len(roles) != 2 {
		t.Errorf("AssignedAppRoleIDs(a, res) again = %v, %v", roles, err)
	}
	if roles, err := db.AssignedAppRoleIDs(ctx, dirOtherTenant, a.ID, res.ID); err != nil || len(roles) != 0 {
		t.Errorf("AssignedAppRoleIDs from another tenant = %v, %v", roles, err)
	}
	// TokenFacts: the same in one statement, by appId and by identifier URI.
	for _, key := range []directory.Key{{AppID: res.AppID}, {Name: "API://Res/"}} {
		f, err := db.TokenFacts(ctx, dirTenant, a.ID, key)
		must(t, err, "TokenFacts")
		if f.Resource.ID != res.ID || len(f.Resource.AppRoles) != len(res.AppRoles) || f.Principal == nil || f.Principal.ID != a.ID ||
			f.Principal.AppID != a.AppID || !f.Principal.AccountEnabled || f.Principal.Type != a.Type ||
			!slices.Equal(f.RoleIDs, []string{directory.DefaultAccessRole, dirDoAll.ID}) {
			t.Errorf("TokenFacts(a, %v) = %+v", key, f)
		}
	}
	if f, err := db.TokenFacts(ctx, dirTenant, dirMI(97).ID, directory.Key{AppID: res.AppID}); err != nil || f.Principal != nil || len(f.RoleIDs) != 0 {
		t.Errorf("TokenFacts of an unknown principal = %+v, %v", f, err)
	}
	_, err = db.TokenFacts(ctx, dirOtherTenant, a.ID, directory.Key{AppID: res.AppID})
	wantKind(t, err, errs.NotFound, "TokenFacts from another tenant")
	listed := func(of directory.AssignmentsOf) []string {
		xs, err := db.ListAppRoleAssignments(ctx, dirTenant, of, "", 10)
		must(t, err, "ListAppRoleAssignments")
		return dirIDs(xs, func(x directory.AppRoleAssignment) string { return x.ID })
	}
	if got := listed(directory.AssignmentsOf{ResourceID: res.ID}); !slices.Equal(got, []string{x.ID, dirAssignment(5, a, res, "").ID, dirAssignment(6, b, res, "").ID}) {
		t.Errorf("assignments on res: %v", got)
	}
	if got := listed(directory.AssignmentsOf{PrincipalID: a.ID}); !slices.Equal(got, []string{x.ID, dirAssignment(5, a, res, "").ID}) {
		t.Errorf("assignments held by a: %v", got)
	}
	page, err := db.ListAppRoleAssignments(ctx, dirTenant, directory.AssignmentsOf{ResourceID: res.ID}, x.ID, 1)
	must(t, err, "ListAppRoleAssignments page 2")
	if len(page) != 1 || page[0].ID != dirAssignment(5, a, res, "").ID {
		t.Errorf("second page: %+v", page)
	}

	must(t, db.DeleteAppRoleAssignment(ctx, dirTenant, x.ID), "DeleteAppRoleAssignment")
	wantKind(t, db.DeleteAppRoleAssignment(ctx, dirTenant, x.ID), errs.NotFound, "DeleteAppRoleAssignment twice")

	// Deleting a principal takes its grants, as principal and as resource.
	must(t, db.DeleteServicePrincipal(ctx, dirTenant, a.ID), "DeleteServicePrincipal a")
	if got := listed(directory.AssignmentsOf{ResourceID: res.ID}); !slices.Equal(got, []string{dirAssignment(6, b, res, "").ID}) {
		t.Errorf("assignments on res after deleting a: %v", got)
	}
	if got := listed(directory.AssignmentsOf{PrincipalID: res.ID}); len(got) != 0 {
		t.Errorf("assignments held by res on the deleted a: %v", got)
	}
}

func sameDirAssignment(t *testing.T, got, want directory.AppRoleAssignment) {
	t.Helper()
	g, w := got, want
	g.Created, w.Created = want.Created, want.Created
	if g != w {
		t.Errorf("dirAssignment = %+v, want %+v", got, want)
	}
	sameTime(t, "dirAssignment Created", got.Created, want.Created)
}

func testDirectoryGroups(t *testing.T, db *store.DB) {
	_, a, b := dirGrantFixture(t, db)
	g := directory.Group{TenantID: dirTenant, ID: dirGUID(500), DisplayName: "ops", Description: "d", MailNickname: "ops",
		SecurityEnabled: true, GroupTypes: []string{}, Created: t0}
	must(t, db.CreateGroup(ctx, g), "CreateGroup")
	wantKind(t, db.CreateGroup(ctx, g), errs.Conflict, "CreateGroup twice")
	got, err := db.GetGroup(ctx, dirTenant, g.ID)
	must(t, err, "GetGroup")
	sameTime(t, "group Created", got.Created, g.Created)
	got.Created = g.Created
	if !sameDirGroup(got, g) {
		t.Errorf("group = %+v, want %+v", got, g)
	}
	_, err = db.GetGroup(ctx, dirOtherTenant, g.ID)
	wantKind(t, err, errs.NotFound, "GetGroup from another tenant")

	must(t, db.AddGroupMember(ctx, dirTenant, g.ID, b.ID), "AddGroupMember b")
	must(t, db.AddGroupMember(ctx, dirTenant, g.ID, a.ID), "AddGroupMember a")
	wantKind(t, db.AddGroupMember(ctx, dirTenant, g.ID, a.ID), errs.Conflict, "AddGroupMember twice")
	wantKind(t, db.AddGroupMember(ctx, dirTenant, g.ID, dirGUID(999)), errs.NotFound, "AddGroupMember of an unknown principal")
	wantKind(t, db.AddGroupMember(ctx, dirTenant, dirGUID(998), a.ID), errs.NotFound, "AddGroupMember to an unknown group")
	wantKind(t, db.AddGroupMember(ctx, dirOtherTenant, g.ID, a.ID), errs.NotFound, "AddGroupMember in another tenant")
	members := func() []string {
		ms, err := db.ListGroupMembers(ctx, dirTenant, g.ID, "", 10)
		must(t, err, "ListGroupMembers")
		return dirIDs(ms, func(sp directory.ServicePrincipal) string { return sp.ID })
	}
	if got := members(); !slices.Equal(got, []string{a.ID, b.ID}) {
		t.Errorf("members = %v", got)
	}
	_, err = db.ListGroupMembers(ctx, dirTenant, dirGUID(998), "", 10)
	wantKind(t, err, errs.NotFound, "ListGroupMembers of an unknown group")

	must(t, db.RemoveGroupMember(ctx, dirTenant, g.ID, b.ID), "RemoveGroupMember")
	wantKind(t, db.RemoveGroupMember(ctx, dirTenant, g.ID, b.ID), errs.NotFound, "RemoveGroupMember twice")
	must(t, db.DeleteServicePrincipal(ctx, dirTenant, a.ID), "DeleteServicePrincipal a")
	if got := members(); len(got) != 0 {
		t.Errorf("members after deleting the last one: %v", got)
	}
	must(t, db.AddGroupMember(ctx, dirTenant, g.ID, b.ID), "AddGroupMember b again")
	must(t, db.DeleteGroup(ctx, dirTenant, g.ID), "DeleteGroup")
	wantKind(t, db.DeleteGroup(ctx, dirTenant, g.ID), errs.NotFound, "DeleteGroup twice")
	must(t, db.CreateGroup(ctx, g), "CreateGroup with the id of a deleted group")
	if got := members(); len(got) != 0 {
		t.Errorf("a deleted group's members came back: %v", got)
	}
}

func sameDirGroup(a, b directory.Group) bool {
	return a.TenantID == b.TenantID && a.ID == b.ID && a.DisplayName == b.DisplayName && a.Description == b.Description &&
		a.MailNickname == b.MailNickname && a.SecurityEnabled == b.SecurityEnabled && a.MailEnabled == b.MailEnabled &&
		slices.Equal(a.GroupTypes, b.GroupTypes) && a.Created.Equal(b.Created)
}

func testDirectoryRoles(t *testing.T, db *store.DB) {
	_, a, b := dirGrantFixture(t, db)
	ra := func(n int, p directory.ServicePrincipal, role string) directory.DirectoryRoleAssignment {
		return directory.DirectoryRoleAssignment{TenantID: dirTenant, ID: fmt.Sprintf("ra-%040d", n), PrincipalID: p.ID,
			RoleDefinitionID: role, DirectoryScopeID: "/", Created: t0}
	}
	must(t, db.CreateDirectoryRoleAssignment(ctx, ra(1, a, directory.RoleGlobalAdministrator)), "CreateDirectoryRoleAssignment")
	must(t, db.CreateDirectoryRoleAssignment(ctx, ra(2, a, directory.RoleDirectoryReaders)), "CreateDirectoryRoleAssignment 2")
	must(t, db.CreateDirectoryRoleAssignment(ctx, ra(3, b, directory.RoleDirectoryReaders)), "CreateDirectoryRoleAssignment 3")
	wantKind(t, db.CreateDirectoryRoleAssignment(ctx, ra(4, a, directory.RoleGlobalAdministrator)), errs.Conflict, "the same role twice")
	wantKind(t, db.CreateDirectoryRoleAssignment(ctx, ra(5, dirMI(99), directory.RoleGlobalAdministrator)), errs.NotFound, "a role for an unknown principal")

	roles, err := db.DirectoryRolesOf(ctx, dirTenant, a.ID)
	must(t, err, "DirectoryRolesOf")
	if !slices.Equal(roles, []string{directory.RoleGlobalAdministrator, directory.RoleDirectoryReaders}) {
		t.Errorf("DirectoryRolesOf(a) = %v", roles)
	}
	if roles, err := db.DirectoryRolesOf(ctx, dirOtherTenant, a.ID); err != nil || len(roles) != 0 {
		t.Errorf("DirectoryRolesOf from another tenant = %v, %v", roles, err)
	}
	got, err := db.GetDirectoryRoleAssignment(ctx, dirTenant, ra(1, a, "").ID)
	must(t, err, "GetDirectoryRoleAssignment")
	sameTime(t, "role dirAssignment Created", got.Created, t0)
	if w := ra(1, a, directory.RoleGlobalAdministrator); got.ID != w.ID || got.PrincipalID != w.PrincipalID || got.RoleDefinitionID != w.RoleDefinitionID || got.DirectoryScopeID != "/" {
		t.Errorf("role dirAssignment = %+v", got)
	}
	list, err := db.ListDirectoryRoleAssignments(ctx, dirTenant, ra(1, a, "").ID, 10)
	must(t, err, "ListDirectoryRoleAssignments")
	if ids := dirIDs(list, func(x directory.DirectoryRoleAssignment) string { return x.ID }); !slices.Equal(ids, []string{ra(2, a, "").ID, ra(3, b, "").ID}) {
		t.Errorf("role assignments after the first: %v", ids)
	}
	must(t, db.DeleteDirectoryRoleAssignment(ctx, dirTenant, ra(2, a, "").ID), "DeleteDirectoryRoleAssignment")
	wantKind(t, db.DeleteDirectoryRoleAssignment(ctx, dirTenant, ra(2, a, "").ID), errs.NotFound, "DeleteDirectoryRoleAssignment twice")
	must(t, db.DeleteServicePrincipal(ctx, dirTenant, a.ID), "DeleteServicePrincipal a")
	if roles, err := db.DirectoryRolesOf(ctx, dirTenant, a.ID); err != nil || len(roles) != 0 {
		t.Errorf("roles of a deleted principal: %v, %v", roles, err)
	}
}

// testDirectoryDeleteApplication: deleting an application takes its service principal, its
// identifier URIs and everything that refers to the service principal, in one transaction.
func testDirectoryDeleteApplication(t *testing.T, db *store.DB) {
	res, a, _ := dirGrantFixture(t, db)
	_, err := db.CreateAppRoleAssignment(ctx, dirAssignment(1, a, res, dirDoAll.ID))
	must(t, err, "grant on res")
	_, err = db.CreateAppRoleAssignment(ctx, dirAssignment(2, res, a, directory.DefaultAccessRole))
	must(t, err, "grant to res")
	g := directory.Group{TenantID: dirTenant, ID: dirGUID(500), DisplayName: "g", MailNickname: "g", GroupTypes: []string{}, Created: t0}
	must(t, db.CreateGroup(ctx, g), "CreateGroup")
	must(t, db.AddGroupMember(ctx, dirTenant, g.ID, res.ID), "AddGroupMember")
	must(t, db.CreateDirectoryRoleAssignment(ctx, directory.DirectoryRoleAssignment{TenantID: dirTenant, ID: "r1", PrincipalID: res.ID,
		RoleDefinitionID: directory.RoleGlobalAdministrator, DirectoryScopeID: "/", Created: t0}), "CreateDirectoryRoleAssignment")

	// A failing commit leaves everything.
	db.BeforeCommit = func(op string) error {
		if op == "DeleteApplication" {
			return errInjected
		}
		return nil
	}
	if err := db.DeleteApplication(ctx, dirTenant, res.ApplicationID); !errors.Is(err, errInjected) {
		t.Fatalf("DeleteApplication with a failing commit = %v", err)
	}
	db.BeforeCommit = nil
	if _, err := db.GetServicePrincipal(ctx, dirTenant, directory.Key{Name: "api://res"}); err != nil {
		t.Fatalf("service principal after a rolled back delete: %v", err)
	}

	wantKind(t, db.DeleteApplication(ctx, dirOtherTenant, res.ApplicationID), errs.NotFound, "DeleteApplication from another tenant")
	must(t, db.DeleteApplication(ctx, dirTenant, res.ApplicationID), "DeleteApplication")
	wantKind(t, db.DeleteApplication(ctx, dirTenant, res.ApplicationID), errs.NotFound, "DeleteApplication twice")
	for _, key := range []directory.Key{{ID: res.ID}, {AppID: res.AppID}, {Name: "api://res"}} {
		_, err := db.GetServicePrincipal(ctx, dirTenant, key)
		wantKind(t, err, errs.NotFound, fmt.Sprintf("service principal %+v of the deleted application", key))
	}
	for _, of := range []directory.AssignmentsOf{{ResourceID: res.ID}, {PrincipalID: res.ID}, {PrincipalID: a.ID}, {ResourceID: a.ID}} {
		xs, err := db.ListAppRoleAssignments(ctx, dirTenant, of, "", 10)
		must(t, err, "ListAppRoleAssignments")
		if len(xs) != 0 {
			t.Errorf("assignments %+v survive the application: %+v", of, xs)
		}
	}
	ms, err := db.ListGroupMembers(ctx, dirTenant, g.ID, "", 10)
	must(t, err, "ListGroupMembers")
	if len(ms) != 0 {
		t.Errorf("membership survives the application: %+v", ms)
	}
	if roles, err := db.DirectoryRolesOf(ctx, dirTenant, res.ID); err != nil || len(roles) != 0 {
		t.Errorf("directory roles survive the application: %v, %v", roles, err)
	}
	// Its URI is free again.
	must(t, db.CreateApplication(ctx, dirApp(60, "api://res"), nil), "CreateApplication with the freed URI")
}

// testDirectoryRace: servers creating the same application's service principal, or claiming the
// same identifier URI, at once: one wins, the others get errs.Conflict.
func testDirectoryRace(t *testing.T, db *store.DB) {
	dirFixture(t, db)
	app := dirApp(1)
	must(t, db.CreateApplication(ctx, app, nil), "CreateApplication")
	spErrs := parallel(workers, func(i int) error {
		sp := dirAppSP(app, 100+i)
		_, err := db.CreateServicePrincipal(ctx, sp, dirInherit)
		return err
	})
	uriErrs := parallel(workers, func(i int) error {
		return db.CreateApplication(ctx, dirApp(200+i, "api://contested"), nil)
	})
	for what, list := range map[string][]error{"service principal": spErrs, "identifier URI": uriErrs} {
		won := 0
		for i, err := range list {
			switch {
			case err == nil:
				won++
			case !errs.Is(err, errs.Conflict):
				t.Errorf("%s worker %d: %v, want success or Conflict", what, i, err)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d winners, want 1", what, won)
		}
	}
}

// testDirectoryByName: ListServicePrincipalsByName and ListApplicationsByName find the display
// names that start with a prefix under Graph's case folding, as keyset pages in id order, scoped
// by tenant, and follow renames; GetServicePrincipals reads a set of ids.
func testDirectoryByName(t *testing.T, db *store.DB) {
	dirFixture(t, db)
	names := []string{"Straße", "STRASSE x", "ſtrasse", "strasse", "stras", "\u212aelvin", "kelvin", "日本", "Zeta", ""}
	for i, n := range names {
		mi := dirMI(10 + i)
		mi.DisplayName = n
		_, err := db.CreateServicePrincipal(ctx, mi, nil)
		must(t, err, "CreateServicePrincipal")
	}
	other := dirMI(40)
	other.TenantID, other.DisplayName = dirOtherTenant, "strasse other tenant"
	_, err := db.CreateServicePrincipal(ctx, other, nil)
	must(t, err, "CreateServicePrincipal other tenant")
	app := dirApp(50)
	app.DisplayName = "Strasse app"
	appSP := dirAppSP(app, 51)
	must(t, db.CreateApplication(ctx, app, &appSP), "CreateApplication")

	byName := func(prefix string, limit int) []string {
		t.Helper()
		var ids []string
		after := ""
		for {
			page, err := db.ListServicePrincipalsByName(ctx, dirTenant, prefix, after, limit)
			must(t, err, "ListServicePrincipalsByName")
			for _, sp := range page {
				ids = append(ids, sp.ID)
				after = sp.ID
			}
			if len(page) < limit {
				return ids
			}
		}
	}
	for prefix, want := range map[string][]string{
		"strasse": {dirGUID(11), dirGUID(12), dirGUID(13), dirGUID(51)},
		"STRAS":   {dirGUID(11), dirGUID(12), dirGUID(13), dirGUID(14), dirGUID(51)},
		"KELVIN":  {dirGUID(15), dirGUID(16)},
		"日":       {dirGUID(17)},
		"q":       nil,
	} {
		for _, limit := range []int{1, 2, 100} {
			if got := byName(prefix, limit); !slices.Equal(got, want) {
				t.Errorf("ListServicePrincipalsByName(%q) by %d: %v, want %v", prefix, limit, got, want)
			}
		}
	}
	if got := byName("", 100); len(got) != len(names)+1 {
		t.Errorf("the empty prefix finds %d, want all %d", len(got), len(names)+1)
	}
	apps, err := db.ListApplicationsByName(ctx, dirTenant, "STRASSE A", "", 10)
	must(t, err, "ListApplicationsByName")
	if len(apps) != 1 || apps[0].ID != app.ID {
		t.Errorf("ListApplicationsByName: %+v", apps)
	}
	_, err = db.UpdateApplication(ctx, dirTenant, app.ID, func(a *directory.Application, sp *directory.ServicePrincipal) error {
		a.DisplayName, sp.DisplayName = "Renamed", "Renamed"
		return nil
	})
	must(t, err, "UpdateApplication")
	if got := byName("strasse", 100); slices.Contains(got, dirGUID(51)) {
		t.Errorf("a renamed service principal is still found by its old name")
	}
	if got := byName("renamed", 100); !slices.Equal(got, []string{dirGUID(51)}) {
		t.Errorf("a renamed service principal is not found by its new name: %v", got)
	}
	if apps, _ := db.ListApplicationsByName(ctx, dirTenant, "ren", "", 10); len(apps) != 1 {
		t.Errorf("a renamed application is not found by its new name: %+v", apps)
	}

	got, err := db.GetServicePrincipals(ctx, dirTenant, []string{dirGUID(11), dirGUID(99), other.ID, dirGUID(51)})
	must(t, err, "GetServicePrincipals")
	var ids []string
	for _, sp := range got {
		ids = append(ids, sp.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{dirGUID(11), dirGUID(51)}) {
		t.Errorf("GetServicePrincipals: %v, want the two of this tenant", ids)
	}
	if got, err := db.GetServicePrincipals(ctx, dirTenant, nil); err != nil || len(got) != 0 {
		t.Errorf("GetServicePrincipals(nil) = %v, %v", got, err)
	}
}
