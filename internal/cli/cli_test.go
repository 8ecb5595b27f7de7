package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/internal/cli"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// run runs the command tree with args and returns what it printed and its exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// must runs a command that must succeed and returns its output.
func must(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := run(t, args...)
	if code != 0 {
		t.Fatalf("lanyard %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// server starts a real server and returns the flag that points commands at its admin socket.
func server(t *testing.T) (*lanyardtest.Env, string) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	return env, "--admin-socket=" + filepath.Join(env.DataDir, "admin.sock")
}

func TestTenantListQuery(t *testing.T) {
	env, sock := server(t)
	must(t, sock, "tenant", "create", "--name", "second")

	if got := must(t, sock, "tenant", "list", "--query", "[?default].id", "-o", "tsv"); got != env.Server.Default.ID+"\n" {
		t.Fatalf("default tenant id: %q, want %s", got, env.Server.Default.ID)
	}
	if got := must(t, sock, "tenant", "list", "--query", "length(@)"); got != "2\n" {
		t.Fatalf("tenant count: %q", got)
	}
	table := must(t, sock, "tenant", "list", "--query", "sort_by(@, &name)[].{name:name, default:default}", "-o", "table")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "Name") || !strings.Contains(lines[0], "Default") ||
		!strings.HasPrefix(lines[3], "second ") || !strings.HasSuffix(lines[3], "false") {
		t.Fatalf("table:\n%s", table)
	}
	var ts []map[string]any
	if err := json.Unmarshal([]byte(must(t, sock, "tenant", "list")), &ts); err != nil || len(ts) != 2 {
		t.Fatalf("json: %v %v", ts, err)
	}
}

func TestAuditVerify(t *testing.T) {
	_, sock := server(t)
	out := must(t, sock, "audit", "verify")
	var v struct {
		Events int  `json:"events"`
		OK     bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.OK || v.Events == 0 {
		t.Fatalf("%s (%v)", out, err)
	}
	if got := must(t, sock, "audit", "verify", "--query", "ok", "-o", "tsv"); got != "true\n" {
		t.Fatalf("%q", got)
	}
	if got := must(t, sock, "audit", "list", "--limit", "1", "--query", "[0].seq"); got != "1\n" {
		t.Fatalf("%q", got)
	}
}

// TestAuditCheckpointTruncation: a checkpoint kept out of the database's reach shows that the
// newest events were cut off, even when the stored checkpoints and the head were edited too.
func TestAuditCheckpointTruncation(t *testing.T) {
	env, sock := server(t)
	must(t, sock, "tenant", "create", "--name", "second") // a few more events
	kept := filepath.Join(t.TempDir(), "kept.jsonl")
	line := must(t, sock, "audit", "checkpoint")
	if err := os.WriteFile(kept, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Seq   int64  `json:"seq"`
		KeyID string `json:"keyId"`
	}
	if err := json.Unmarshal([]byte(line), &cp); err != nil || cp.Seq < 2 || cp.KeyID == "" || strings.Count(line, "\n") != 1 {
		t.Fatalf("checkpoint line %q: %v", line, err)
	}
	if got := must(t, sock, "audit", "verify", "--checkpoints", kept, "--query", "[ok, checkpoints > `1`]", "-o", "tsv"); got != "true\ntrue\n" {
		t.Fatalf("verify of an intact chain with a kept checkpoint: %q", got)
	}
	if got := must(t, sock, "audit", "checkpoint", "list", "--query", "length(value) > `0` && length(keys) == `1`"); got != "true\n" {
		t.Fatalf("checkpoint list: %q", got)
	}
	raw, err := sql.Open("sqlite", filepath.Join(env.DataDir, "lanyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range []string{
		fmt.Sprintf(`DELETE FROM audit_events WHERE seq >= %d`, cp.Seq),
		fmt.Sprintf(`UPDATE audit_head SET seq = %d, hash = (SELECT hash FROM audit_events WHERE seq = %d) WHERE id = 1`, cp.Seq-1, cp.Seq-1),
		`DELETE FROM audit_checkpoints`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if got := must(t, sock, "audit", "verify", "--query", "ok"); got != "true\n" {
		t.Fatalf("without the kept copy the cut is invisible to the chain walk, as documented: %q", got)
	}
	out, stderr, code := run(t, sock, "audit", "verify", "--checkpoints", kept)
	// (An event the server records after the cut takes the removed seq: then the kept
	// checkpoint's hash no longer matches, reported as a rewrite.)
	if code != 1 || !(strings.Contains(out+stderr, "truncation") || strings.Contains(out+stderr, "rewritten")) {
		t.Fatalf("verify against the kept checkpoint: exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestAuditExportVerifySegments: an export is a segment that verify --segments checks offline;
// an edited line is reported.
func TestAuditExportVerifySegments(t *testing.T) {
	_, sock := server(t)
	must(t, sock, "tenant", "create", "--name", "second")
	dir := t.TempDir()
	file := filepath.Join(dir, "audit-000000000001.jsonl")
	must(t, sock, "audit", "export", "--out", file)
	if _, _, code := run(t, sock, "audit", "export", "--out", file); code == 0 {
		t.Fatal("export over an existing file was not refused")
	}
	if got := must(t, sock, "audit", "verify", "--segments", dir, "--query", "[ok, length(segments[0].problems)]", "-o", "tsv"); got != "true\n0\n" {
		t.Fatalf("verify --segments of a fresh export: %q", got)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"checkpoint"`) {
		t.Fatalf("export %q %v", b, err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), `"result":"success"`, `"result":"denied"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, sock, "audit", "verify", "--segments", dir)
	if code != 1 || !strings.Contains(out, "changed") {
		t.Fatalf("verify --segments of an edited export: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestRest(t *testing.T) {
	_, sock := server(t)
	if got := must(t, sock, "rest", "--url", "/admin/v1/audit/verify", "--query", "ok"); got != "true\n" {
		t.Fatalf("%q", got)
	}
	// A full URL: its host is ignored, the request goes through the admin socket.
	if got := must(t, sock, "rest", "--url", "https://lanyard.example.com/admin/v1/tenants?x=1", "--query", "value[0].default"); got != "true\n" {
		t.Fatalf("%q", got)
	}
	out := must(t, sock, "rest", "-m", "post", "-u", "/admin/v1/tenants", "--body", `{"name":"from-rest"}`, "--query", "name", "-o", "tsv")
	if out != "from-rest\n" {
		t.Fatalf("%q", out)
	}
	body := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(body, []byte(`{"name":"from-file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must(t, sock, "rest", "--method", "POST", "--url", "/admin/v1/tenants", "--body", "@"+body, "--headers", "X-Test=1", "--query", "name"); out != "\"from-file\"\n" {
		t.Fatalf("%q", out)
	}
	if pem := must(t, sock, "rest", "--url", "/admin/v1/ca"); !strings.HasPrefix(pem, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("not JSON answers are printed as they are: %q", pem)
	}
	// Errors in the API's shape become one line.
	_, errs, code := run(t, sock, "rest", "--method", "POST", "--url", "/admin/v1/tenants", "--body", `{"bogus":1}`)
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "(400") {
		t.Fatalf("exit %d: %q", code, errs)
	}
	_, errs, code = run(t, sock, "rest", "--url", "/admin/v1/nope")
	if code != 1 || !strings.Contains(errs, "(404") {
		t.Fatalf("exit %d: %q", code, errs)
	}
	// --skip-authorization-header: the request carries no authority, as az rest sends no token.
	if got := must(t, sock, "rest", "--uri", "https://graph.microsoft.com/v1.0/groups", "--query", "length(value)"); got != "0\n" {
		t.Fatalf("groups with the admin's authority: %q", got)
	}
	_, errs, code = run(t, sock, "rest", "--uri", "https://graph.microsoft.com/v1.0/groups", "--skip-authorization-header")
	if code != 1 || !strings.Contains(errs, "(401") {
		t.Fatalf("--skip-authorization-header: exit %d: %q, want a 401", code, errs)
	}
	_, errs, code = run(t, sock, "rest", "--uri", "/admin/v1/tenants", "--skip-authorization-header")
	if code != 1 || strings.Contains(errs, "(200") || !(strings.Contains(errs, "(401") || strings.Contains(errs, "(403")) {
		t.Fatalf("admin API with --skip-authorization-header: exit %d: %q", code, errs)
	}
}

// directoryWired skips the test until the server serves the directory API.
func directoryWired(t *testing.T, env *lanyardtest.Env) {
	t.Helper()
	resp, err := env.Admin.HTTP.Get("http://admin/v1.0/servicePrincipals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Skip("directory API not wired yet")
	}
}

// graphAppID is the well-known appId of the built-in Directory (Graph-compatible) service principal.
const graphAppID = "00000003-0000-0000-c000-000000000000"

func TestTokenMint(t *testing.T) {
	env, sock := server(t)
	directoryWired(t, env)
	graphSP := strings.TrimSpace(must(t, sock, "ad", "sp", "show", "--id", graphAppID, "--query", "id", "-o", "tsv"))
	out := must(t, sock, "token", "mint", "--principal", graphSP, "--resource", "https://graph.microsoft.com/.default")
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresOn   string `json:"expires_on"`
		Resource    string `json:"resource"`
		ClientID    string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}
	c, err := env.Server.Tokens.VerifyToken(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectID != graphSP || c.Audience != "https://graph.microsoft.com" || tok.TokenType != "Bearer" ||
		tok.ClientID != graphAppID || tok.Resource != "https://graph.microsoft.com" || tok.ExpiresOn != fmt.Sprint(c.ExpiresAt.Unix()) {
		t.Fatalf("token response %+v, claims %+v", tok, c)
	}
	audit := must(t, sock, "audit", "list", "--limit", "1000", "--query", "[?action=='token.mint'].target", "-o", "tsv")
	if audit != graphSP+"\n" {
		t.Fatalf("token.mint audit targets: %q", audit)
	}
}

// TestDirectoryFlow walks the custom-API bootstrap with the CLI: an application with an app role,
// its service principal, the role granted to another principal and seen in its next token, then
// groups and directory roles, and everything removed again.
func TestDirectoryFlow(t *testing.T) {
	env, sock := server(t)
	directoryWired(t, env)
	str := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(must(t, append([]string{sock, "-o", "tsv"}, args...)...))
	}

	api := str("ad", "app", "create", "--display-name", "aad-func", "--query", "appId")
	str("ad", "app", "update", "--id", api, "--identifier-uris", "api://"+api)
	str("ad", "app", "role", "add", "--id", api, "--value", "DoAll", "--display-name", "Do everything")
	if got := str("ad", "app", "show", "--id", api, "--query", "appRoles[].value"); got != "DoAll" {
		t.Fatalf("app roles: %q", got)
	}
	client := str("ad", "app", "create", "--display-name", "caller", "--query", "appId")
	clientSP := str("ad", "sp", "create", "--id", client, "--query", "id")
	// Granting on an application that has no service principal yet says how to make one.
	if _, errs, code := run(t, sock, "ad", "app-role-assignment", "create", "--principal-id", clientSP, "--resource-id", api, "--role", "DoAll"); code != 1 ||
		!strings.Contains(errs, "has no service principal") || !strings.Contains(errs, "lanyard ad sp create --id "+api) {
		t.Fatalf("grant on an app without a service principal: exit %d %q", code, errs)
	}
	apiSP := str("ad", "sp", "create", "--id", api, "--query", "id")

	asg := str("ad", "app-role-assignment", "create", "--principal-id", clientSP, "--resource-id", api, "--role", "DoAll", "--query", "id")
	if got := str("ad", "app-role-assignment", "list", "--principal-id", clientSP, "--query", "[].resourceId"); got != apiSP {
		t.Fatalf("assignments of the caller: %q", got)
	}
	// create, list and delete take the same selectors: principal and resource by object id or
	// appId, the role by value.
	str("ad", "app-role-assignment", "create", "--principal-id", client, "--resource-id", "00000003-0000-0000-c000-000000000000", "--role", "Group.Read.All")
	if got := str("ad", "app-role-assignment", "list", "--principal-id", client, "--resource-id", api, "--role", "DoAll", "--query", "[].id"); got != asg {
		t.Fatalf("list by principal appId, resource appId and role: %q, want %q", got, asg)
	}
	str("ad", "app-role-assignment", "delete", "--principal-id", client, "--resource-id", "00000003-0000-0000-c000-000000000000", "--role", "Group.Read.All")
	if got := str("ad", "app-role-assignment", "list", "--principal-id", clientSP, "--query", "[].resourceId"); got != apiSP {
		t.Fatalf("assignments of the caller after deleting the Graph one by selectors: %q", got)
	}
	raw := str("token", "mint", "--principal", clientSP, "--resource", "api://"+api, "--query", "access_token")
	c, err := env.Server.Tokens.VerifyToken(raw)
	if err != nil || strings.Join(c.Roles, ",") != "DoAll" {
		t.Fatalf("roles %v, %v", c.Roles, err)
	}

	group := str("ad", "group", "create", "--display-name", "deployers", "--mail-nickname", "deployers", "--query", "id")
	str("ad", "group", "member", "add", "--group", "deployers", "--member-id", clientSP)
	if got := str("ad", "group", "member", "list", "--group", group, "--query", "[].id"); got != clientSP {
		t.Fatalf("members: %q", got)
	}
	str("ad", "group", "member", "remove", "--group", group, "--member-id", clientSP)
	str("ad", "group", "delete", "--group", group)

	ra := str("ad", "role", "assignment", "create", "--role", "application administrator", "--assignee", clientSP, "--query", "id")
	if got := str("ad", "role", "assignment", "list", "--assignee", clientSP, "--query", "[].roleDefinitionId"); got != "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3" {
		t.Fatalf("role assignments: %q", got)
	}
	str("ad", "role", "assignment", "delete", "--id", ra)

	if got := str("rest", "--url", "/v1.0/servicePrincipals(appId='"+api+"')", "--query", "id"); got != apiSP {
		t.Fatalf("rest: %q", got)
	}
	str("ad", "app-role-assignment", "delete", "--resource-id", apiSP, "--id", asg)
	if got := str("ad", "app-role-assignment", "list", "--resource-id", apiSP, "--query", "length(@)"); got != "0" {
		t.Fatalf("assignments left: %q", got)
	}
	str("ad", "app", "delete", "--id", api)
	if _, errs, code := run(t, sock, "ad", "sp", "show", "--id", apiSP); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("the deleted application's service principal: exit %d %s", code, errs)
	}
}

// recorder is a stand-in server on a unix socket: it counts requests and serves canned directory
// pages, for the checks that must fail before a request and for paging.
type recorder struct {
	sock string
	mu   sync.Mutex
	reqs []*http.Request
}

func newRecorder(t *testing.T) *recorder {
	dir, err := os.MkdirTemp("", "lyc") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &recorder{sock: filepath.Join(dir, "admin.sock")}
	ln, err := net.Listen("unix", r.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if req.URL.Path != "/v1.0/servicePrincipals" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist\nor one of its queried reference-property objects are not present.","innerError":{"request-id":"r"}}}`)
		return
	}
	page := req.URL.Query().Get("$skiptoken")
	body := map[string]any{"@odata.context": "https://localhost:8443/v1.0/$metadata#servicePrincipals"}
	switch page {
	case "":
		body["value"] = []map[string]any{{"displayName": "one", "id": "1"}, {"displayName": "two", "id": "2"}}
		body["@odata.nextLink"] = "https://localhost:8443/v1.0/servicePrincipals?$skiptoken=p2"
	case "p2":
		body["value"] = []map[string]any{{"displayName": "three", "id": "3"}}
	}
	json.NewEncoder(w).Encode(body)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func TestListPagesAndTenant(t *testing.T) {
	r := newRecorder(t)
	sock := "--admin-socket=" + r.sock
	const tenant = "0f0e0d0c-0b0a-4909-8807-060504030201"
	out, errs, code := run(t, sock, "ad", "sp", "list", "--tenant", tenant, "--query", "[].displayName", "-o", "tsv")
	if code != 0 || out != "one\ntwo\n" || !strings.Contains(errs, "--all") {
		t.Fatalf("first page: exit %d %q %q", code, out, errs)
	}
	out = must(t, sock, "ad", "sp", "list", "--all", "--tenant", tenant, "--query", "[].{n:displayName, i:id}", "-o", "table")
	if out != "N      I\n-----  -\none    1\ntwo    2\nthree  3\n" {
		t.Fatalf("all pages:\n%s", out)
	}
	for _, req := range r.reqs {
		if got := req.Header.Get("X-Lanyard-Tenant"); got != tenant {
			t.Fatalf("tenant header %q", got)
		}
	}
	// Filters are sent as $filter.
	must(t, sock, "ad", "sp", "list", "--display-name", "o'n", "--filter", "servicePrincipalType eq 'ManagedIdentity'")
	if got := r.reqs[len(r.reqs)-1].URL.Query().Get("$filter"); got != "(servicePrincipalType eq 'ManagedIdentity') and startswith(displayName,'o''n')" {
		t.Fatalf("$filter %q", got)
	}
	// An error answer is one line, whatever its message holds.
	_, errs, code = run(t, sock, "ad", "sp", "show", "--id", tenant)
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "(404 Request_ResourceNotFound)") {
		t.Fatalf("exit %d %q", code, errs)
	}
}

func TestArgumentValidation(t *testing.T) {
	r := newRecorder(t)
	sock := "--admin-socket=" + r.sock
	const g = "9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ad", "sp", "show"}, `required flag(s) "id" not set`},
		{[]string{"ad", "sp", "show", "--id", "nope"}, "--id must be a GUID"},
		{[]string{"ad", "sp", "show", "--id", g + "x"}, "--id must be a GUID"},
		{[]string{"ad", "sp", "create", "--id", "api://x"}, "--id must be a GUID"},
		{[]string{"ad", "sp", "delete", "--id", "{" + g[1:] + "}"}, "--id must be a GUID"},
		{[]string{"ad", "app", "create"}, `required flag(s) "display-name" not set`},
		{[]string{"ad", "app", "create", "--display-name", "x", "--app-roles", `[{"id":"nope","value":"v"}]`}, "must be a GUID"},
		{[]string{"ad", "app", "create", "--display-name", "x", "--app-roles", `{"value":"v"}`}, "JSON array of app roles"},
		{[]string{"ad", "app", "create", "--display-name", "x", "--app-roles", `not json`}, "--app-roles is not JSON"},
		{[]string{"ad", "app", "create", "--display-name", "x", "--app-roles", "@/nonexistent/roles.json"}, "no such file"},
		{[]string{"ad", "app", "show", "--id", "aad-func"}, "--id must be a GUID"},
		{[]string{"ad", "app", "update", "--id", g}, "nothing to update"},
		{[]string{"ad", "app", "update", "--id", "x", "--display-name", "y"}, "--id must be a GUID"},
		{[]string{"ad", "app", "delete", "--id", ""}, "--id must be a GUID"},
		{[]string{"ad", "app", "role", "add", "--id", g, "--display-name", "D"}, `required flag(s) "value" not set`},
		{[]string{"ad", "app", "role", "add", "--id", g, "--value", "Do All", "--display-name", "D"}, "without spaces"},
		{[]string{"ad", "app", "role", "add", "--id", g, "--value", strings.Repeat("v", 121), "--display-name", "D"}, "1 to 120 characters"},
		{[]string{"ad", "app", "role", "add", "--id", g, "--value", "V", "--display-name", "D", "--allowed-member-types", "Robot"}, "Application and/or User"},
		{[]string{"ad", "app", "role", "add", "--id", g, "--value", "V", "--display-name", "D", "--role-id", "1"}, "--role-id must be a GUID"},
		{[]string{"ad", "app-role-assignment", "create", "--principal-id", "bad", "--resource-id", g, "--role", "R"}, "--principal-id must be a GUID"},
		{[]string{"ad", "app-role-assignment", "delete", "--resource-id", g}, "--id, or with --principal-id"},
		{[]string{"ad", "app-role-assignment", "create", "--principal-id", g, "--resource-id", "bad", "--role", "R"}, "--resource-id must be a GUID"},
		{[]string{"ad", "app-role-assignment", "create", "--principal-id", g, "--resource-id", g}, "[app-role-id role]"},
		{[]string{"ad", "app-role-assignment", "create", "--principal-id", g, "--resource-id", g, "--role", "R", "--app-role-id", g}, "none of the others"},
		{[]string{"ad", "app-role-assignment", "create", "--principal-id", g, "--resource-id", g, "--app-role-id", "Directory.Read.All"}, "--app-role-id must be a GUID"},
		{[]string{"ad", "app-role-assignment", "list"}, "[principal-id resource-id]"},
		{[]string{"ad", "app-role-assignment", "list", "--resource-id", "x"}, "--resource-id must be a GUID"},
		{[]string{"ad", "app-role-assignment", "delete", "--resource-id", g, "--id", "a/b"}, "is not an id"},
		{[]string{"ad", "group", "create", "--display-name", "x"}, `required flag(s) "mail-nickname" not set`},
		{[]string{"ad", "group", "member", "add", "--group", "x", "--member-id", "bad"}, "--member-id must be a GUID"},
		{[]string{"ad", "group", "member", "remove", "--group", g}, `required flag(s) "member-id" not set`},
		{[]string{"ad", "group", "show", "--group", ""}, "--group must name a group"},
		{[]string{"ad", "role", "assignment", "create", "--role", "Owner", "--assignee", g}, "not a directory role Lanyard knows"},
		{[]string{"ad", "role", "assignment", "create", "--role", "global administrator", "--assignee", "x"}, "--assignee must be a GUID"},
		{[]string{"ad", "role", "assignment", "list", "--assignee", "x"}, "--assignee must be a GUID"},
		{[]string{"ad", "role", "assignment", "delete", "--id", "../x"}, "is not an id"},
		{[]string{"rest"}, `required flag(s) "uri" not set`},
		{[]string{"rest", "--url", "v1.0/groups"}, "neither a path"},
		{[]string{"rest", "--url", "ftp://x/y"}, "neither a path"},
		{[]string{"rest", "--method", "TRACE", "--url", "/x"}, "--method must be"},
		{[]string{"rest", "--url", "/x", "--headers", "novalue"}, "KEY=VALUE"},
		{[]string{"rest", "--url", "/x", "--headers", "Authorization=Bearer x"}, "Authorization is not sent"},
		{[]string{"rest", "--url", "/x", "--headers", `{"a":1}`}, "not a JSON object of strings"},
		{[]string{"rest", "--url", "/x", "--body", "@/nonexistent/body.json"}, "no such file"},
		{[]string{"token", "mint", "--principal", "bad", "--resource", "r"}, "--principal must be a GUID"},
		{[]string{"token", "mint", "--principal", g}, `required flag(s) "resource" not set`},
		{[]string{"token", "mint", "--principal", g, "--resource", "r", "--tenant", "common"}, "--tenant must be a GUID"},
		{[]string{"tenant", "list", "-o", "yaml"}, "unknown output format"},
		{[]string{"ad", "sp", "list", "--query", "[?"}, "not a JMESPath expression"},
		{[]string{"webapp", "list", "--resource-grup", "rg"}, "unknown flag: --resource-grup: did you mean --resource-group?"},
		{[]string{"rest", "--urii", "/x"}, "did you mean --uri?"},
		{[]string{"webapp", "list", "--zzzzzzzz"}, "(see lanyard webapp list --help)"},
		{[]string{"group", "lst"}, `unknown command "lst" for "lanyard group": did you mean list?`},
		{[]string{"ad", "app-role-assignment", "creat"}, "did you mean create?"},
		{[]string{"rest", "--uri", "https://graph.microsoft.com/beta/groups"}, "v1.0 only"},
		{[]string{"rest", "--uri", "https://a.b.vault.azure.net/secrets"}, "is not a vault name"},
		{[]string{"rest", "--uri", "/x", "--uri-parameters", "nokey"}, "KEY=VALUE"},
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

// An assignment id may start with "-": it is still the flag's value.
func TestDashValue(t *testing.T) {
	r := newRecorder(t)
	_, errs, _ := run(t, "--admin-socket="+r.sock, "ad", "app-role-assignment", "delete", "--resource-id", "9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10", "--id", "-WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc")
	if strings.Contains(errs, "unknown shorthand") || r.count() == 0 {
		t.Fatalf("%q", errs)
	}
}

func TestEveryCommandHasHelpAndExample(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		n++
		if c.Short == "" || c.Example == "" {
			t.Errorf("%q needs a Short description and an Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRoot())
	if n < 40 {
		t.Fatalf("walked only %d commands", n)
	}
	out := must(t, "ad", "app-role-assignment", "create", "--help")
	if !strings.Contains(out, "Examples:") || !strings.Contains(out, "--query") || !strings.Contains(out, "--tenant") {
		t.Fatalf("help:\n%s", out)
	}
}
