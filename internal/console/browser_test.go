package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// The console in a real browser: Debian's chromium driven by playwright-core, with axe-core
// (testdata/browser, pinned by its package-lock.json). Each flow of the seeds is clicked through
// by testdata/browser/console.mjs with the keyboard alone; this test sets up what the flow starts
// from and checks, through the APIs, what the flow did. Screenshots of every step go to
// $LANYARD_ARTIFACTS/console (or a temporary directory), named in the test's log.

const browserDir = "testdata/browser"

// requireBrowser returns node, or fails (LANYARD_REQUIRE_BROWSER=1 or CI set: .ci/run installs
// chromium and the packages) or skips, saying what is missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	return requireNodeAnd(t, chromium(), "chromium is not installed: apt-get install -y chromium", "playwright-core")
}

// requireNodeAnd returns node when browser exists and the npm package driver (and axe-core) is
// installed in browserDir; else it fails under LANYARD_REQUIRE_BROWSER=1 or CI, or skips, saying
// what is missing (missing says so for the browser).
func requireNodeAnd(t *testing.T, browser, missing, driver string) string {
	t.Helper()
	why := ""
	node, err := exec.LookPath("node")
	switch {
	case err != nil:
		why = "node is not installed"
	case !exists(browser):
		why = missing
	case !exists(filepath.Join(browserDir, "node_modules", driver, "package.json")) || !exists(filepath.Join(browserDir, "node_modules", "axe-core", "axe.min.js")):
		why = "the browser test's packages are not installed: run npm ci --prefix internal/console/" + browserDir
	}
	if why != "" {
		if os.Getenv("LANYARD_REQUIRE_BROWSER") == "1" || os.Getenv("CI") != "" {
			t.Fatal(why + " (LANYARD_REQUIRE_BROWSER=1 or CI is set, so this fails instead of skipping)")
		}
		t.Skip(why)
	}
	return node
}

func chromium() string {
	if p := os.Getenv("LANYARD_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// shots is the directory screenshots are kept in.
func shots(t *testing.T) string {
	t.Helper()
	base := os.Getenv("LANYARD_ARTIFACTS")
	if base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "lanyard-console-screenshots", t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// fixture is a running server and an administrator's client of it.
type fixture struct {
	t   *testing.T
	env *lanyardtest.Env
	sub string
	ctx context.Context
}

func start(t *testing.T) *fixture {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, env: env, sub: sub.SubscriptionID, ctx: ctx}
}

func (f *fixture) arm(method, path, version string, in, out any) {
	f.t.Helper()
	if err := f.env.Admin.ARM(f.ctx, method, path, version, in, out); err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (f *fixture) group(name string) {
	f.arm(http.MethodPut, client.ResourceGroupPath(f.sub, name), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil)
}

// site creates a web or function app; with identity, its system-assigned identity is on.
func (f *fixture) site(group, name, kind string, identity bool) client.Resource {
	body := map[string]any{"location": "local", "kind": kind}
	if identity {
		body["identity"] = map[string]string{"type": "SystemAssigned"}
	}
	var out client.Resource
	f.arm(http.MethodPut, client.ResourcePath(f.sub, group, client.TypeSites, name), client.APIVersionSites, body, &out)
	return out
}

func (f *fixture) vault(group, name string) string {
	var out struct {
		Properties struct {
			VaultURI string `json:"vaultUri"`
		} `json:"properties"`
	}
	f.arm(http.MethodPut, client.ResourcePath(f.sub, group, client.TypeVaults, name), client.APIVersionVaults, map[string]any{"location": "local",
		"properties": map[string]any{"tenantId": f.env.Server.Default.ID, "sku": map[string]string{"family": "A", "name": "standard"}, "accessPolicies": []any{}}}, &out)
	host, err := client.VaultHost(out.Properties.VaultURI)
	if err != nil {
		f.t.Fatal(err)
	}
	return host
}

// link asks for a login link through the admin socket, as `lanyard console login` does.
func (f *fixture) link() string {
	f.t.Helper()
	var out struct {
		URL string `json:"url"`
	}
	if err := f.env.Admin.Do(f.ctx, http.MethodPost, "/admin/v1/console/login-links", map[string]string{}, &out); err != nil {
		f.t.Fatal(err)
	}
	return out.URL
}

// run runs one flow of console.mjs (Chromium) and decodes what it returns into out.
func (f *fixture) run(node, flow string, params any, out any) {
	f.t.Helper()
	f.runScript(node, "console.mjs", flow, params, out)
}

// runScript runs one flow of script (console.mjs: Chromium, firefox.mjs: Firefox) and decodes
// what it returns into out.
func (f *fixture) runScript(node, script, flow string, params any, out any) {
	f.t.Helper()
	p, _ := json.Marshal(params)
	cmd := exec.Command(node, script, flow)
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "BASE="+f.env.URL, "LINK="+f.link(), "SHOTS="+shots(f.t), "PARAMS="+string(p), "CHROMIUM="+chromium(), "FIREFOX="+firefox())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var res struct {
			OK    bool            `json:"ok"`
			Out   json.RawMessage `json:"out"`
			Error string          `json:"error"`
			URL   string          `json:"url"`
		}
		if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil {
			f.t.Fatalf("flow %s: %v; stdout %s; stderr %s", flow, err, stdout.String(), stderr.String())
		}
		if !res.OK {
			f.t.Fatalf("flow %s failed at %s:\n%s\nstderr: %s", flow, res.URL, res.Error, stderr.String())
		}
		if out != nil {
			if err := json.Unmarshal(res.Out, out); err != nil {
				f.t.Fatal(err)
			}
		}
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		f.t.Fatalf("flow %s did not finish; stderr %s", flow, stderr.String())
	}
}

// vaultGet reads a secret with a token for principal, over HTTPS to the vault's host name.
func (f *fixture) vaultGet(host, secret, principal string) (int, string) {
	f.t.Helper()
	var tok client.TokenResponse
	u, _ := url.Parse(f.env.URL)
	tok, err := f.env.Admin.MintToken(f.ctx, principal, "https://vault.localhost:"+u.Port(), "")
	if err != nil {
		f.t.Fatalf("mint: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.env.CAPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+u.Port())
		},
	}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/secrets/"+secret+"?api-version=7.4", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := hc.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Value string `json:"value"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Value
}

// TestBrowserSeed003 enables a function app's system-assigned identity and gives it secret Get
// in an access policy, in the browser; then that app's token reads the secret and another app's
// is refused.
func TestBrowserSeed003(t *testing.T) {
	node := requireBrowser(t)
	seed003(t, node, "console.mjs")
}

// seed003 runs the seed 003 flow with script and checks what it did.
func seed003(t *testing.T, node, script string) {
	f := start(t)
	f.group("rg003")
	f.site("rg003", "func003", "functionapp", false)
	f.site("rg003", "other003", "functionapp", false)
	third := f.site("rg003", "third003", "functionapp", true)
	host := f.vault("rg003", "kv003")
	if _, err := f.env.Admin.Vault(host).SetSecret(f.ctx, "db-password", client.SecretSet{Value: "s3cr3t-003"}); err != nil {
		t.Fatal(err)
	}
	var out struct{ PrincipalID, OtherID string }
	f.runScript(node, script, "seed003", map[string]string{"group": "rg003", "app": "func003", "other": "other003", "vault": "kv003"}, &out)
	if status, v := f.vaultGet(host, "db-password", out.PrincipalID); status != http.StatusOK || v != "s3cr3t-003" {
		t.Errorf("the app's token read the secret: %d %q, want 200 and the value", status, v)
	}
	if status, _ := f.vaultGet(host, "db-password", third.Identity.PrincipalID); status != http.StatusForbidden {
		t.Errorf("another app's token: %d, want 403", status)
	}
	// The app's identity was turned on by the console, and the other one's turned off after the
	// confirm: both audited with the console session as actor.
	var site client.Resource
	f.arm(http.MethodGet, client.ResourcePath(f.sub, "rg003", client.TypeSites, "func003"), client.APIVersionSites, nil, &site)
	if site.Identity == nil || site.Identity.PrincipalID != out.PrincipalID {
		t.Errorf("func003's identity = %+v, want principal %s", site.Identity, out.PrincipalID)
	}
	var other client.Resource
	f.arm(http.MethodGet, client.ResourcePath(f.sub, "rg003", client.TypeSites, "other003"), client.APIVersionSites, nil, &other)
	if other.Identity.HasSystemAssigned() {
		t.Errorf("other003 still has its identity after Yes")
	}
	f.expectAudit(t, "console:", "resource.write", "sites/func003", "sites/other003", "vault.accesspolicy", "vaults/kv003")
}

// expectAudit checks that events by a console session name each of the words (in action or
// target).
func (f *fixture) expectAudit(t *testing.T, actorPrefix string, words ...string) {
	t.Helper()
	var out struct {
		Value []struct{ Actor, Action, Target string }
	}
	if err := f.env.Admin.Do(f.ctx, http.MethodGet, "/admin/v1/audit?limit=1000", nil, &out); err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range out.Value {
		if strings.HasPrefix(e.Actor, actorPrefix) {
			all = append(all, e.Action+" "+e.Target)
		}
	}
	if len(all) == 0 {
		t.Fatalf("no audit event has an actor %s...", actorPrefix)
	}
	joined := strings.ToLower(strings.Join(all, "\n"))
	for _, w := range words {
		if !strings.Contains(joined, strings.ToLower(w)) {
			t.Logf("console events:\n%s", strings.Join(all, "\n"))
			t.Errorf("no console event mentions %q", w)
		}
	}
}

// TestBrowserSeed004 creates a user-assigned identity, attaches it to two apps and deletes one
// app: its own identity leaves every page, the shared one stays.
func TestBrowserSeed004(t *testing.T) {
	node := requireBrowser(t)
	f := start(t)
	f.group("rg004")
	f.site("rg004", "web004a", "app", false)
	f.site("rg004", "web004b", "app", false)
	f.vault("rg004", "kv004")
	var out struct{ Own, SharedID string }
	f.run(node, "seed004", map[string]string{"group": "rg004", "app1": "web004a", "app2": "web004b", "mi": "shared004", "vault": "kv004"}, &out)
	var sp client.ServicePrincipal
	if err := f.env.Admin.GraphEntity(f.ctx, client.GraphBase+"/servicePrincipals/"+out.Own, &sp); !client.IsNotFound(err) {
		t.Errorf("the deleted app's own service principal: %v, want 404", err)
	}
	var mi client.Resource
	f.arm(http.MethodGet, client.ResourcePath(f.sub, "rg004", client.TypeIdentities, "shared004"), client.APIVersionIdentities, nil, &mi)
	var site client.Resource
	f.arm(http.MethodGet, client.ResourcePath(f.sub, "rg004", client.TypeSites, "web004b"), client.APIVersionSites, nil, &site)
	if site.Identity == nil || len(site.Identity.UserAssignedIdentities) != 1 {
		t.Errorf("web004b's identity = %+v, want the shared one attached", site.Identity)
	}
	f.expectAudit(t, "console:", "Microsoft.ManagedIdentity/userAssignedIdentities", "web004a")
}

// TestBrowserSeed002 registers an API with app role DoAll and assigns it to a managed identity;
// the identity's next token for the API carries the role.
func TestBrowserSeed002(t *testing.T) {
	node := requireBrowser(t)
	f := start(t)
	f.group("rg002")
	var mi struct {
		Properties struct {
			PrincipalID string `json:"principalId"`
		} `json:"properties"`
	}
	f.arm(http.MethodPut, client.ResourcePath(f.sub, "rg002", client.TypeIdentities, "caller002"), client.APIVersionIdentities, map[string]string{"location": "local"}, &mi)
	var out struct{ AppID string }
	f.run(node, "seed002", map[string]string{"api": "api002", "mi": "caller002"}, &out)
	tok, err := f.env.Admin.MintToken(f.ctx, mi.Properties.PrincipalID, "api://"+out.AppID, "")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Roles []string }
	_ = json.Unmarshal(raw, &claims)
	if len(claims.Roles) != 1 || claims.Roles[0] != "DoAll" {
		t.Errorf("roles = %v, want [DoAll]", claims.Roles)
	}
	f.expectAudit(t, "console:", "directory.application.create", "directory.application.update", "directory.appRoleAssignment.create")
}

// TestBrowserPages runs axe and the header rules on every list page, with hostile names in the
// directory (they must show as text).
func TestBrowserPages(t *testing.T) {
	node := requireBrowser(t)
	f := start(t)
	f.runScript(node, "console.mjs", "pages", map[string]any{"pages": f.listPages(), "evil": hostile}, nil)
}

// hostile is a display name that would run as script if it were not escaped.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>`

// listPages makes what the list pages show (an app registration with a hostile name among them)
// and returns the pages by name.
func (f *fixture) listPages() map[string]string {
	t := f.t
	f.group("rgx")
	var app client.Application
	if err := f.env.Admin.Graph(f.ctx, http.MethodPost, client.GraphBase+"/applications", client.Application{DisplayName: hostile}, &app); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.Graph(f.ctx, http.MethodPost, client.GraphBase+"/servicePrincipals", map[string]string{"appId": app.AppID}, nil); err != nil {
		t.Fatal(err)
	}
	web := f.site("rgx", "webx", "app", true)
	f.vault("rgx", "kvx")
	pages := map[string]string{
		"groups": "/console/resource-groups", "group": "/console/resource-groups/rgx", "functionapps": "/console/sites?kind=functionapp",
		"webapps": "/console/sites?kind=app", "site": "/console/sites/rgx/webx", "identity": "/console/sites/rgx/webx/identity",
		"identity-user": "/console/sites/rgx/webx/identity?tab=user", "identities": "/console/identities", "vaults": "/console/vaults",
		"vault": "/console/vaults/rgx/kvx", "secrets": "/console/vaults/rgx/kvx/secrets", "apps": "/console/app-registrations",
		"app": "/console/app-registrations/" + app.ID, "sps": "/console/enterprise-apps", "sp": "/console/enterprise-apps/" + web.Identity.PrincipalID,
		"iam": "/console/iam", "iam-site": "/console/iam?scope=" + url.QueryEscape(web.ID) + "&q=web", "nodes": "/console/nodes",
		"audit": "/console/audit", "reach": "/console/reach/" + web.Identity.PrincipalID, "logstream": "/console/sites/rgx/webx/logstream",
	}
	return pages
}

// TestBrowserLogStream: lines an app prints appear in the page within a second; the server ends
// each stream after a second, and the page reconnects without losing or repeating a line.
func TestBrowserLogStream(t *testing.T) {
	node := requireBrowser(t)
	logStream(t, node, "console.mjs")
}

// logStream runs the log stream flow with script: an app's log on this host, streams that the
// server ends after a second.
func logStream(t *testing.T, node, script string) {
	f := start(t)
	f.group("rgl")
	f.site("rgl", "weblog", "app", false)
	state := t.TempDir()
	file := agent.LogPath(state, "weblog")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("before 1\nbefore 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.env.Server.Console.SetAppLogs(func(name, _ string) (string, bool) { return agent.LogPath(state, name), true }, time.Second)
	var out struct {
		WorstMs    int
		Reconnects int
	}
	f.runScript(node, script, "logstream", map[string]any{"group": "rgl", "site": "weblog", "file": file, "lines": 30, "gapMs": 120, "preexisting": 2, "minReconnects": 2}, &out)
	t.Logf("slowest line: %d ms; reconnects: %d", out.WorstMs, out.Reconnects)
}

// TestBrowserIAM adds a role assignment at a resource group with the keyboard; a resource of the
// group shows it as inherited, and so does the identity's reach page.
func TestBrowserIAM(t *testing.T) {
	node := requireBrowser(t)
	f := start(t)
	f.group("rgiam")
	f.site("rgiam", "webiam", "app", false)
	f.arm(http.MethodPut, client.ResourcePath(f.sub, "rgiam", client.TypeIdentities, "miiam"), client.APIVersionIdentities, map[string]string{"location": "local"}, nil)
	f.run(node, "iam", map[string]string{"group": "rgiam", "site": "webiam", "mi": "miiam"}, nil)
	var list []client.AzureRoleAssignment
	f.arm(http.MethodGet, client.ResourceGroupPath(f.sub, "rgiam")+"/providers/"+client.TypeRoleAssignments+"?$filter=atScope()", client.APIVersionAuthorization, nil, &list)
	if len(list) != 1 || !strings.HasSuffix(strings.ToLower(list[0].Properties.Scope), "/resourcegroups/rgiam") {
		t.Errorf("assignments at the group: %+v", list)
	}
	f.expectAudit(t, "console:", "rbac.roleAssignment.create")
}
