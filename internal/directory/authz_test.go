package directory_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/directory"
)

// The callers of the authorization matrix: application permissions from a token, directory roles
// held in the store, or the admin socket.
const (
	nobody           = "no principal"
	noRoles          = "no roles"
	dirRead          = "Directory.Read.All"
	appRead          = "Application.Read.All alone"
	araOnly          = "AppRoleAssignment.ReadWrite.All alone"
	both             = "AppRoleAssignment.ReadWrite.All + Application.Read.All"
	groupRead        = "Group.Read.All"
	appAdmin         = "Application Administrator"
	cloudAppAdmin    = "Cloud Application Administrator"
	globalAdmin      = "Global Administrator"
	privRoleAdmin    = "Privileged Role Administrator"
	directoryReaders = "Directory Readers"
	adminSocket      = "admin socket"
)

var callers = []string{nobody, noRoles, dirRead, appRead, araOnly, both, groupRead, appAdmin, cloudAppAdmin, globalAdmin, privRoleAdmin,
	directoryReaders, adminSocket}

// allowed mirrors the directory's policy table, written out per kind of operation: the callers
// that may, besides the admin socket. Everyone else authenticated gets 403.
// "grant" is an app role of an ordinary API (DoAll) and the removal of any grant; "grant graph"
// is one of Microsoft Graph's application permissions, which the application administrator
// roles may not grant (as in Entra).
var allowed = map[string][]string{
	"read apps":    {dirRead, appRead, both, appAdmin, cloudAppAdmin, globalAdmin, directoryReaders},
	"write apps":   {appAdmin, cloudAppAdmin, globalAdmin},
	"grant":        {both, appAdmin, cloudAppAdmin, globalAdmin, privRoleAdmin},
	"grant graph":  {both, globalAdmin, privRoleAdmin},
	"read groups":  {dirRead, groupRead, globalAdmin, directoryReaders},
	"write groups": {globalAdmin},
	"read roles":   {dirRead, globalAdmin, privRoleAdmin, directoryReaders},
	"write roles":  {globalAdmin, privRoleAdmin},
}

// matrixRoute is one route of the matrix: setup makes what the request needs (as administrator)
// and returns its path and body; ok is its status when allowed.
type matrixRoute struct {
	method, name, kind string
	ok                 int
	setup              func(e *env) (path string, body any)
}

func matrixRoutes() []matrixRoute {
	newApp := func(e *env) map[string]any {
		return e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "m"})
	}
	newSP := func(e *env) map[string]any { return e.app("m", nil) }
	graphGrant := func(e *env, principal map[string]any) map[string]any {
		return map[string]any{"principalId": principal["id"], "resourceId": e.graphSP()["id"], "appRoleId": roleID(e.t, e.graphSP(), "Group.Read.All")}
	}
	newAPI := func(e *env) map[string]any { return e.app("api", map[string]any{"appRoles": []any{doAllRole}}) }
	apiGrant := func(principal, api map[string]any) map[string]any {
		return map[string]any{"principalId": principal["id"], "resourceId": api["id"], "appRoleId": doAllRole["id"]}
	}
	newGroup := func(e *env) string {
		return e.must(http.StatusCreated, http.MethodPost, "/v1.0/groups", map[string]any{"displayName": "g", "mailNickname": "g", "securityEnabled": true, "mailEnabled": false})["id"].(string)
	}
	newRole := func(e *env) string {
		return e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{
			"principalId": newSP(e)["id"], "roleDefinitionId": directory.RoleDirectoryReaders})["id"].(string)
	}
	fixed := func(path string) func(*env) (string, any) { return func(*env) (string, any) { return path, nil } }
	return []matrixRoute{
		{"GET", "applications", "read apps", 200, fixed("/v1.0/applications")},
		{"POST", "applications", "write apps", 201, func(*env) (string, any) { return "/v1.0/applications", map[string]any{"displayName": "m"} }},
		{"GET", "applications/{id}", "read apps", 200, func(e *env) (string, any) { return "/v1.0/applications/" + newApp(e)["id"].(string), nil }},
		{"GET", "applications(appId)", "read apps", 200, func(e *env) (string, any) {
			return "/v1.0/applications(appId='" + newApp(e)["appId"].(string) + "')", nil
		}},
		{"PATCH", "applications/{id}", "write apps", 204, func(e *env) (string, any) {
			return "/v1.0/applications/" + newApp(e)["id"].(string), map[string]any{"displayName": "n"}
		}},
		{"DELETE", "applications/{id}", "write apps", 204, func(e *env) (string, any) { return "/v1.0/applications/" + newApp(e)["id"].(string), nil }},
		{"GET", "servicePrincipals", "read apps", 200, fixed("/v1.0/servicePrincipals")},
		{"POST", "servicePrincipals", "write apps", 201, func(e *env) (string, any) {
			return "/v1.0/servicePrincipals", map[string]any{"appId": newApp(e)["appId"]}
		}},
		{"GET", "servicePrincipals/{id}", "read apps", 200, func(e *env) (string, any) { return "/v1.0/servicePrincipals/" + newSP(e)["id"].(string), nil }},
		{"GET", "servicePrincipals(appId)", "read apps", 200, fixed("/v1.0/servicePrincipals(appId='" + directory.DirectoryAppID + "')?$select=id,appRoles")},
		{"DELETE", "servicePrincipals/{id}", "write apps", 204, func(e *env) (string, any) { return "/v1.0/servicePrincipals/" + newSP(e)["id"].(string), nil }},
		{"GET", "appRoleAssignedTo", "read apps", 200, func(e *env) (string, any) {
			return "/v1.0/servicePrincipals/" + e.graphSP()["id"].(string) + "/appRoleAssignedTo", nil
		}},
		{"POST", "appRoleAssignedTo (Graph)", "grant graph", 201, func(e *env) (string, any) {
			return "/v1.0/servicePrincipals/" + e.graphSP()["id"].(string) + "/appRoleAssignedTo", graphGrant(e, newSP(e))
		}},
		{"POST", "appRoleAssignedTo (API)", "grant", 201, func(e *env) (string, any) {
			api := newAPI(e)
			return "/v1.0/servicePrincipals/" + api["id"].(string) + "/appRoleAssignedTo", apiGrant(newSP(e), api)
		}},
		{"DELETE", "appRoleAssignedTo/{id}", "grant", 204, func(e *env) (string, any) {
			a := e.grant(newSP(e), e.graphSP(), "Group.Read.All")
			return "/v1.0/servicePrincipals/" + e.graphSP()["id"].(string) + "/appRoleAssignedTo/" + a["id"].(string), nil
		}},
		{"GET", "appRoleAssignments", "read apps", 200, func(e *env) (string, any) {
			return "/v1.0/servicePrincipals/" + newSP(e)["id"].(string) + "/appRoleAssignments", nil
		}},
		{"POST", "appRoleAssignments (Graph)", "grant graph", 201, func(e *env) (string, any) {
			sp := newSP(e)
			return "/v1.0/servicePrincipals/" + sp["id"].(string) + "/appRoleAssignments", graphGrant(e, sp)
		}},
		{"POST", "appRoleAssignments (API)", "grant", 201, func(e *env) (string, any) {
			sp := newSP(e)
			return "/v1.0/servicePrincipals/" + sp["id"].(string) + "/appRoleAssignments", apiGrant(sp, newAPI(e))
		}},
		{"DELETE", "appRoleAssignments/{id}", "grant", 204, func(e *env) (string, any) {
			sp := newSP(e)
			a := e.grant(sp, e.graphSP(), "Group.Read.All")
			return "/v1.0/servicePrincipals/" + sp["id"].(string) + "/appRoleAssignments/" + a["id"].(string), nil
		}},
		{"GET", "groups", "read groups", 200, fixed("/v1.0/groups")},
		{"POST", "groups", "write groups", 201, func(*env) (string, any) {
			return "/v1.0/groups", map[string]any{"displayName": "g", "mailNickname": "g", "securityEnabled": true, "mailEnabled": false}
		}},
		{"GET", "groups/{id}", "read groups", 200, func(e *env) (string, any) { return "/v1.0/groups/" + newGroup(e), nil }},
		{"DELETE", "groups/{id}", "write groups", 204, func(e *env) (string, any) { return "/v1.0/groups/" + newGroup(e), nil }},
		{"GET", "groups/{id}/members", "read groups", 200, func(e *env) (string, any) { return "/v1.0/groups/" + newGroup(e) + "/members", nil }},
		{"POST", "groups/{id}/members/$ref", "write groups", 204, func(e *env) (string, any) {
			return "/v1.0/groups/" + newGroup(e) + "/members/$ref", map[string]any{"@odata.id": publicURL + "/v1.0/directoryObjects/" + newSP(e)["id"].(string)}
		}},
		{"DELETE", "groups/{id}/members/{id}/$ref", "write groups", 204, func(e *env) (string, any) {
			g, sp := newGroup(e), newSP(e)["id"].(string)
			e.must(http.StatusNoContent, http.MethodPost, "/v1.0/groups/"+g+"/members/$ref", map[string]any{"@odata.id": publicURL + "/v1.0/directoryObjects/" + sp})
			return "/v1.0/groups/" + g + "/members/" + sp + "/$ref", nil
		}},
		{"GET", "roleAssignments", "read roles", 200, fixed("/v1.0/roleManagement/directory/roleAssignments")},
		{"POST", "roleAssignments", "write roles", 201, func(e *env) (string, any) {
			return "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": newSP(e)["id"], "roleDefinitionId": directory.RoleDirectoryReaders}
		}},
		{"GET", "roleAssignments/{id}", "read roles", 200, func(e *env) (string, any) {
			return "/v1.0/roleManagement/directory/roleAssignments/" + newRole(e), nil
		}},
		{"DELETE", "roleAssignments/{id}", "write roles", 204, func(e *env) (string, any) {
			return "/v1.0/roleManagement/directory/roleAssignments/" + newRole(e), nil
		}},
	}
}

// TestAuthorizationMatrix: every route × every kind of caller → the expected status.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	// Each caller with a token is a service principal of its own; the directory-role callers hold
	// their role in the store and no application permission.
	who := map[string]string{adminSocket: "admin"}
	perms := map[string]string{noRoles: "", dirRead: "Directory.Read.All", appRead: "Application.Read.All",
		araOnly: "AppRoleAssignment.ReadWrite.All", both: "AppRoleAssignment.ReadWrite.All,Application.Read.All", groupRead: "Group.Read.All"}
	for c, p := range perms {
		who[c] = e.app(c, nil)["id"].(string) + ";" + p
	}
	for c, role := range map[string]string{appAdmin: directory.RoleApplicationAdministrator,
		cloudAppAdmin: directory.RoleCloudApplicationAdministrator, globalAdmin: directory.RoleGlobalAdministrator,
		privRoleAdmin: directory.RolePrivilegedRoleAdministrator, directoryReaders: directory.RoleDirectoryReaders} {
		id := e.app(c, nil)["id"].(string)
		e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": id, "roleDefinitionId": role})
		who[c] = id
	}

	for _, rt := range matrixRoutes() {
		for _, c := range callers {
			want := http.StatusForbidden
			switch {
			case c == nobody:
				want = http.StatusUnauthorized
			case c == adminSocket || contains(allowed[rt.kind], c):
				want = rt.ok
			}
			path, body := rt.setup(e)
			r := e.call(rt.method, path, who[c], body)
			if r.status != want {
				t.Errorf("%s %s as %s: %d %s, want %d", rt.method, rt.name, c, r.status, r.body, want)
				continue
			}
			switch want {
			case http.StatusForbidden:
				if r.code(t) != "Authorization_RequestDenied" || r.message(t) != "Insufficient privileges to complete the operation." {
					t.Errorf("%s %s as %s: denial body %s", rt.method, rt.name, c, r.body)
				}
			case http.StatusUnauthorized:
				if r.code(t) != "InvalidAuthenticationToken" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("%s %s without credentials: %s %v", rt.method, rt.name, r.body, r.header)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestDirectoryRolesAreLive: a directory role works from the request after it is granted and
// stops with the request after it is removed.
func TestDirectoryRolesAreLive(t *testing.T) {
	e := newEnv(t)
	sp := e.app("ops", nil)["id"].(string)
	if r := e.call(http.MethodGet, "/v1.0/groups", sp, nil); r.status != http.StatusForbidden {
		t.Fatalf("before the role: %d", r.status)
	}
	ra := e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": sp, "roleDefinitionId": directory.RoleGlobalAdministrator})
	if r := e.call(http.MethodGet, "/v1.0/groups", sp, nil); r.status != http.StatusOK {
		t.Fatalf("with the role: %d", r.status)
	}
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/roleManagement/directory/roleAssignments/"+ra["id"].(string), nil)
	if r := e.call(http.MethodGet, "/v1.0/groups", sp, nil); r.status != http.StatusForbidden {
		t.Fatalf("after the role was removed: %d", r.status)
	}
	// A role held in one tenant is nothing in another.
	if r := e.call(http.MethodGet, "/v1.0/groups", sp+";", nil, "X-Test-Tenant", tenant2ID); r.status != http.StatusForbidden {
		t.Fatalf("in another tenant: %d", r.status)
	}
}

// TestAudit: writes are audited with the caller, the action and the target; denials too; no
// token or secret is in any field.
func TestAudit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	api := e.app("api", map[string]any{"appRoles": []any{doAllRole}})
	a := e.grant(e.app("fn", nil), api, "DoAll")
	caller := e.app("caller", nil)["id"].(string)
	e.call(http.MethodDelete, "/v1.0/servicePrincipals/"+api["id"].(string)+"/appRoleAssignedTo/"+a["id"].(string), caller+";Application.Read.All", nil,
		"Authorization", "Bearer secret-token")
	evs, err := e.db.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Actor+" "+ev.Action+" "+ev.Result+" "+ev.Target)
		if strings.Contains(ev.Detail+ev.Target+ev.Actor, "secret-token") {
			t.Errorf("audit event carries the token: %+v", ev)
		}
	}
	want := []string{
		"admin-socket:uid=0 directory.application.create success",
		"admin-socket:uid=0 directory.servicePrincipal.create success",
		"admin-socket:uid=0 directory.application.create success",
		"admin-socket:uid=0 directory.servicePrincipal.create success",
		"admin-socket:uid=0 directory.appRoleAssignment.create success " + a["id"].(string),
		"admin-socket:uid=0 directory.application.create success",
		"admin-socket:uid=0 directory.servicePrincipal.create success",
		"sp:" + caller + " directory.appRoleAssignment.delete " + audit.Denied + " servicePrincipals('" + api["id"].(string) + "')/appRoleAssignedTo('" + a["id"].(string) + "')",
	}
	if len(got) != len(want) {
		t.Fatalf("audit events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("event %d = %q, want %q…", i, got[i], want[i])
		}
	}
	if d := evs[4].Detail; d != "tenant="+tenantID+" principal="+a["principalId"].(string)+" resource="+api["id"].(string)+" appRole="+roleID(t, api, "DoAll") {
		t.Errorf("grant detail: %q", d)
	}
}

// TestApplicationAdministratorCannotGrantGraph is the attack run's escalation: an Application
// Administrator (or Cloud Application Administrator) with no app role tries to grant itself
// Microsoft Graph's application permissions, through either end of the assignment. Each is
// refused and audited; it may still grant an ordinary API's role, and a Privileged Role
// Administrator may grant Graph's.
func TestApplicationAdministratorCannotGrantGraph(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	graph := e.graphSP()
	api := e.app("api", map[string]any{"appRoles": []any{doAllRole}})
	for _, role := range []string{directory.RoleApplicationAdministrator, directory.RoleCloudApplicationAdministrator} {
		self := e.app("admin", nil)["id"].(string)
		e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": self, "roleDefinitionId": role})
		before, err := e.db.ListAudit(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, perm := range []string{"AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All", "Group.ReadWrite.All"} {
			body := map[string]any{"principalId": self, "resourceId": graph["id"], "appRoleId": roleID(t, graph, perm)}
			for _, path := range []string{"/v1.0/servicePrincipals/" + graph["id"].(string) + "/appRoleAssignedTo", "/v1.0/servicePrincipals/" + self + "/appRoleAssignments"} {
				if r := e.call(http.MethodPost, path, self, body); r.status != http.StatusForbidden || r.code(t) != "Authorization_RequestDenied" {
					t.Errorf("%s granting itself %s through %s: %d %s, want 403", directory.DirectoryRoles[role], perm, path, r.status, r.body)
				}
			}
		}
		// Nothing was granted: the directory still refuses it what those permissions allow.
		if r := e.call(http.MethodGet, "/v1.0/groups", self, nil); r.status != http.StatusForbidden {
			t.Errorf("%s reading groups after the refused grants: %d", directory.DirectoryRoles[role], r.status)
		}
		after, err := e.db.ListAudit(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, ev := range after[len(before):] {
			if ev.Action == "directory.appRoleAssignment.create" && ev.Result == audit.Denied && ev.Actor == "sp:"+self {
				denied++
			}
		}
		if denied != 6 {
			t.Errorf("%s: %d denied grants audited, want 6", directory.DirectoryRoles[role], denied)
		}
		// An ordinary API's role: granted.
		r := e.call(http.MethodPost, "/v1.0/servicePrincipals/"+api["id"].(string)+"/appRoleAssignedTo", self,
			map[string]any{"principalId": self, "resourceId": api["id"], "appRoleId": doAllRole["id"]})
		if r.status != http.StatusCreated {
			t.Errorf("%s granting DoAll: %d %s", directory.DirectoryRoles[role], r.status, r.body)
		}
	}
	pra := e.app("pra", nil)["id"].(string)
	e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{"principalId": pra, "roleDefinitionId": directory.RolePrivilegedRoleAdministrator})
	target := e.app("target", nil)["id"].(string)
	r := e.call(http.MethodPost, "/v1.0/servicePrincipals/"+graph["id"].(string)+"/appRoleAssignedTo", pra,
		map[string]any{"principalId": target, "resourceId": graph["id"], "appRoleId": roleID(t, graph, "Group.ReadWrite.All")})
	if r.status != http.StatusCreated {
		t.Errorf("Privileged Role Administrator granting Group.ReadWrite.All: %d %s", r.status, r.body)
	}
}
