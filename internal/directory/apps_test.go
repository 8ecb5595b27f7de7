package directory_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
)

func TestBuiltins(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.EnsureBuiltins(ctx, tenantID); err != nil { // idempotent
		t.Fatal(err)
	}
	all := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals", nil)
	if n := len(values(t, all)); n != 3 {
		t.Fatalf("%d service principals after EnsureBuiltins twice, want 3", n)
	}
	g := e.graphSP()
	wantRoles := map[string]string{
		"Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
		"Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
		"AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f", "Group.Read.All": "5b567255-7703-4780-807c-7be8301ae99b",
		"Group.ReadWrite.All": "62a82d76-70ea-41e2-9197-370581804d09", "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
	}
	if n := len(g["appRoles"].([]any)); n != len(wantRoles) {
		t.Errorf("directory has %d app roles, want %d", n, len(wantRoles))
	}
	for value, id := range wantRoles {
		if got := roleID(t, g, value); got != id {
			t.Errorf("app role %s has id %s, want %s", value, got, id)
		}
	}
	spns := func(sp map[string]any) []string {
		var out []string
		for _, v := range sp["servicePrincipalNames"].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if got, want := spns(g), []string{graphURI, publicURL, directory.DirectoryAppID}; !slices.Equal(got, want) {
		t.Errorf("directory servicePrincipalNames = %v, want %v", got, want)
	}
	vault := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals(appId='"+directory.VaultAppID+"')", nil)
	if got, want := spns(vault), []string{"https://vault.azure.net", "https://vault.lanyard.test:8443", directory.VaultAppID}; !slices.Equal(got, want) {
		t.Errorf("vault servicePrincipalNames = %v, want %v", got, want)
	}
	mgmt := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals(appId='"+directory.ManagementAppID+"')", nil)
	if got, want := spns(mgmt), []string{"https://management.azure.com/", "https://management.core.windows.net/", publicURL, directory.ManagementAppID}; !slices.Equal(got, want) {
		t.Errorf("management servicePrincipalNames = %v, want %v", got, want)
	}
	if got := e.svc.BuiltinIdentifiers(directory.DirectoryAppID); !slices.Equal(got, []string{graphURI, publicURL, directory.DirectoryAppID}) {
		t.Errorf("BuiltinIdentifiers(directory) = %v", got)
	}

	// Built-ins cannot be changed or deleted.
	app := e.must(http.StatusOK, http.MethodGet, "/v1.0/applications(appId='"+directory.DirectoryAppID+"')", nil)
	for _, r := range []response{
		e.call(http.MethodPatch, "/v1.0/applications/"+app["id"].(string), "admin", map[string]any{"displayName": "mine"}),
		e.call(http.MethodDelete, "/v1.0/applications/"+app["id"].(string), "admin", nil),
		e.call(http.MethodDelete, "/v1.0/servicePrincipals/"+g["id"].(string), "admin", nil),
	} {
		if r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" {
			t.Errorf("changing a built-in: %d %s, want 400", r.status, r.body)
		}
	}

	// A changed public URL moves the built-ins' identifiers; a second tenant gets its own.
	e.svc.PublicURL = "https://cp.example"
	if err := e.svc.EnsureBuiltins(ctx, tenantID); err != nil {
		t.Fatal(err)
	}
	if got := spns(e.graphSP()); !slices.Equal(got, []string{graphURI, "https://cp.example", directory.DirectoryAppID}) {
		t.Errorf("directory servicePrincipalNames after a new public URL: %v", got)
	}
	if err := e.svc.EnsureBuiltins(ctx, tenant2ID); err != nil {
		t.Fatal(err)
	}
	other := e.call(http.MethodGet, "/v1.0/servicePrincipals(appId='"+directory.DirectoryAppID+"')", "admin", nil, directory.TenantHeader, tenant2ID)
	if other.status != http.StatusOK || other.json(t)["id"] == g["id"] {
		t.Errorf("tenant 2's directory service principal: %d %s (tenant 1's is %s)", other.status, other.body, g["id"])
	}
}

func TestApplicationLifecycle(t *testing.T) {
	e := newEnv(t)
	a := e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{
		"@odata.type": "#microsoft.graph.application", "displayName": "aad-func", "appRoles": []any{doAllRole},
	})
	id, appID := a["id"].(string), a["appId"].(string)
	if a["@odata.context"] != publicURL+"/v1.0/$metadata#applications/$entity" || a["signInAudience"] != "AzureADMyOrg" {
		t.Errorf("created application: %v", a)
	}
	for _, path := range []string{"/v1.0/applications/" + id, "/v1.0/applications('" + id + "')", "/v1.0/applications(appId='" + appID + "')",
		"/v1.0/applications/" + strings.ToUpper(id)} {
		if got := e.must(http.StatusOK, http.MethodGet, path, nil); got["id"] != id || got["displayName"] != "aad-func" {
			t.Errorf("GET %s: %v", path, got)
		}
	}
	e.must(http.StatusNoContent, http.MethodPatch, "/v1.0/applications/"+id, map[string]any{
		"identifierUris": []string{"api://" + appID}, "displayName": "aad-func-2",
	})
	sp := e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": appID})
	if sp["displayName"] != "aad-func-2" || sp["servicePrincipalType"] != "Application" || sp["accountEnabled"] != true ||
		sp["appOwnerOrganizationId"] != tenantID || len(sp["appRoles"].([]any)) != 1 {
		t.Errorf("service principal: %v", sp)
	}
	// The service principal follows its application.
	e.must(http.StatusNoContent, http.MethodPatch, "/v1.0/applications(appId='"+appID+"')", map[string]any{"displayName": "renamed"})
	got := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals(appId='"+appID+"')", nil)
	if got["displayName"] != "renamed" || !slices.Contains(got["servicePrincipalNames"].([]any), any("api://"+appID)) {
		t.Errorf("service principal after the application changed: %v", got)
	}
	if r := e.call(http.MethodPost, "/v1.0/servicePrincipals", "admin", map[string]any{"appId": appID}); r.status != http.StatusConflict || r.code(t) != "Request_MultipleObjectsWithSameKeyValue" {
		t.Errorf("a second service principal: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodPost, "/v1.0/servicePrincipals", "admin", map[string]any{"appId": "5d2b4c6e-0000-4000-8000-000000000001"}); r.status != http.StatusBadRequest {
		t.Errorf("a service principal of no application: %d %s", r.status, r.body)
	}
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/servicePrincipals/"+sp["id"].(string), nil)
	e.must(http.StatusNotFound, http.MethodGet, "/v1.0/servicePrincipals/"+sp["id"].(string), nil)
	e.must(http.StatusOK, http.MethodGet, "/v1.0/applications/"+id, nil)
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/applications/"+id, nil)
	r := e.call(http.MethodGet, "/v1.0/applications/"+id, "admin", nil)
	if r.status != http.StatusNotFound || r.code(t) != "Request_ResourceNotFound" ||
		r.message(t) != "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present." {
		t.Errorf("GET a deleted application: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodGet, "/v1.0/applications/not-a-guid", "admin", nil); r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" {
		t.Errorf("GET a malformed id: %d %s", r.status, r.body)
	}
}

// TestRoleRemovalNeedsDisabling: like Graph, an enabled app role cannot be removed (or its value
// changed); it is disabled in one update and removed in a later one.
func TestRoleRemovalNeedsDisabling(t *testing.T) {
	e := newEnv(t)
	a := e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "api", "appRoles": []any{doAllRole}})
	path := "/v1.0/applications/" + a["id"].(string)
	r := e.call(http.MethodPatch, path, "admin", map[string]any{"appRoles": []any{}})
	if r.status != http.StatusBadRequest || r.code(t) != "CannotDeleteOrUpdateEnabledEntitlement" {
		t.Fatalf("removing an enabled role: %d %s", r.status, r.body)
	}
	renamed := clone(doAllRole)
	renamed["value"] = "DoMore"
	if r := e.call(http.MethodPatch, path, "admin", map[string]any{"appRoles": []any{renamed}}); r.status != http.StatusBadRequest {
		t.Fatalf("changing an enabled role's value: %d %s", r.status, r.body)
	}
	disabled := clone(doAllRole)
	disabled["isEnabled"] = false
	e.must(http.StatusNoContent, http.MethodPatch, path, map[string]any{"appRoles": []any{disabled}})
	e.must(http.StatusNoContent, http.MethodPatch, path, map[string]any{"appRoles": []any{}})
	if got := e.must(http.StatusOK, http.MethodGet, path, nil); len(got["appRoles"].([]any)) != 0 {
		t.Errorf("roles after removal: %v", got["appRoles"])
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestApplicationValidation(t *testing.T) {
	e := newEnv(t)
	role := func(kv ...any) map[string]any {
		r := clone(doAllRole)
		for i := 0; i < len(kv); i += 2 {
			r[kv[i].(string)] = kv[i+1]
		}
		return r
	}
	long := strings.Repeat("x", 121)
	other := role("id", "0c7b1e3a-5d2f-4a8b-9c6d-1e2f3a4b5c6d", "value", "Other")
	for name, body := range map[string]map[string]any{
		"no displayName":        {},
		"empty displayName":     {"displayName": " "},
		"long displayName":      {"displayName": strings.Repeat("n", 257)},
		"unknown property":      {"displayName": "x", "color": "blue"},
		"relative URI":          {"displayName": "x", "identifierUris": []string{"my-api"}},
		"URI with a space":      {"displayName": "x", "identifierUris": []string{"api://my api"}},
		"URI twice":             {"displayName": "x", "identifierUris": []string{"api://a", "api://A/"}},
		"built-in's URI":        {"displayName": "x", "identifierUris": []string{"https://graph.microsoft.com/"}},
		"role value with space": {"displayName": "x", "appRoles": []any{role("value", "Do All")}},
		"role value too long":   {"displayName": "x", "appRoles": []any{role("value", long)}},
		"role value with dot":   {"displayName": "x", "appRoles": []any{role("value", ".hidden")}},
		"role value non-ASCII":  {"displayName": "x", "appRoles": []any{role("value", "Lösen")}},
		"role without value":    {"displayName": "x", "appRoles": []any{role("value", "")}},
		"duplicate value":       {"displayName": "x", "appRoles": []any{doAllRole, role("id", other["id"], "value", "doall")}},
		"duplicate role id":     {"displayName": "x", "appRoles": []any{doAllRole, role("value", "Other")}},
		"role id not a GUID":    {"displayName": "x", "appRoles": []any{role("id", "role-1")}},
		"role without id":       {"displayName": "x", "appRoles": []any{role("id", "")}},
		"bad member type":       {"displayName": "x", "appRoles": []any{role("allowedMemberTypes", []string{"Robot"})}},
		"no member type":        {"displayName": "x", "appRoles": []any{role("allowedMemberTypes", []string{})}},
		"bad sign-in audience":  {"displayName": "x", "signInAudience": "Everyone"},
		"wrong JSON type":       {"displayName": 7},
	} {
		if r := e.call(http.MethodPost, "/v1.0/applications", "admin", body); r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" {
			t.Errorf("%s: %d %s, want 400 Request_BadRequest", name, r.status, r.body)
		}
	}
	r := e.call(http.MethodPost, "/v1.0/applications", "admin", map[string]any{"displayName": "x", "identifierUris": []string{"https://graph.microsoft.com"}})
	if want := "Another object with the same value for property identifierUris already exists."; r.message(t) != want {
		t.Errorf("URI conflict message %q, want %q", r.message(t), want)
	}
	e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "a", "identifierUris": []string{"api://taken"}})
	b := e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "b"})
	if r := e.call(http.MethodPatch, "/v1.0/applications/"+b["id"].(string), "admin", map[string]any{"identifierUris": []string{"API://taken/"}}); r.status != http.StatusBadRequest {
		t.Errorf("PATCH to a taken URI: %d %s", r.status, r.body)
	}
	// Accepted: every allowed character, a role for users and applications, urn: and https URIs.
	ok := role("value", "Files.Read!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "allowedMemberTypes", []string{"User", "Application", "User"})
	got := e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{
		"displayName": "ok", "appRoles": []any{ok}, "identifierUris": []string{"urn:lanyard:ok", "https://ok.example/api"},
	})
	r0 := got["appRoles"].([]any)[0].(map[string]any)
	if r0["origin"] != "Application" || len(r0["allowedMemberTypes"].([]any)) != 2 {
		t.Errorf("stored role: %v", r0)
	}
}
