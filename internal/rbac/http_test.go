package rbac_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/rbac"
)

const (
	api        = "?api-version=2022-04-01"
	raPath     = "/providers/Microsoft.Authorization/roleAssignments"
	rdPath     = "/providers/Microsoft.Authorization/roleDefinitions"
	assignName = "66666666-0000-4000-8000-000000000001"
)

func roleDefID(role string) string { return sub + rdPath + "/" + role }

func putBody(role, principal string, extra ...string) string {
	props := []string{`"roleDefinitionId":"` + role + `"`, `"principalId":"` + principal + `"`}
	props = append(props, extra...)
	return `{"properties":{` + strings.Join(props, ",") + `}}`
}

type assignmentOut struct {
	ID, Name, Type string
	Properties     struct {
		RoleDefinitionID, PrincipalID, PrincipalType, Scope, CreatedOn, UpdatedOn, CreatedBy, Description string
	}
}

func TestRoleAssignmentLifecycle(t *testing.T) {
	e := newEnv(t)
	base := e.server(t)
	admin := client{t: t, base: base, token: "admin"}
	p := e.principal(t, tenantID)
	path := groupA + raPath + "/" + assignName

	r := admin.do("PUT", path+api, putBody(roleDefID(rbac.Reader), p, `"principalType":"ServicePrincipal"`, `"description":"read A"`))
	if r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var a assignmentOut
	r.json(t, &a)
	if a.ID != path || a.Name != assignName || a.Type != "Microsoft.Authorization/roleAssignments" ||
		a.Properties.RoleDefinitionID != sub+rdPath+"/"+rbac.Reader || a.Properties.PrincipalID != p ||
		a.Properties.PrincipalType != "ServicePrincipal" || a.Properties.Scope != groupA ||
		a.Properties.CreatedOn != "2026-05-01T12:00:00.123456Z" || a.Properties.UpdatedOn != a.Properties.CreatedOn ||
		a.Properties.CreatedBy != "admin-socket:uid=0" || a.Properties.Description != "read A" {
		t.Errorf("PUT answered %s", r.body)
	}
	if ev := e.audit.find("rbac.roleAssignment.create", "success"); len(ev) != 1 || ev[0].Target != path {
		t.Errorf("create audited as %+v", ev)
	}

	// The same again is idempotent: 200, the stored assignment. The role may be given by its
	// tenant-level id, the principal in upper case.
	r = admin.do("PUT", path+api, putBody("/providers/Microsoft.Authorization/roleDefinitions/"+rbac.Reader, strings.ToUpper(p)))
	if r.status != http.StatusOK {
		t.Errorf("PUT again: %d %s", r.status, r.body)
	}
	r = admin.do("PUT", path+api, putBody(roleDefID(rbac.Owner), p))
	r.wantError(t, "PUT of the name with another role", 409, rbac.CodeRoleAssignmentUpdateNotPermitted)
	r = admin.do("PUT", groupA+raPath+"/66666666-0000-4000-8000-000000000002"+api, putBody(roleDefID(rbac.Reader), p))
	r.wantError(t, "PUT of the same grant under another name", 409, rbac.CodeRoleAssignmentExists)

	r = admin.do("GET", path+api, "")
	var got assignmentOut
	r.json(t, &got)
	if r.status != 200 || got != a {
		t.Errorf("GET: %d %s", r.status, r.body)
	}
	if r := admin.do("HEAD", path+api, ""); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	// Keywords, scope and name in any case; the scope keeps the caller's original casing.
	r = admin.do("GET", strings.ToUpper(path)+api, "")
	if r.status != 200 {
		t.Errorf("GET in upper case: %d %s", r.status, r.body)
	}
	r = admin.do("GET", sub+raPath+"/"+assignName+api, "")
	r.wantError(t, "GET at another scope", 404, rbac.CodeRoleAssignmentNotFound)

	r = admin.do("DELETE", path+api, "")
	var deleted assignmentOut
	r.json(t, &deleted)
	if r.status != 200 || deleted != a {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	if ev := e.audit.find("rbac.roleAssignment.delete", "success"); len(ev) != 1 || ev[0].Target != path {
		t.Errorf("delete audited as %+v", ev)
	}
	r = admin.do("DELETE", path+api, "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE again: %d %q", r.status, r.body)
	}
	r = admin.do("GET", path+api, "")
	r.wantError(t, "GET of the deleted", 404, rbac.CodeRoleAssignmentNotFound)
}

func TestRoleAssignmentErrors(t *testing.T) {
	e := newEnv(t)
	base := e.server(t)
	admin := client{t: t, base: base, token: "admin"}
	p := e.principal(t, tenantID)
	foreign := e.principal(t, otherTenant)
	path := groupA + raPath + "/" + assignName
	tests := []struct {
		what, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown role", "PUT", path, putBody(roleDefID("77777777-0000-4000-8000-000000000000"), p), 400, rbac.CodeRoleDefinitionDoesNotExist},
		{"malformed role id", "PUT", path, putBody("Reader", p), 400, rbac.CodeInvalidRoleDefinitionID},
		{"role id of another type", "PUT", path, putBody(sub+raPath+"/"+rbac.Reader, p), 400, rbac.CodeInvalidRoleDefinitionID},
		{"principal not a GUID", "PUT", path, putBody(roleDefID(rbac.Reader), "bob"), 400, rbac.CodeInvalidPrincipalID},
		{"unknown principal", "PUT", path, putBody(roleDefID(rbac.Reader), "33333333-0000-4000-8000-0000000000ff"), 400, rbac.CodePrincipalNotFound},
		{"another tenant's principal", "PUT", path, putBody(roleDefID(rbac.Reader), foreign), 400, rbac.CodePrincipalNotFound},
		{"principal type User", "PUT", path, putBody(roleDefID(rbac.Reader), p, `"principalType":"User"`), 400, rbac.CodeUnmatchedPrincipalType},
		{"principal type unknown", "PUT", path, putBody(roleDefID(rbac.Reader), p, `"principalType":"Robot"`), 400, "InvalidRequestContent"},
		{"name not a GUID", "PUT", groupA + raPath + "/reader-for-bob", putBody(roleDefID(rbac.Reader), p), 400, rbac.CodeInvalidRoleAssignmentID},
		{"no properties", "PUT", path, `{}`, 400, "InvalidRequestContent"},
		{"no body", "PUT", path, ``, 400, "InvalidRequestContent"},
		{"not JSON", "PUT", path, `{"properties":`, 400, "InvalidRequestContent"},
		{"unknown field", "PUT", path, putBody(roleDefID(rbac.Reader), p, `"colour":"blue"`), 400, "InvalidRequestContent"},
		{"condition", "PUT", path, putBody(roleDefID(rbac.Reader), p, `"condition":"@Resource[x] StringEquals 'y'"`, `"conditionVersion":"2.0"`), 400, "InvalidRequestContent"},
		{"scope of another URL", "PUT", path, putBody(roleDefID(rbac.Reader), p, `"scope":"`+groupB+`"`), 400, "InvalidRequestContent"},
		{"root scope", "PUT", raPath + "/" + assignName, putBody(roleDefID(rbac.Reader), p), 400, "MissingSubscription"},
		{"root scope list", "GET", raPath, "", 400, "MissingSubscription"},
		{"another tenant's subscription", "PUT", "/subscriptions/" + otherSub + raPath + "/" + assignName, putBody(roleDefID(rbac.Reader), p), 404, "SubscriptionNotFound"},
		{"unknown subscription", "GET", "/subscriptions/" + unknownSub + raPath, "", 404, "SubscriptionNotFound"},
		{"malformed subscription", "GET", "/subscriptions/abc" + raPath, "", 400, "InvalidSubscriptionId"},
		{"malformed group", "GET", sub + "/resourceGroups/a.b." + raPath, "", 400, "InvalidResourceGroup"},
		{"malformed scope", "GET", sub + "/resourceGroups/g/providers/Microsoft.Web/sites" + raPath, "", 400, "InvalidResourceId"},
		{"unknown filter", "GET", groupA + raPath + api + "&$filter=" + escape("roleDefinitionId eq 'x'"), "", 400, "InvalidQueryParameterValue"},
		{"unquoted principal filter", "GET", groupA + raPath + api + "&$filter=" + escape("principalId eq "+p), "", 400, "InvalidQueryParameterValue"},
		{"method", "POST", path, "", 405, "MethodNotAllowed"},
		{"collection method", "DELETE", groupA + raPath, "", 405, "MethodNotAllowed"},
	}
	for _, tc := range tests {
		q := api
		if strings.Contains(tc.path, "?") {
			q = ""
		}
		admin.do(tc.method, tc.path+q, tc.body).wantError(t, tc.what, tc.status, tc.code)
	}
	r, _ := e.db.ListRoleAssignments(ctx, tenantID, rbac.AssignmentQuery{Below: "/"})
	if len(r) != 0 {
		t.Errorf("failed requests left %d assignments", len(r))
	}
}

func escape(s string) string {
	return strings.NewReplacer(" ", "%20", "'", "%27", "(", "%28", ")", "%29").Replace(s)
}

func TestAuthenticationAndAPIVersion(t *testing.T) {
	e := newEnv(t)
	base := e.server(t)
	path := groupA + raPath
	anon := client{t: t, base: base}
	r := anon.do("GET", path+api, "")
	r.wantError(t, "no token", 401, "AuthenticationFailed")
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer authorization_uri="https://localhost:8443/", error="invalid_token", error_description="Access token is empty."` {
		t.Errorf("WWW-Authenticate: %q", got)
	}
	bad := client{t: t, base: base, header: map[string]string{"Authorization": "Basic x"}}
	bad.do("GET", path+api, "").wantError(t, "not a bearer token", 401, "InvalidAuthenticationToken")

	admin := client{t: t, base: base, token: "admin"}
	msg := admin.do("GET", path, "").wantError(t, "no api-version", 400, "MissingApiVersionParameter")
	if msg != "The api-version query parameter (?api-version=) is required for all requests." {
		t.Errorf("MissingApiVersionParameter message %q", msg)
	}
	msg = admin.do("GET", path+"?api-version=2099-01-01", "").wantError(t, "unknown api-version", 400, "InvalidApiVersionParameter")
	if !strings.Contains(msg, strings.Join(rbac.APIVersions, ",")) {
		t.Errorf("InvalidApiVersionParameter message %q does not list the versions", msg)
	}
	for _, v := range rbac.APIVersions {
		if r := admin.do("GET", path+"?api-version="+v, ""); r.status != 200 {
			t.Errorf("api-version %s: %d %s", v, r.status, r.body)
		}
	}
}

// TestAuthorization: reading needs roleAssignments/read, writing roleAssignments/write and
// deleting roleAssignments/delete at the scope; denials are ARM's and audited.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	base := e.server(t)
	admin := client{t: t, base: base, token: "admin"}
	reader, uaa, nobody, target := e.principal(t, tenantID), e.principal(t, tenantID), e.principal(t, tenantID), e.principal(t, tenantID)
	e.assign(t, reader, rbac.Reader, sub)
	e.assign(t, uaa, rbac.UserAccessAdministrator, groupA)
	asReader := client{t: t, base: base, token: reader}
	asUAA := client{t: t, base: base, token: uaa}
	asNobody := client{t: t, base: base, token: nobody}
	asForeign := client{t: t, base: base, token: "other:" + reader}

	if r := asReader.do("GET", groupA+raPath+api, ""); r.status != 200 {
		t.Errorf("Reader lists: %d %s", r.status, r.body)
	}
	msg := asNobody.do("GET", groupA+raPath+api, "").wantError(t, "nobody lists", 403, "AuthorizationFailed")
	if !strings.Contains(msg, "'Microsoft.Authorization/roleAssignments/read' over scope '"+groupA+"'") {
		t.Errorf("denial message %q", msg)
	}
	// A token of another tenant sees the subscription as not found, not forbidden.
	asForeign.do("GET", groupA+raPath+api, "").wantError(t, "another tenant lists", 404, "SubscriptionNotFound")

	body := putBody(roleDefID(rbac.KeyVaultSecretsUser), target)
	asReader.do("PUT", vaultInA+raPath+"/"+assignName+api, body).wantError(t, "Reader writes", 403, "AuthorizationFailed")
	asUAA.do("PUT", sub+raPath+"/"+assignName+api, body).wantError(t, "UAA at A writes at the subscription", 403, "AuthorizationFailed")
	r := asUAA.do("PUT", vaultInA+raPath+"/"+assignName+api, body)
	if r.status != 201 {
		t.Fatalf("UAA at A writes at a vault in A: %d %s", r.status, r.body)
	}
	var a assignmentOut
	r.json(t, &a)
	if a.Properties.CreatedBy != uaa || a.Properties.Scope != vaultInA {
		t.Errorf("created %s", r.body)
	}
	asReader.do("DELETE", vaultInA+raPath+"/"+assignName+api, "").wantError(t, "Reader deletes", 403, "AuthorizationFailed")
	if r := asUAA.do("DELETE", vaultInA+raPath+"/"+assignName+api, ""); r.status != 200 {
		t.Errorf("UAA deletes: %d %s", r.status, r.body)
	}
	if n := len(e.audit.find("rbac.deny", "denied")); n != 4 {
		t.Errorf("%d denials audited, want 4", n)
	}
	// The administrator may name the tenant it acts in.
	otherAdmin := client{t: t, base: base, token: "admin", header: map[string]string{rbac.TenantHeader: otherTenant}}
	if r := otherAdmin.do("GET", "/subscriptions/"+otherSub+raPath+api, ""); r.status != 200 {
		t.Errorf("admin in the other tenant: %d %s", r.status, r.body)
	}
	otherAdmin.do("GET", sub+raPath+api, "").wantError(t, "admin in the other tenant, first tenant's subscription", 404, "SubscriptionNotFound")
	_ = admin
}

// TestListFilters: no filter lists at, above and below the scope; atScope() at and above;
// principalId eq '…' (and assignedTo('…')) the principal's at, above and below.
func TestListFilters(t *testing.T) {
	e := newEnv(t)
	base := e.server(t)
	admin := client{t: t, base: base, token: "admin"}
	p, q := e.principal(t, tenantID), e.principal(t, tenantID)
	name := map[string]string{
		e.assign(t, p, rbac.Reader, sub):                     "p@sub",
		e.assign(t, p, rbac.Contributor, groupA):             "p@A",
		e.assign(t, q, rbac.KeyVaultSecretsUser, vaultInA):   "q@vault",
		e.assign(t, q, rbac.Reader, groupB):                  "q@B",
		e.assign(t, p, rbac.KeyVaultReader, vaultInA+"/x/y"): "p@vault/x/y",
	}
	list := func(scope, filter string) []string {
		t.Helper()
		u := scope + raPath + api
		if filter != "" {
			u += "&$filter=" + escape(filter)
		}
		r := admin.do("GET", u, "")
		var out struct{ Value []assignmentOut }
		r.json(t, &out)
		if r.status != 200 {
			t.Fatalf("list %s %s: %d %s", scope, filter, r.status, r.body)
		}
		var got []string
		for _, a := range out.Value {
			got = append(got, name[a.Name])
		}
		slices.Sort(got)
		return got
	}
	tests := []struct {
		scope, filter string
		want          []string
	}{
		{groupA, "", []string{"p@A", "p@sub", "p@vault/x/y", "q@vault"}},
		{groupA, "atScope()", []string{"p@A", "p@sub"}},
		{groupA, "principalId eq '" + q + "'", []string{"q@vault"}},
		{groupA, "assignedTo('" + strings.ToUpper(p) + "')", []string{"p@A", "p@sub", "p@vault/x/y"}},
		{groupA, "atScope() and principalId eq '" + q + "'", nil},
		{groupA, "atScope() and assignedTo('" + p + "')", []string{"p@A", "p@sub"}},
		{sub, "", []string{"p@A", "p@sub", "p@vault/x/y", "q@B", "q@vault"}},
		{sub, "atScope()", []string{"p@sub"}},
		{vaultInA, "atScope()", []string{"p@A", "p@sub", "q@vault"}},
		{strings.ToLower(vaultInA), "", []string{"p@A", "p@sub", "p@vault/x/y", "q@vault"}},
		{groupB, "", []string{"p@sub", "q@B"}},
	}
	for _, tc := range tests {
		if got := list(tc.scope, tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("list at %s with %q = %v, want %v", short(tc.scope), tc.filter, got, tc.want)
		}
	}
}

func TestRoleDefinitions(t *testing.T) {
	e := newEnv(t)
	base := e.server(t)
	admin := client{t: t, base: base, token: "admin"}
	type def struct {
		ID, Name, Type string
		Properties     struct {
			RoleName, Type, Description string
			AssignableScopes            []string
			Permissions                 []rbac.Permission
		}
	}
	r := admin.do("GET", sub+rdPath+"/"+rbac.KeyVaultSecretsUser+api, "")
	var d def
	r.json(t, &d)
	if r.status != 200 || d.ID != sub+rdPath+"/"+rbac.KeyVaultSecretsUser || d.Name != rbac.KeyVaultSecretsUser ||
		d.Type != "Microsoft.Authorization/roleDefinitions" || d.Properties.RoleName != "Key Vault Secrets User" ||
		d.Properties.Type != "BuiltInRole" || !slices.Equal(d.Properties.AssignableScopes, []string{"/"}) ||
		len(d.Properties.Permissions) != 1 || len(d.Properties.Permissions[0].DataActions) != 2 {
		t.Errorf("GET at the subscription: %d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"actions":[]`) {
		t.Errorf("empty permission lists are not []: %s", r.body)
	}
	// Tenant level: public to every authenticated caller.
	nobody := client{t: t, base: base, token: e.principal(t, tenantID)}
	r = nobody.do("GET", rdPath+"/"+rbac.Owner+api, "")
	r.json(t, &d)
	if r.status != 200 || d.ID != rdPath+"/"+rbac.Owner || d.Properties.RoleName != "Owner" {
		t.Errorf("GET at the tenant level: %d %s", r.status, r.body)
	}
	nobody.do("GET", sub+rdPath+api, "").wantError(t, "nobody lists at the subscription", 403, "AuthorizationFailed")
	admin.do("GET", sub+rdPath+"/77777777-0000-4000-8000-000000000000"+api, "").wantError(t, "unknown role", 404, rbac.CodeRoleDefinitionDoesNotExist)
	admin.do("PUT", sub+rdPath+"/77777777-0000-4000-8000-000000000000"+api, "{}").wantError(t, "custom role", 405, "MethodNotAllowed")

	names := func(path, filter string) []string {
		t.Helper()
		u := path + api
		if filter != "" {
			u += "&$filter=" + escape(filter)
		}
		r := admin.do("GET", u, "")
		var out struct{ Value []def }
		r.json(t, &out)
		var got []string
		for _, d := range out.Value {
			got = append(got, d.Properties.RoleName)
		}
		return got
	}
	if got := names(groupA+rdPath, "roleName eq 'reader'"); !slices.Equal(got, []string{"Reader"}) {
		t.Errorf("roleName eq 'reader' = %v", got)
	}
	if got := names(rdPath, "roleName eq 'Key Vault Secrets User' and type eq 'BuiltInRole'"); !slices.Equal(got, []string{"Key Vault Secrets User"}) {
		t.Errorf("roleName and type = %v", got)
	}
	if got := names(sub+rdPath, ""); len(got) != len(rbac.BuiltinRoles()) {
		t.Errorf("all = %v", got)
	}
	if got := names(sub+rdPath, "type eq 'CustomRole'"); len(got) != 0 {
		t.Errorf("custom roles = %v", got)
	}
	admin.do("GET", sub+rdPath+api+"&$filter="+escape("roleName ne 'x'"), "").wantError(t, "bad filter", 400, "InvalidQueryParameterValue")
}

// TestHandlerPaths: the dispatcher recognises the routes on any scope and in any case.
func TestHandlerPaths(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{sub + raPath, true},
		{sub + raPath + "/", true},
		{groupA + raPath + "/" + assignName, true},
		{strings.ToLower(vaultInA + raPath + "/" + assignName), true},
		{vaultInA + "/slots/s" + rdPath, true},
		{raPath, true},
		{rdPath + "/" + rbac.Owner, true},
		{sub + "/providers/Microsoft.Authorization/policyAssignments", false},
		{sub + raPath + "/a/b", false},
		{groupA, false},
		{"/", false},
	}
	for _, tc := range tests {
		if got := rbac.MatchPath(tc.path); got != tc.ok {
			t.Errorf("MatchPath(%q) = %v, want %v", tc.path, got, tc.ok)
		}
	}
	e := newEnv(t)
	base := e.server(t)
	admin := client{t: t, base: base, token: "admin"}
	admin.do("GET", sub+"/providers/Microsoft.Authorization/policyAssignments"+api, "").wantError(t, "not ours", 404, "ResourceNotFound")
	r := admin.do("GET", strings.ToUpper(sub)+"/RESOURCEGROUPS/groupa/PROVIDERS/microsoft.authorization/ROLEASSIGNMENTS"+api, "")
	if r.status != 200 {
		t.Errorf("upper-case keywords: %d %s", r.status, r.body)
	}
}

func ExampleMatchAction() {
	fmt.Println(rbac.MatchAction("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
		"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"))
	fmt.Println(rbac.MatchAction("*/read", "Microsoft.KeyVault/vaults/write"))
	// Output:
	// true
	// false
}

// TestRoutesBesideManagementAPI: Routes mounts beside the wildcard patterns the management API
// will use without a registration conflict, and its patterns win for their paths.
func TestRoutesBesideManagementAPI(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, p := range []string{
		"PUT /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}",
		"GET /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}",
		"DELETE /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}",
		"GET /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}",
		"GET /subscriptions/{sub}/providers/{ns}/{type}",
		"GET /providers/{ns}/{type}",
		"/subscriptions/{rest...}",
	} {
		mux.Handle(p, other)
	}
	e.svc.Routes(mux) // panics on a conflict
	for _, tc := range []struct {
		method, path string
		ours         bool
	}{
		{"GET", groupA + raPath, true},
		{"PUT", groupA + raPath + "/" + assignName, true},
		{"DELETE", sub + raPath + "/" + assignName, true},
		{"GET", rdPath, true},
		{"GET", groupA + "/providers/Microsoft.Web/sites", false},
		{"PUT", groupA + "/providers/Microsoft.Web/sites/app", false},
		{"GET", vaultInA + raPath, false}, // resource scopes reach Handler through the management router
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path+api, nil))
		if ours := w.Code != http.StatusTeapot; ours != tc.ours {
			t.Errorf("%s %s: served by rbac %v, want %v", tc.method, tc.path, ours, tc.ours)
		}
	}
}
