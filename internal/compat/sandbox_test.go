package compat

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// sandboxNode is a server and an agent whose apps run in sandboxes, with a resolver of the
// test's own standing for the host's (it sees what the sandboxes ask the host).
type sandboxNode struct {
	*node
	dns *testResolver
	b   armRes // a second site on the node, with a user-assigned identity of its own
	bUA armRes
	ctx context.Context // the apps' life: the whole test's, not a subtest's
}

func startSandboxNode(t *testing.T) *sandboxNode {
	t.Helper()
	if err := sandbox.Check(); err != nil {
		t.Skipf("this host does not allow sandboxes: %v", err)
	}
	dns := startTestResolver(t)
	n := startNodeWith(t, "sbx-node", agent.Config{Sandbox: agent.SandboxOn, SandboxDNS: []string{dns.addr}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &sandboxNode{node: n, dns: dns, ctx: ctx}
	armDo(t, n.env, http.MethodPut, n.group+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b-only", vMSI, map[string]any{"location": "local"}, &s.bUA)
	armDo(t, n.env, http.MethodPut, n.group+"/providers/Microsoft.Web/sites/app-b", vWeb, map[string]any{
		"location": "local", "kind": "app",
		"identity":   map[string]any{"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map[string]any{s.bUA.ID: map[string]any{}}},
		"properties": map[string]any{"lanyard": map[string]string{"node": "sbx-node"}},
	}, &s.b)
	return s
}

// run runs argv in the sandbox of site as `lanyard app run` does (the agent serves the app; this
// process runs it through sandbox.Command) and returns its stdout; stderr goes to the test log.
// waitRole waits until the agent's token for the app of site and resource (from its App Service
// endpoint, on the host) carries role.
func (s *sandboxNode) waitRole(t *testing.T, site, resource, role string) {
	t.Helper()
	appEnv, err := s.agent.AppEnv(site[strings.LastIndexByte(site, '/')+1:])
	if err != nil {
		t.Fatal(err)
	}
	var roles any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, s.agent.URL()+agent.PathAppService+"?api-version=2019-08-01&resource="+url.QueryEscape(resource), nil)
		req.Header.Set("X-IDENTITY-HEADER", appEnv["IDENTITY_HEADER"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("a token for %s: %d %v", resource, resp.StatusCode, err)
		}
		roles = claims(t, tok.AccessToken)["roles"]
		if rs, ok := roles.([]any); ok && slices.Contains(rs, any(role)) {
			return
		}
	}
	t.Fatalf("the agent's tokens for %s never carried %s (roles %v)", resource, role, roles)
}

func (s *sandboxNode) run(t *testing.T, site string, env []string, argv ...string) (string, error) {
	t.Helper()
	ctx := s.ctx
	appEnv, err := s.agent.StartApp(ctx, agent.AppConfig{Site: site})
	if err != nil && !strings.Contains(err.Error(), "already running") {
		t.Fatal(err)
	}
	name := site[strings.LastIndexByte(site, '/')+1:]
	if appEnv == nil {
		if appEnv, err = s.agent.AppEnv(name); err != nil {
			t.Fatal(err)
		}
	}
	ns, binds, ok := s.agent.SandboxOf(name)
	if !ok {
		t.Fatalf("the app %s has no sandbox", name)
	}
	cmd, err := sandbox.Command(&sandbox.Netns{Path: ns}, binds, argv)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...), appEnv.List()...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	err = cmd.Wait()
	timer.Stop()
	out := stdout.String()
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", filepath.Base(argv[0]), stderr.String())
	}
	return out, err
}

// testResolver is a DNS server standing for the host's resolvers: it records every question and
// answers NXDOMAIN.
type testResolver struct {
	addr string
	mu   sync.Mutex
	seen []string
}

func startTestResolver(t *testing.T) *testResolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	r := &testResolver{addr: pc.LocalAddr().String()}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			r.mu.Lock()
			r.seen = append(r.seen, strings.ToLower(q.Name.String()))
			r.mu.Unlock()
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError})
			_ = b.StartQuestions()
			_ = b.Question(q)
			out, _ := b.Finish()
			_, _ = pc.WriteTo(out, from)
		}
	}()
	return r
}

func (r *testResolver) questions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// TestSandboxSeedNode runs seed 000's Node function body, as written (the IMDS fetch with
// api-version 2018-02-01, then IDENTITY_ENDPOINT with X-IDENTITY-HEADER and 2019-08-01, each
// followed by fetch("https://graph.microsoft.com/v1.0/groups")), in an app's sandbox: 403 before
// the Graph grant, 200 after it. No question for an Azure name reaches the host's resolver.
func TestSandboxSeedNode(t *testing.T) {
	node := requireNode(t, nodeIdentityDir, "@azure/identity")
	s := startSandboxNode(t)
	script, _ := filepath.Abs("testdata/sandbox/seed000.mjs")
	type result struct {
		IMDS             int `json:"imds"`
		IdentityEndpoint int `json:"identityEndpoint"`
	}
	runSeed := func() result {
		out, err := s.run(t, s.site.ID, nil, node, script)
		if err != nil {
			t.Fatalf("seed 000: %v: %s", err, out)
		}
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("seed 000 printed %q", out)
		}
		return r
	}
	if r := runSeed(); r.IMDS != 403 || r.IdentityEndpoint != 403 {
		t.Fatalf("before the Graph grant: %+v, want 403 for both patterns", r)
	}
	graphSP := builtin(t, s.env, graphAppID)
	grant(t, s.env, sp{ID: s.site.Identity.PrincipalID}, graphSP, "Group.Read.All")
	// The grant reaches the agent's token cache through its events (within about
	// nodes.PollEvery on SQLite); the seed runs once the agent's tokens carry it.
	s.waitRole(t, s.site.ID, graphURI, "Group.Read.All")
	if r := runSeed(); r.IMDS != 200 || r.IdentityEndpoint != 200 {
		t.Fatalf("after the Graph grant: %+v, want 200 for both patterns", r)
	}
	// The host name of something that is not Azure's goes to the host's resolver; Azure's never do.
	if _, err := s.run(t, s.site.ID, nil, node, "-e", `require("dns").lookup("nothing.example.test", () => {})`); err != nil {
		t.Fatal(err)
	}
	var sawOther bool
	for _, q := range s.dns.questions() {
		if api, _ := sandbox.Match(q); api != sandbox.NotAzure {
			t.Errorf("the host's resolver was asked about %s", q)
		}
		sawOther = sawOther || strings.HasPrefix(q, "nothing.example.test")
	}
	if !sawOther {
		t.Errorf("the host's resolver never saw the other name (it saw %v): the check above proves nothing", s.dns.questions())
	}
}

// TestSandboxClients: in an app's sandbox, the unmodified Key Vault clients of Python (Debian's
// python3-azure), Go (azsecrets, azidentity, no option set) and Node read a secret from
// https://NAME.vault.azure.net/ with ManagedIdentityCredential; curl reaches
// https://management.azure.com with no CA flag; and az, with its default cloud, signs in with
// the app's identity and reads groups, a token and Graph.
func TestSandboxClients(t *testing.T) {
	s := startSandboxNode(t)
	e := &vaultEnv{t: t, env: s.env, sub: s.sub}
	e.arm(http.MethodPut, client.ResourcePath(s.sub, "apps", client.TypeVaults, "kv-sbx"), client.APIVersionVaults, map[string]any{
		"location": "local", "properties": map[string]any{"tenantId": s.env.Server.Default.ID, "sku": map[string]string{"family": "A", "name": "standard"},
			"accessPolicies": []map[string]any{{"tenantId": s.env.Server.Default.ID, "objectId": s.site.Identity.PrincipalID,
				"permissions": map[string][]string{"secrets": {"get", "list"}}}}},
	}, nil)
	u, _ := url.Parse(s.env.URL)
	if _, err := s.env.Admin.Vault("kv-sbx.vault.localhost:"+u.Port()).SetSecret(context.Background(), "greeting", client.SecretSet{Value: "hello-from-vault"}); err != nil {
		t.Fatal(err)
	}
	wantID := "https://kv-sbx.vault.azure.net/secrets/greeting/"
	assignRole(t, s.env, s.sub, "/subscriptions/"+s.sub, readerRoleID, s.site.Identity.PrincipalID)

	t.Run("python", func(t *testing.T) {
		python := requirePython(t)
		script, _ := filepath.Abs("testdata/sandbox/kv.py")
		out, err := s.run(t, s.site.ID, nil, python, script, "kv-sbx", "greeting")
		if err != nil || !strings.HasPrefix(out, "hello-from-vault "+wantID) || !strings.Contains(out, "\ngreeting\n") {
			t.Fatalf("python: %v\n%s", err, out)
		}
	})
	t.Run("go", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "sandboxgo")
		if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sandboxgo").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		out, err := s.run(t, s.site.ID, nil, bin, "kv-sbx", "greeting")
		if err != nil || !strings.HasPrefix(out, "hello-from-vault "+wantID) {
			t.Fatalf("go: %v\n%s", err, out)
		}
	})
	t.Run("node", func(t *testing.T) {
		node := requireNode(t, "testdata/node-vault", "@azure/keyvault-secrets")
		script, _ := filepath.Abs("testdata/node-vault/sandbox-kv.mjs")
		out, err := s.run(t, s.site.ID, nil, node, script, "kv-sbx", "greeting")
		if err != nil || !strings.HasPrefix(out, "hello-from-vault "+wantID) {
			t.Fatalf("node: %v\n%s", err, out)
		}
	})
	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			missing(t, "LANYARD_REQUIRE_CURL", "curl is not installed")
		}
		out, err := s.run(t, s.site.ID, nil, "sh", "-c", `T=$(curl -sS -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
curl -sS -H "Authorization: Bearer $T" "https://management.azure.com/subscriptions?api-version=2022-12-01"`)
		if err != nil || !strings.Contains(out, `"subscriptionId":"`+s.sub+`"`) {
			t.Fatalf("curl: %v\n%s", err, out)
		}
	})
	t.Run("az", func(t *testing.T) {
		az := requireAz(t)
		graphSP := builtin(t, s.env, graphAppID)
		grant(t, s.env, sp{ID: s.site.Identity.PrincipalID}, graphSP, "Application.Read.All")
		cfg := "AZURE_CONFIG_DIR=" + t.TempDir()
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"login", "--identity", "--allow-no-subscriptions", "--query", "[0].id", "-o", "tsv"}, s.sub},
			{[]string{"account", "get-access-token", "--resource", "https://graph.microsoft.com", "--query", "tokenType", "-o", "tsv"}, "Bearer"},
			{[]string{"group", "list", "--query", "[].name", "-o", "tsv"}, "apps"},
			{[]string{"rest", "--method", "get", "--uri", "https://graph.microsoft.com/v1.0/servicePrincipals?$top=2", "--query", "length(value)", "-o", "tsv"}, "2"},
		} {
			out, err := s.run(t, s.site.ID, []string{cfg, "AZURE_CORE_COLLECT_TELEMETRY=false"}, append([]string{az}, c.args...)...)
			if err != nil || !strings.Contains(out, c.want) {
				t.Fatalf("az %s: %v\n%s (want %q)", strings.Join(c.args, " "), err, out, c.want)
			}
		}
	})
}

// TestSandboxIsolation: an app's 169.254.169.254 answers with its own identities only (app A
// asking for app B's user-assigned identity is refused), the node's identity is reachable from no
// sandbox (the agent's own endpoint is not relayed in), and a server on the host's loopback
// outside the list is reachable from inside.
func TestSandboxIsolation(t *testing.T) {
	s := startSandboxNode(t)
	imds := func(query string) string {
		return `curl -s -o /dev/null -w '%{http_code}' -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/` + query + `"`
	}
	cases := []struct {
		name, site, script, want string
	}{
		{"own system-assigned identity", s.site.ID, imds(""), "200"},
		{"own user-assigned identity", s.site.ID, imds("&client_id=" + s.ua.Properties.ClientID), "200"},
		{"another app's user-assigned identity", s.site.ID, imds("&client_id=" + s.bUA.Properties.ClientID), "400"},
		{"the other app, its own one", s.b.ID, imds("&client_id=" + s.bUA.Properties.ClientID), "200"},
		{"the other app, the first app's", s.b.ID, imds("&client_id=" + s.ua.Properties.ClientID), "400"},
		{"the node's identity through the agent's loopback endpoint", s.site.ID,
			`curl -s -o /dev/null -w '%{http_code}' -H Metadata:true "` + s.agent.URL() + `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" || true`, "000"},
	}
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go http.Serve(host, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("from-the-host")) }))
	if _, err := exec.LookPath("curl"); err != nil {
		missing(t, "LANYARD_REQUIRE_CURL", "curl is not installed")
	}
	// The loopback relay reads the host's listening ports every second: a server started after
	// the sandbox is reachable within a moment, not at once (a loaded machine takes longer).
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, err := s.run(t, s.site.ID, nil, "sh", "-c", `curl -s http://`+host.Addr().String()+`/`)
		if err == nil && strings.TrimSpace(out) == "from-the-host" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("a server on the host's loopback: %v %q, want %q", err, out, "from-the-host")
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range cases {
		out, err := s.run(t, c.site, nil, "sh", "-c", c.script)
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("%s: %v %q, want %q", c.name, err, out, c.want)
		}
	}
}

// TestSandboxSupervisedApp: an app of the agent's own (a command it runs and restarts, as
// `apps:` configures) runs in its sandbox too: its 169.254.169.254 answers with its identity and
// graph.microsoft.com resolves to the relay.
func TestSandboxSupervisedApp(t *testing.T) {
	s := startSandboxNode(t)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	script := `getent hosts graph.microsoft.com | cut -d' ' -f1 > ` + out + `.tmp
curl -s -o /dev/null -w '%{http_code}' -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" >> ` + out + `.tmp
mv ` + out + `.tmp ` + out + `; sleep 60`
	if _, err := s.agent.StartApp(ctx, agent.AppConfig{Site: s.b.ID, Command: []string{"sh", "-c", script}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		raw, err := os.ReadFile(out)
		if err == nil {
			if got := strings.TrimSpace(string(raw)); got != sandbox.RelayAddr.String()+"\n200" {
				t.Fatalf("the supervised app saw %q, want the relay's address and a 200", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the supervised app wrote nothing in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSandboxConfiguredApp: an app of the agent's configuration (`apps:`) gets its sandbox when
// the agent runs, with the agent's own ports kept out of it.
func TestSandboxConfiguredApp(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skipf("this host does not allow sandboxes: %v", err)
	}
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := client.ResourceGroupPath(sub.SubscriptionID, "apps")
	armDo(t, env, http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil)
	var site armRes
	armDo(t, env, http.MethodPut, group+"/providers/Microsoft.Web/sites/configured", vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "cfg-node"}},
	}, &site)
	out := filepath.Join(t.TempDir(), "out")
	script := `{ getent hosts graph.microsoft.com | cut -d' ' -f1
curl -s -o /dev/null -w '%{http_code}\n' -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"
echo "$IDENTITY_ENDPOINT"; } > ` + out + `.tmp; mv ` + out + `.tmp ` + out + `; sleep 60`
	env.StartAgent(t, "cfg-node", agent.Config{Sandbox: agent.SandboxOn,
		Apps: []agent.AppConfig{{Site: site.ID, Command: []string{"sh", "-c", script}}}})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		raw, err := os.ReadFile(out)
		if err == nil {
			if want := sandbox.RelayAddr.String() + "\n200\nhttp://169.254.169.254/msi/token\n"; string(raw) != want {
				t.Fatalf("the configured app saw %q, want %q", raw, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the configured app wrote nothing in 30 s")
		}
	}
}
