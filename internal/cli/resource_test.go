package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// managementWired skips the test until the server serves the management API.
func managementWired(t *testing.T, env *lanyardtest.Env) {
	t.Helper()
	resp, err := env.Admin.HTTP.Get("http://admin/subscriptions?api-version=2022-12-01")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Skip("management API not wired yet: GET /subscriptions answers 404")
	}
}

// tsv returns a function that runs a command with -o tsv and returns its trimmed output.
func tsv(t *testing.T, sock string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(must(t, append([]string{sock, "-o", "tsv"}, args...)...))
	}
}

// fails runs a command that must fail and returns its stderr.
func fails(t *testing.T, args ...string) string {
	t.Helper()
	_, errs, code := run(t, args...)
	if code != 1 {
		t.Fatalf("lanyard %s: exit %d, want 1 (%s)", strings.Join(args, " "), code, errs)
	}
	return errs
}

func TestGroupAndIdentity(t *testing.T) {
	env, sock := server(t)
	managementWired(t, env)
	str := tsv(t, sock)

	sub := str("rest", "--url", "/subscriptions?api-version=2022-12-01", "--query", "value[0].subscriptionId")
	rgID := str("group", "create", "--name", "rg", "--tags", "env=dev", "--query", "id")
	if !strings.EqualFold(rgID, "/subscriptions/"+sub+"/resourceGroups/rg") {
		t.Fatalf("group id %q", rgID)
	}
	str("group", "create", "-n", "other", "-l", "west")
	if got := str("group", "list", "--query", "sort_by(@, &name)[].name"); got != "other\nrg" {
		t.Fatalf("groups: %q", got)
	}
	if got := str("group", "show", "--name", "rg", "--query", "[location, tags.env]"); got != "local\ndev" {
		t.Fatalf("group: %q", got)
	}
	// --subscription takes the id or the name; another id is refused by the server.
	if got := str("group", "list", "--subscription", sub, "--query", "length(@)"); got != "2" {
		t.Fatalf("groups with --subscription: %q", got)
	}
	name := str("rest", "--url", "/subscriptions?api-version=2022-12-01", "--query", "value[0].displayName")
	if got := str("group", "show", "-n", "rg", "--subscription", name, "--query", "name"); got != "rg" {
		t.Fatalf("group with --subscription NAME: %q", got)
	}
	if errs := fails(t, sock, "group", "list", "--subscription", "00000000-0000-4000-8000-000000000000"); !strings.Contains(errs, "404") {
		t.Fatalf("unknown subscription: %s", errs)
	}

	// An identity: flattened as az prints it, with a real ManagedIdentity service principal.
	out := must(t, sock, "identity", "create", "--name", "deployer", "--resource-group", "rg")
	var id struct {
		ID, Name, Location, PrincipalID, ClientID, TenantID string
	}
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		t.Fatal(err)
	}
	if id.PrincipalID == "" || id.ClientID == "" || id.Location != "local" || id.Name != "deployer" ||
		!strings.HasSuffix(id.ID, "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/deployer") {
		t.Fatalf("identity create: %s", out)
	}
	if got := str("identity", "show", "-n", "deployer", "-g", "rg", "--query", "principalId"); got != id.PrincipalID {
		t.Fatalf("identity show principalId %q, want %s", got, id.PrincipalID)
	}
	sp := str("ad", "sp", "show", "--id", id.PrincipalID, "--query", "[servicePrincipalType, appId]")
	if sp != "ManagedIdentity\n"+id.ClientID {
		t.Fatalf("the identity's service principal: %q", sp)
	}
	str("identity", "create", "-n", "second", "-g", "other")
	if got := str("identity", "list", "--query", "sort_by(@, &name)[].name"); got != "deployer\nsecond" {
		t.Fatalf("identities of the subscription: %q", got)
	}
	if got := str("identity", "list", "-g", "rg", "--query", "[].clientId"); got != id.ClientID {
		t.Fatalf("identities of rg: %q", got)
	}

	// resource show reads any id, with the api-version of its type.
	if got := str("resource", "show", "--ids", id.ID, "--query", "properties.principalId"); got != id.PrincipalID {
		t.Fatalf("resource show: %q", got)
	}
	if got := str("resource", "show", "--ids", rgID, "/subscriptions/"+sub, "--query", "[].id"); !strings.EqualFold(got, rgID+"\n/subscriptions/"+sub) {
		t.Fatalf("resource show of two ids: %q", got)
	}
	if errs := fails(t, sock, "resource", "show", "--ids", "/subscriptions/"+sub+"/resourceGroups/rg/providers/Microsoft.Web/sites/nope"); !strings.Contains(errs, "404") {
		t.Fatalf("a missing resource: %s", errs)
	}

	str("identity", "delete", "-n", "deployer", "-g", "rg")
	if errs := fails(t, sock, "ad", "sp", "show", "--id", id.PrincipalID); !strings.Contains(errs, "404") {
		t.Fatalf("the deleted identity's service principal: %s", errs)
	}
	// Deleting a group asks first; without an answer nothing is deleted.
	if errs := fails(t, sock, "group", "delete", "--name", "other"); !strings.Contains(errs, "--yes") {
		t.Fatalf("group delete without --yes: %s", errs)
	}
	str("group", "delete", "--name", "other", "--yes")
	if got := str("group", "list", "--query", "[].name"); got != "rg" {
		t.Fatalf("groups after delete: %q", got)
	}
	if got := str("identity", "list", "--query", "length(@)"); got != "0" {
		t.Fatalf("identities after the group's delete: %q", got)
	}
}

func TestWebAppIdentities(t *testing.T) {
	env, sock := server(t)
	managementWired(t, env)
	str := tsv(t, sock)
	str("group", "create", "--name", "rg")

	site := str("webapp", "create", "--name", "web", "--resource-group", "rg", "--node", "node1", "--query", "id")
	if got := str("webapp", "show", "-n", "web", "-g", "rg", "--query", "[kind, properties.lanyard.node]"); got != "app\nnode1" {
		t.Fatalf("web app: %q", got)
	}
	if got := str("webapp", "identity", "show", "-n", "web", "-g", "rg"); got != "" {
		t.Fatalf("a new web app has no identity: %q", got)
	}

	// System-assigned on: a service principal that names the site.
	sys := str("webapp", "identity", "assign", "--name", "web", "--resource-group", "rg", "--query", "principalId")
	if sys == "" {
		t.Fatal("no principalId")
	}
	alt := str("ad", "sp", "show", "--id", sys, "--query", "alternativeNames")
	if !strings.Contains(alt, "isExplicit=False") || !strings.Contains(strings.ToLower(alt), strings.ToLower(site)) {
		t.Fatalf("alternativeNames of the system-assigned identity: %q", alt)
	}
	// Assigning again changes nothing.
	if got := str("webapp", "identity", "assign", "-n", "web", "-g", "rg", "--query", "principalId"); got != sys {
		t.Fatalf("second assign: principal %q, want %s", got, sys)
	}

	// A user-assigned identity is added to the system-assigned one (by id, then by name).
	uai := str("identity", "create", "-n", "shared", "-g", "rg", "--query", "id")
	uaiClient := str("identity", "show", "-n", "shared", "-g", "rg", "--query", "clientId")
	out := must(t, sock, "webapp", "identity", "assign", "-n", "web", "-g", "rg", "--identities", uai)
	var ident struct {
		Type                   string `json:"type"`
		PrincipalID            string `json:"principalId"`
		UserAssignedIdentities map[string]struct {
			PrincipalID string `json:"principalId"`
			ClientID    string `json:"clientId"`
		} `json:"userAssignedIdentities"`
	}
	if err := json.Unmarshal([]byte(out), &ident); err != nil {
		t.Fatal(err)
	}
	if ident.Type != "SystemAssigned, UserAssigned" || ident.PrincipalID != sys || len(ident.UserAssignedIdentities) != 1 {
		t.Fatalf("identity after assigning %s: %s", uai, out)
	}
	for k, v := range ident.UserAssignedIdentities {
		if !strings.EqualFold(k, uai) || v.ClientID != uaiClient || v.PrincipalID == "" {
			t.Fatalf("user-assigned entry %s: %+v", k, v)
		}
	}
	if got := str("webapp", "identity", "assign", "-n", "web", "-g", "rg", "--identities", "shared", "--query", "type"); got != "SystemAssigned, UserAssigned" {
		t.Fatalf("assign by name: %q", got)
	}
	if got := str("webapp", "identity", "show", "-n", "web", "-g", "rg", "--query", "userAssignedIdentities.*.clientId"); got != uaiClient {
		t.Fatalf("identity show: %q", got)
	}
	if got := str("resource", "show", "--ids", site, "--query", "identity.principalId"); got != sys {
		t.Fatalf("resource show: %q", got)
	}

	// deploy moves the site and keeps its identities.
	str("webapp", "deploy", "-n", "web", "-g", "rg", "--node", "node2")
	if got := str("webapp", "show", "-n", "web", "-g", "rg", "--query", "[properties.lanyard.node, identity.principalId]"); got != "node2\n"+sys {
		t.Fatalf("after deploy: %q", got)
	}

	// Removing the user-assigned identity keeps the system-assigned one; removing that deletes
	// its service principal; the user-assigned identity lives on.
	if errs := fails(t, sock, "webapp", "identity", "remove", "-n", "web", "-g", "rg", "--identities", "/subscriptions/"+strings.Split(site, "/")[2]+"/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other"); !strings.Contains(errs, "not attached") {
		t.Fatalf("removing an identity that is not attached: %s", errs)
	}
	if got := str("webapp", "identity", "remove", "-n", "web", "-g", "rg", "--identities", uai, "--query", "[type, principalId]"); got != "SystemAssigned\n"+sys {
		t.Fatalf("after removing %s: %q", uai, got)
	}
	str("webapp", "identity", "remove", "-n", "web", "-g", "rg")
	if got := str("webapp", "identity", "show", "-n", "web", "-g", "rg", "--query", "type"); got != "" && got != "None" {
		t.Fatalf("identity after removing system-assigned: %q", got)
	}
	if errs := fails(t, sock, "ad", "sp", "show", "--id", sys); !strings.Contains(errs, "404") {
		t.Fatalf("the removed system-assigned identity's service principal: %s", errs)
	}
	if got := str("identity", "show", "-n", "shared", "-g", "rg", "--query", "clientId"); got != uaiClient {
		t.Fatalf("the user-assigned identity after detaching: %q", got)
	}

	// Function apps are sites of another kind, under their own noun.
	str("functionapp", "create", "-n", "func", "-g", "rg")
	fnSys := str("functionapp", "identity", "assign", "-n", "func", "-g", "rg", "--identities", "[system]", uai, "--query", "principalId")
	if fnSys == "" {
		t.Fatal("function app: no principalId")
	}
	if got := str("functionapp", "list", "--query", "[].[name, kind]"); got != "func\tfunctionapp" {
		t.Fatalf("function apps: %q", got)
	}
	if got := str("webapp", "list", "-g", "rg", "--query", "[].name"); got != "web" {
		t.Fatalf("web apps: %q", got)
	}
	if errs := fails(t, sock, "webapp", "show", "-n", "func", "-g", "rg"); !strings.Contains(errs, "lanyard functionapp") {
		t.Fatalf("webapp show of a function app: %s", errs)
	}
	str("functionapp", "delete", "-n", "func", "-g", "rg")
	if errs := fails(t, sock, "ad", "sp", "show", "--id", fnSys); !strings.Contains(errs, "404") {
		t.Fatalf("the deleted function app's service principal: %s", errs)
	}
	str("webapp", "delete", "-n", "web", "-g", "rg")
	if got := str("webapp", "list", "--query", "length(@)"); got != "0" {
		t.Fatalf("web apps after delete: %q", got)
	}
}

func TestRoleAssignments(t *testing.T) {
	env, sock := server(t)
	managementWired(t, env)
	str := tsv(t, sock)
	str("group", "create", "--name", "rg")
	mi := str("identity", "create", "-n", "app", "-g", "rg", "--query", "principalId")
	vault := str("identity", "create", "-n", "target", "-g", "rg", "--query", "id")
	sub := str("rest", "--url", "/subscriptions?api-version=2022-12-01", "--query", "value[0].subscriptionId")
	rg := "/subscriptions/" + sub + "/resourceGroups/rg"

	if got := str("role", "definition", "list", "--name", "owner", "--query", "[].[name, roleName, roleType]"); got != "8e3af657-a8ff-443c-a75c-2fe8c4bcb635\tOwner\tBuiltInRole" {
		t.Fatalf("role definition list --name owner: %q", got)
	}
	if got := str("role", "definition", "list", "--name", "acdd72a7-3385-48ef-bd42-f606fba81ae7", "--query", "[0].roleName"); got != "Reader" {
		t.Fatalf("role definition by id: %q", got)
	}
	if got := str("role", "definition", "list", "--query", "length(@)"); got != "10" {
		t.Fatalf("built-in roles: %q", got)
	}

	a1 := str("role", "assignment", "create", "--role", "Managed Identity Operator", "--assignee-object-id", mi,
		"--assignee-principal-type", "ServicePrincipal", "--scope", vault, "--query", "id")
	out := must(t, sock, "role", "assignment", "create", "--role", "acdd72a7-3385-48ef-bd42-f606fba81ae7", "--assignee-object-id", mi, "--scope", rg)
	var a2 struct{ ID, Scope, PrincipalID, RoleDefinitionID, RoleDefinitionName string }
	if err := json.Unmarshal([]byte(out), &a2); err != nil {
		t.Fatal(err)
	}
	if a2.PrincipalID != mi || a2.RoleDefinitionName != "Reader" || !strings.HasSuffix(a2.RoleDefinitionID, "/acdd72a7-3385-48ef-bd42-f606fba81ae7") || !strings.EqualFold(a2.Scope, rg) {
		t.Fatalf("role assignment create: %s", out)
	}

	// list: exactly at a scope by default, everything of the subscription with --all.
	if got := str("role", "assignment", "list", "--scope", vault, "--query", "[].[id, roleDefinitionName]"); got != a1+"\tManaged Identity Operator" {
		t.Fatalf("assignments at the identity: %q", got)
	}
	if got := str("role", "assignment", "list", "--scope", rg, "--query", "[].roleDefinitionName"); got != "Reader" {
		t.Fatalf("assignments at the group: %q", got)
	}
	if got := str("role", "assignment", "list", "--all", "--assignee-object-id", mi, "--query", "sort_by(@, &roleDefinitionName)[].roleDefinitionName"); got != "Managed Identity Operator\nReader" {
		t.Fatalf("all assignments of the identity: %q", got)
	}
	if got := str("role", "assignment", "list", "--all", "--role", "reader", "--query", "[].principalId"); got != mi {
		t.Fatalf("all Reader assignments: %q", got)
	}

	// delete by what it is, then by id.
	str("role", "assignment", "delete", "--assignee-object-id", mi, "--role", "Reader", "--scope", rg)
	if got := str("role", "assignment", "list", "--all", "--assignee-object-id", mi, "--query", "[].id"); got != a1 {
		t.Fatalf("after deleting the Reader assignment: %q", got)
	}
	_, errs, code := run(t, sock, "role", "assignment", "delete", "--assignee-object-id", mi, "--role", "Reader", "--scope", rg)
	if code != 0 || !strings.Contains(errs, "no matching role assignment") {
		t.Fatalf("deleting nothing: exit %d %q", code, errs)
	}
	str("role", "assignment", "delete", "--ids", a1)
	if got := str("role", "assignment", "list", "--all", "--assignee-object-id", mi, "--query", "length(@)"); got != "0" {
		t.Fatalf("assignments left: %q", got)
	}
	if errs := fails(t, sock, "role", "assignment", "create", "--role", "Astronaut", "--assignee-object-id", mi, "--scope", rg); !strings.Contains(errs, "names no role definition") || !strings.Contains(errs, "Owner") {
		t.Fatalf("unknown role: %s", errs)
	}
	if errs := fails(t, sock, "role", "assignment", "create", "--role", "Reader", "--assignee-object-id", "9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10", "--scope", rg); !strings.Contains(errs, "PrincipalNotFound") {
		t.Fatalf("unknown principal: %s", errs)
	}
}

func TestARMArgumentValidation(t *testing.T) {
	r := newRecorder(t)
	sock := "--admin-socket=" + r.sock
	const g = "9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10"
	const uai = "/subscriptions/" + g + "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "create"}, `required flag(s) "name" not set`},
		{[]string{"group", "create", "--name", "a/b"}, "--name: The provided resource group name"},
		{[]string{"group", "create", "--name", "rg."}, "cannot end with a period"},
		{[]string{"group", "create", "--name", "rg", "--tags", "=v"}, "--tags"},
		{[]string{"group", "show", "--name", strings.Repeat("x", 91)}, "1 to 90 characters"},
		{[]string{"group", "delete", "--name", "rg", "--tenant", "common"}, "--tenant must be a GUID"},
		{[]string{"group", "list", "--subscription", " "}, "--subscription must name a subscription"},
		{[]string{"identity", "create", "--name", "x"}, `required flag(s) "resource-group" not set`},
		{[]string{"identity", "create", "--name", "a:b", "-g", "rg"}, "--name: The resource name"},
		{[]string{"identity", "list", "-g", "a b"}, "invalid characters"},
		{[]string{"webapp", "create", "-n", "web", "-g", "rg", "--node", "a/b"}, "--node"},
		{[]string{"webapp", "deploy", "-n", "web", "-g", "rg"}, `required flag(s) "node" not set`},
		{[]string{"webapp", "identity", "assign", "-n", "web", "-g", "rg", "--identities", "/subscriptions/" + g + "/resourceGroups/rg/providers/Microsoft.Web/sites/x"}, "not a user-assigned identity"},
		{[]string{"webapp", "identity", "assign", "-n", "web", "-g", "rg", "--identities", "/subscriptions/nope/x"}, "--identities"},
		{[]string{"webapp", "identity", "assign", "-n", "web", "-g", "rg", "--subscription", g, "extra"}, "unexpected arguments"},
		{[]string{"functionapp", "identity", "remove", "-n", "f", "-g", "rg", "--identities", "a:b"}, "neither [system]"},
		{[]string{"role", "assignment", "create", "--role", "Reader", "--assignee-object-id", g}, `required flag(s) "scope" not set`},
		{[]string{"role", "assignment", "create", "--role", "Reader", "--scope", "/subscriptions/" + g}, "[assignee-object-id assignee]"},
		{[]string{"role", "assignment", "create", "--role", "Reader", "--assignee-object-id", "x", "--scope", "/subscriptions/" + g}, "--assignee-object-id must be a GUID"},
		{[]string{"role", "assignment", "create", "--role", "Reader", "--assignee-object-id", g, "--scope", "/"}, "a subscription or something in one"},
		{[]string{"role", "assignment", "create", "--role", "Reader", "--assignee-object-id", g, "--scope", "rg"}, "does not start with '/'"},
		{[]string{"role", "assignment", "create", "--role", uai, "--assignee-object-id", g, "--scope", uai}, "not a role definition"},
		{[]string{"role", "assignment", "create", "--role", "Reader", "--assignee-object-id", g, "--scope", uai, "--name", "x"}, "--name must be a GUID"},
		{[]string{"role", "assignment", "list", "--all", "--scope", uai}, "none of the others"},
		{[]string{"role", "assignment", "delete"}, "give --ids"},
		{[]string{"role", "assignment", "delete", "--ids", uai}, "not a role assignment"},
		{[]string{"role", "assignment", "delete", "--ids", uai, "--role", "Reader"}, "none of the others"},
		{[]string{"resource", "show"}, `required flag(s) "ids" not set`},
		{[]string{"resource", "show", "--ids", "/"}, "root scope"},
		{[]string{"resource", "show", "--ids", "/subscriptions/" + g + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"}, "--api-version"},
		{[]string{"resource", "show", "--ids", "subscriptions/" + g}, "does not start with '/'"},
	} {
		_, errs, code := run(t, append([]string{sock}, tc.args...)...)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("lanyard %s: exit %d, stderr %q; want %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	if n := r.count(); n != 0 {
		t.Fatalf("%d request(s) sent for invalid arguments", n)
	}
}
