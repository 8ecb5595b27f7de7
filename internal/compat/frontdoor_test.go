package compat

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// Seed 002 end to end: function app msi-func (system-assigned identity) calls function app
// aad-func, an API behind App Service Authentication, through aad-func's front door on the
// agent. aad-func is a plain Node HTTP server (testdata/frontdoor/api.js) that answers with the
// X-MS-CLIENT-PRINCIPAL it was given; the caller is the unmodified Node @azure/identity
// (testdata/node-identity/frontdoor-call.mjs) or Go azidentity.

const (
	seedNode = "fd-node"
	seedURI  = "api://aad-func"
)

type seed struct {
	env      *lanyardtest.Env
	agent    *lanyardtest.Agent
	group    string
	aad, msi armRes
	api      sp     // aad-func's app registration's service principal
	msiSP    sp     // msi-func's identity
	door     string // the front door's address, 127.0.0.1:PORT
	host     string // aad-func.sites.localhost:PORT
	msiEnv   agent.Env
}

// authBody is aad-func's authsettingsV2 as the seed sets it up (the portal's "Express" mode:
// the Microsoft provider with the app's registration, 401 for unauthenticated API calls).
func (s *seed) authBody(edit func(aad map[string]any)) map[string]any {
	aad := map[string]any{
		"enabled": true,
		"registration": map[string]any{
			"clientId": s.api.AppID, "openIdIssuer": s.env.Server.Tokens.Issuer(s.env.Server.Default.ID),
		},
		"validation": map[string]any{"allowedAudiences": []string{seedURI}},
	}
	if edit != nil {
		edit(aad)
	}
	return map[string]any{"properties": map[string]any{
		"platform":          map[string]any{"enabled": true, "runtimeVersion": "~1"},
		"globalValidation":  map[string]any{"requireAuthentication": true, "unauthenticatedClientAction": "Return401"},
		"httpSettings":      map[string]any{"requireHttps": true},
		"identityProviders": map[string]any{"azureActiveDirectory": aad},
	}}
}

func startSeed(t *testing.T) *seed {
	t.Helper()
	return startSeedWith(t, lanyardtest.Options{})
}

// startSeedWith is startSeed with the server's options (its clock, say).
func startSeedWith(t *testing.T, o lanyardtest.Options) *seed {
	t.Helper()
	node := requireNode(t, nodeIdentityDir, "@azure/identity")
	env := lanyardtest.Start(t, o)
	s := &seed{env: env}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	armDo(t, env, http.MethodGet, "/subscriptions", "2022-12-01", nil, &subs)
	s.group = "/subscriptions/" + subs.Value[0].SubscriptionID + "/resourceGroups/seed002"
	armDo(t, env, http.MethodPut, s.group, vRG, map[string]any{"location": "local"}, nil)
	site := func(name string, identity map[string]any) armRes {
		var r armRes
		body := map[string]any{"location": "local", "kind": "functionapp,linux", "properties": map[string]any{"lanyard": map[string]string{"node": seedNode}}}
		if identity != nil {
			body["identity"] = identity
		}
		armDo(t, env, http.MethodPut, s.group+"/providers/Microsoft.Web/sites/"+name, vWeb, body, &r)
		return r
	}
	s.aad = site("aad-func", nil)
	s.msi = site("msi-func", map[string]any{"type": "SystemAssigned"})
	// aad-func's registration: identifier URI and the app role DoAll for applications.
	s.api = newApp(t, env, "aad-func", map[string]any{
		"identifierUris": []string{seedURI},
		"appRoles": []map[string]any{{
			"id": "1b4f816e-5eaf-48b9-8613-7923830595ad", "value": "DoAll", "displayName": "Do all", "description": "Do all",
			"allowedMemberTypes": []string{"Application"}, "isEnabled": true,
		}},
	})
	graph(t, env, http.MethodGet, "/v1.0/servicePrincipals/"+s.msi.Identity.PrincipalID, nil, &s.msiSP)
	armDo(t, env, http.MethodPut, s.aad.ID+"/config/authsettingsV2", vWeb, s.authBody(nil), nil)

	api, err := filepath.Abs("testdata/frontdoor/api.js")
	if err != nil {
		t.Fatal(err)
	}
	s.agent = env.StartAgent(t, seedNode, agent.Config{
		FrontDoor: agent.FrontDoorConfig{Listen: "127.0.0.1:0"},
		Apps:      []agent.AppConfig{{Site: s.aad.ID, Command: []string{node, api}}},
	})
	s.door = strings.TrimPrefix(s.agent.FrontDoorURL(), "https://")
	_, port, _ := net.SplitHostPort(s.door)
	s.host = "aad-func.sites.localhost:" + port
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if s.msiEnv, err = s.agent.StartApp(ctx, agent.AppConfig{Site: s.msi.ID}); err != nil {
		t.Fatal(err)
	}
	// Wait for aad-func to be up behind its front door (503 while it starts).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, body, err := s.try("", "/api/whoami")
		if err == nil && code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aad-func is not served: %d %s %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// client is an HTTPS client that trusts Lanyard's CA and reaches every site through the front
// door (the site's host name does not resolve here).
func (s *seed) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.env.CAPool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.door)
		},
	}}
}

// get calls aad-func through its front door with token (none when "").
func (s *seed) get(t *testing.T, token, path string) (int, http.Header, string) {
	t.Helper()
	code, h, body, err := s.try(token, path)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, body
}

func (s *seed) try(token, path string) (int, http.Header, string, error) {
	return s.tryHost(s.host, token, path)
}

// tryHost calls the site of host (name:port) through the front door.
func (s *seed) tryHost(host, token, path string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	if err != nil {
		return 0, nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-MS-CLIENT-PRINCIPAL", "eyJhdXRoX3R5cCI6ImFhZCIsImNsYWltcyI6W3sidHlwIjoicm9sZXMiLCJ2YWwiOiJEb0FsbCJ9XX0=")
	resp, err := s.client().Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

// calls counts the requests aad-func has seen (its log, where api.js writes a line for each).
func (s *seed) calls(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile(agent.LogPath(s.agent.Config.StateDir, "aad-func"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(raw), "request GET")
}

// apiAnswer is what api.js answers.
type apiAnswer struct {
	Principal *struct {
		AuthTyp string `json:"auth_typ"`
		Claims  []struct {
			Typ string `json:"typ"`
			Val string `json:"val"`
		} `json:"claims"`
		NameTyp string `json:"name_typ"`
		RoleTyp string `json:"role_typ"`
	} `json:"principal"`
	Roles        []string `json:"roles"`
	DoAll        bool     `json:"doAll"`
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	IDP          string   `json:"idp"`
	ForwardedFor string   `json:"forwardedFor"`
	AuthEnabled  string   `json:"authEnabled"`
	Hostname     string   `json:"hostname"`
}

func decodeAnswer(t *testing.T, body string) apiAnswer {
	t.Helper()
	var a apiAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("aad-func's answer %q: %v", body, err)
	}
	return a
}

// checkCaller checks that aad-func saw msi-func's identity (and not the forged principal).
func (s *seed) checkCaller(t *testing.T, a apiAnswer, wantDoAll bool) {
	t.Helper()
	if a.Principal == nil || a.Principal.AuthTyp != "aad" || a.ID != s.msi.Identity.PrincipalID || a.IDP != "aad" || a.Name == "forged" || a.Name == "" {
		t.Fatalf("aad-func saw principal %+v id=%q name=%q idp=%q, want msi-func's %s", a.Principal, a.ID, a.Name, a.IDP, s.msi.Identity.PrincipalID)
	}
	oid := ""
	for _, c := range a.Principal.Claims {
		if c.Typ == "http://schemas.microsoft.com/identity/claims/objectidentifier" {
			oid = c.Val
		}
	}
	if oid != s.msi.Identity.PrincipalID {
		t.Errorf("objectidentifier claim %q", oid)
	}
	if a.DoAll != wantDoAll || slices.Contains(a.Roles, "DoAll") != wantDoAll {
		t.Errorf("roles %q (doAll %v), want DoAll: %v", a.Roles, a.DoAll, wantDoAll)
	}
	if a.AuthEnabled != "True" || !strings.HasPrefix(a.Hostname, "aad-func.") {
		t.Errorf("aad-func's environment: WEBSITE_AUTH_ENABLED=%q WEBSITE_HOSTNAME=%q", a.AuthEnabled, a.Hostname)
	}
}

// nodeCall runs frontdoor-call.mjs as msi-func with its identity environment.
func (s *seed) nodeCall(t *testing.T, noToken bool) (int, string, string) {
	t.Helper()
	node, _ := exec.LookPath("node")
	cmd := exec.Command(node, "frontdoor-call.mjs")
	cmd.Dir = nodeIdentityDir
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"}, k) {
			env = append(env, kv)
		}
	}
	env = append(env, s.msiEnv.List()...)
	env = append(env, "LANYARD_API_URL=https://"+s.host+"/api/whoami", "LANYARD_CONNECT="+s.door, "LANYARD_SCOPE="+seedURI+"/.default")
	if noToken {
		env = append(env, "LANYARD_NO_TOKEN=1")
	}
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("frontdoor-call.mjs: %v\n%s", err, stderr)
	}
	var r struct {
		Status          int    `json:"status"`
		WWWAuthenticate string `json:"wwwAuthenticate"`
		Body            string `json:"body"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("frontdoor-call.mjs printed %q", out)
	}
	return r.Status, r.WWWAuthenticate, r.Body
}

// TestFrontDoorSeed002Node walks the seed with Node @azure/identity as msi-func: without the
// role assignment aad-func is called and sees no DoAll; after `DoAll` is assigned to msi-func's
// identity it sees DoAll. Without a token the front door answers 401 and aad-func is not called.
func TestFrontDoorSeed002Node(t *testing.T) {
	s := startSeed(t)
	before := s.calls(t)
	code, challenge, body := s.nodeCall(t, true)
	if code != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") {
		t.Fatalf("no token: %d %q %s", code, challenge, body)
	}
	if s.calls(t) != before {
		t.Fatal("aad-func was called without a token")
	}
	code, _, body = s.nodeCall(t, false)
	if code != http.StatusOK {
		t.Fatalf("no role: %d %s", code, body)
	}
	s.checkCaller(t, decodeAnswer(t, body), false)

	grant(t, s.env, s.msiSP, s.api, "DoAll")
	// The agent drops msi-func's cached tokens when the server tells it of the change.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, body = s.nodeCall(t, false)
		if code == http.StatusOK && decodeAnswer(t, body).DoAll {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the assignment: %d %s", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.checkCaller(t, decodeAnswer(t, body), true)
}

// azToken gets msi-func's token for aad-func with Go azidentity, as msi-func's code would.
func (s *seed) azToken(t *testing.T) string {
	t.Helper()
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER"} {
		t.Setenv(k, s.msiEnv[k])
	}
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("MSI_SECRET", "")
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{seedURI + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// TestFrontDoorSeed002Go: the same with Go azidentity (role assigned first), then every refusal
// of the front door with real tokens of this server: each one leaves aad-func uncalled.
func TestFrontDoorSeed002Go(t *testing.T) {
	s := startSeed(t)
	grant(t, s.env, s.msiSP, s.api, "DoAll")
	tok := s.azToken(t)
	if !slices.Contains(roles(t, tok), "DoAll") {
		t.Fatalf("msi-func's token has roles %q", roles(t, tok))
	}
	code, _, body := s.get(t, tok, "/api/whoami")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	a := decodeAnswer(t, body)
	s.checkCaller(t, a, true)
	if a.ForwardedFor != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", a.ForwardedFor)
	}

	// HTTP/2 is offered on the TLS listener (ALPN).
	req, _ := http.NewRequest(http.MethodGet, "https://"+s.host+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := s.client().Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			t.Errorf("over HTTP/2: %s %d", resp.Proto, resp.StatusCode)
		}
	}

	// /.auth/me answers for the caller.
	code, _, body = s.get(t, tok, "/.auth/me")
	if code != http.StatusOK || !strings.Contains(body, `"provider_name":"aad"`) || !strings.Contains(body, s.msi.Identity.PrincipalID) {
		t.Errorf("/.auth/me: %d %s", code, body)
	}

	refuse := func(name, token string, want int) {
		t.Helper()
		before := s.calls(t)
		code, h, body := s.get(t, token, "/api/whoami")
		if code != want {
			t.Errorf("%s: %d %s, want %d", name, code, body, want)
		}
		if want == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer realm=") {
			t.Errorf("%s: WWW-Authenticate %q", name, h.Get("WWW-Authenticate"))
		}
		if s.calls(t) != before {
			t.Errorf("%s: aad-func was called", name)
		}
	}
	refuse("no token", "", http.StatusUnauthorized)
	refuse("another audience", mint(t, s.env, s.msi.Identity.PrincipalID, "https://graph.microsoft.com"), http.StatusUnauthorized)
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[10] ^= 1
	refuse("bad signature", parts[0]+"."+parts[1]+"."+string(sig), http.StatusUnauthorized)
	refuse("not a JWT", "not-a-token", http.StatusUnauthorized)

	// A token of another tenant (for an API of the same identifier URI there): 401.
	ctx := context.Background()
	t2, err := s.env.Admin.CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	other := *s.env.Admin
	other.Tenant = t2.ID
	var otherApp, otherCaller struct {
		AppID string `json:"appId"`
	}
	var otherCallerSP sp
	for _, step := range []struct {
		path string
		in   map[string]any
		out  any
	}{
		{"/v1.0/applications", map[string]any{"displayName": "aad-func", "identifierUris": []string{seedURI}}, &otherApp},
		{"/v1.0/applications", map[string]any{"displayName": "caller"}, &otherCaller},
	} {
		if err := other.Do(ctx, http.MethodPost, step.path, step.in, step.out); err != nil {
			t.Fatal(err)
		}
	}
	for _, appID := range []string{otherApp.AppID, otherCaller.AppID} {
		if err := other.Do(ctx, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": appID}, &otherCallerSP); err != nil {
			t.Fatal(err)
		}
	}
	var minted struct {
		AccessToken string `json:"access_token"`
	}
	if err := other.Do(ctx, http.MethodPost, "/admin/v1/tokens", map[string]any{"principalId": otherCallerSP.ID, "resource": seedURI, "tenantId": t2.ID}, &minted); err != nil {
		t.Fatal(err)
	}
	if c := claims(t, minted.AccessToken); c["tid"] != t2.ID || c["aud"] != seedURI {
		t.Fatalf("the other tenant's token: tid %v aud %v", c["tid"], c["aud"])
	}
	refuse("another tenant", minted.AccessToken, http.StatusUnauthorized)

	// allowedApplications not listing msi-func: 403 from the front door.
	armDo(t, s.env, http.MethodPut, s.aad.ID+"/config/authsettingsV2", vWeb, s.authBody(func(aad map[string]any) {
		aad["validation"].(map[string]any)["defaultAuthorizationPolicy"] = map[string]any{
			"allowedApplications": []string{"00000000-0000-0000-0000-00000000abcd"},
		}
	}), nil)
	if err := s.agent.SyncSites(context.Background()); err != nil {
		t.Fatal(err)
	}
	refuse("allowedApplications without the caller", tok, http.StatusForbidden)
	// ... and listing it: through again.
	armDo(t, s.env, http.MethodPut, s.aad.ID+"/config/authsettingsV2", vWeb, s.authBody(func(aad map[string]any) {
		aad["validation"].(map[string]any)["defaultAuthorizationPolicy"] = map[string]any{
			"allowedApplications": []string{s.msiSP.AppID},
			"allowedPrincipals":   map[string]any{"identities": []string{s.msi.Identity.PrincipalID}},
		}
	}), nil)
	if err := s.agent.SyncSites(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _, body := s.get(t, tok, "/api/whoami"); code != http.StatusOK {
		t.Errorf("allowed application and identity: %d %s", code, body)
	}
	// Plain HTTP is refused while requireHttps is on (the front door has no plain listener
	// here, so this checks the certificate instead: it names the site).
	conn, err := tls.Dial("tcp", s.door, &tls.Config{RootCAs: s.env.CAPool, ServerName: "aad-func.sites.localhost"})
	if err != nil {
		t.Fatalf("TLS to the front door as aad-func.sites.localhost: %v", err)
	}
	conn.Close()
	if _, err := tls.Dial("tcp", s.door, &tls.Config{RootCAs: s.env.CAPool, ServerName: "other.sites.localhost"}); err == nil {
		t.Error("the front door's certificate is valid for a site not on this node")
	}
}

// TestFrontDoorAgentLifecycle: a second site on the same agent, routed by host name, with Easy
// Auth off; 503 while its app starts, 502 when it crashes mid-request, served again after the
// agent restarts it, 503 once it is stopped.
func TestFrontDoorAgentLifecycle(t *testing.T) {
	s := startSeed(t)
	node, _ := exec.LookPath("node")
	api, _ := filepath.Abs("testdata/frontdoor/api.js")
	var web armRes
	armDo(t, s.env, http.MethodPut, s.group+"/providers/Microsoft.Web/sites/web-b", vWeb, map[string]any{
		"location": "local", "kind": "app,linux", "properties": map[string]any{"lanyard": map[string]string{"node": seedNode}},
	}, &web)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if _, err := s.agent.StartApp(ctx, agent.AppConfig{Site: web.ID, Command: []string{node, api}, Env: map[string]string{"LANYARD_DELAY_MS": "1500"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.agent.SyncSites(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.door)
	host := "web-b.sites.localhost:" + port
	code, _, body, err := s.tryHost(host, "", "/")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("while web-b starts: %d %q %v", code, body, err)
	}
	waitFor := func(what string, want int) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, _, body, err := s.tryHost(host, "", "/")
			if err == nil && code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %q %v, want %d", what, code, body, err, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	body = waitFor("web-b started", http.StatusOK)
	if a := decodeAnswer(t, body); a.Principal != nil || a.AuthEnabled != "" || !strings.HasPrefix(a.Hostname, "web-b.") {
		t.Errorf("web-b (no Easy Auth) saw %+v", a)
	}
	// Same agent, same port, other host name: aad-func still demands a token.
	if code, _, _ := s.get(t, "", "/"); code != http.StatusUnauthorized {
		t.Errorf("aad-func: %d", code)
	}
	code, _, body, err = s.tryHost(host, "", "/crash")
	if err != nil || code != http.StatusBadGateway {
		t.Errorf("crash: %d %q %v", code, body, err)
	}
	waitFor("web-b restarted", http.StatusOK)
	stop()
	body = waitFor("web-b stopped", http.StatusServiceUnavailable)
	if !strings.Contains(body, "stopped") {
		t.Errorf("stopped: %q", body)
	}
	// Per-site metrics on the agent's /metrics.
	_, _, metrics := getURL(t, s.agent.URL()+"/metrics")
	for _, want := range []string{`lanyard_frontdoor_requests_total{class="5xx",site="web-b"}`, `lanyard_frontdoor_requests_total{class="2xx",site="web-b"}`,
		`lanyard_frontdoor_request_duration_seconds_count{site="web-b"}`, `lanyard_frontdoor_requests_total{class="4xx",site="aad-func"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	// A site placed on another node: the agent may run an app with its id, but the front door
	// neither serves it nor holds a certificate for its name.
	var elsewhere armRes
	armDo(t, s.env, http.MethodPut, s.group+"/providers/Microsoft.Web/sites/elsewhere", vWeb, map[string]any{
		"location": "local", "kind": "app", "properties": map[string]any{"lanyard": map[string]string{"node": "another-node"}},
	}, &elsewhere)
	if _, err := s.agent.StartApp(ctx2(t), agent.AppConfig{Site: elsewhere.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.agent.SyncSites(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := tls.Dial("tcp", s.door, &tls.Config{RootCAs: s.env.CAPool, ServerName: "elsewhere.sites.localhost"}); err == nil {
		c.Close()
		t.Error("the front door holds a certificate for a site placed on another node")
	}
	if code, _, body, err := s.tryHost("aad-func.sites.localhost:"+port, "", "/"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("aad-func after the sync: %d %q %v", code, body, err)
	}
	// The access log (`lanyard webapp log tail --access`) has a line per request, with its status.
	raw, err := os.ReadFile(agent.AccessLogPath(s.agent.Config.StateDir, "web-b"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(raw)
	for _, want := range []string{" GET /crash 502 ", " GET / 503 ", " GET / 200 "} {
		if !strings.Contains(log, want) {
			t.Errorf("the access log has no %q:\n%s", want, log)
		}
	}
}

func getURL(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func ctx2(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// TestFrontDoorSiteOnTwoNodes: a site placed on two nodes (properties.lanyard.nodes) is served by
// each node's agent, with its own copy of the app, under the same host name; each agent may get
// the site's tokens; a third node may not.
func TestFrontDoorSiteOnTwoNodes(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	group := "/subscriptions/" + sub.SubscriptionID + "/resourceGroups/multi"
	armDo(t, env, http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil)
	var site armRes
	armDo(t, env, http.MethodPut, group+"/providers/Microsoft.Web/sites/api-multi", vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]any{"nodes": []string{"n1", "n2"}}},
	}, &site)
	for _, name := range []string{"n1", "n2", "n3"} {
		ag := env.StartAgent(t, name, agent.Config{FrontDoor: agent.FrontDoorConfig{Listen: "127.0.0.1:0"}})
		appEnv, err := ag.StartApp(ctx2(t), agent.AppConfig{Site: site.ID})
		if err != nil {
			t.Fatal(err)
		}
		tok := appToken(t, appEnv, appEnv["IDENTITY_HEADER"], url.Values{"resource": {"https://management.azure.com/"}})
		if name == "n3" {
			if tok.status == http.StatusOK {
				t.Errorf("n3 (the site is not placed there) got a token for it")
			}
			if c, err := tls.Dial("tcp", strings.TrimPrefix(ag.FrontDoorURL(), "https://"), &tls.Config{RootCAs: env.CAPool, ServerName: "api-multi.sites.localhost"}); err == nil {
				c.Close()
				t.Error("n3 holds a certificate for the site")
			}
			continue
		}
		if tok.status != http.StatusOK {
			t.Fatalf("%s: token for its copy of the site: %d %s", name, tok.status, tok.raw)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+appEnv["PORT"])
		if err != nil {
			t.Fatal(err)
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "copy on "+name) }))
		t.Cleanup(func() { ln.Close() })
		door := strings.TrimPrefix(ag.FrontDoorURL(), "https://")
		_, port, _ := net.SplitHostPort(door)
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: env.CAPool},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, door)
			},
		}}
		resp, err := client.Get("https://api-multi.sites.localhost:" + port + "/")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "copy on "+name {
			t.Errorf("%s's front door: %d %q", name, resp.StatusCode, body)
		}
	}
}

// TestFrontDoorExpiredToken: the server's clock is two hours behind, so a token it signs for
// msi-func expired an hour ago by the front door's clock: 401, aad-func not called.
func TestFrontDoorExpiredToken(t *testing.T) {
	s := startSeedWith(t, lanyardtest.Options{Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	// The agent itself refuses to hand out a token that is already expired by its clock; the
	// server's administrator mint signs the same token msi-func would get.
	tok := mint(t, s.env, s.msi.Identity.PrincipalID, seedURI)
	if exp, _ := claims(t, tok)["exp"].(float64); time.Unix(int64(exp), 0).After(time.Now().Add(-30 * time.Minute)) {
		t.Fatalf("the token expires at %v: not expired", time.Unix(int64(exp), 0))
	}
	before := s.calls(t)
	code, h, body := s.get(t, tok, "/api/whoami")
	if code != http.StatusUnauthorized || !strings.Contains(body, "expired") || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("expired token: %d %q %q", code, h.Get("WWW-Authenticate"), body)
	}
	if s.calls(t) != before {
		t.Error("aad-func was called with an expired token")
	}
}

// TestFrontDoorSandboxedApp: an app in a sandbox (its own network namespace) listens on its
// $PORT there; the front door reaches it inside the sandbox.
func TestFrontDoorSandboxedApp(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skipf("this host does not allow sandboxes: %v", err)
	}
	node := requireNode(t, nodeIdentityDir, "@azure/identity")
	api, _ := filepath.Abs("testdata/frontdoor/api.js")
	env := lanyardtest.Start(t, lanyardtest.Options{})
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	group := "/subscriptions/" + sub.SubscriptionID + "/resourceGroups/sbx"
	armDo(t, env, http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil)
	var site armRes
	armDo(t, env, http.MethodPut, group+"/providers/Microsoft.Web/sites/boxed", vWeb, map[string]any{
		"location": "local", "kind": "app", "properties": map[string]any{"lanyard": map[string]string{"node": "sbx-door"}},
	}, &site)
	ag := env.StartAgent(t, "sbx-door", agent.Config{Sandbox: agent.SandboxOn, FrontDoor: agent.FrontDoorConfig{Listen: "127.0.0.1:0"}})
	if _, err := ag.StartApp(ctx2(t), agent.AppConfig{Site: site.ID, Command: []string{node, api}}); err != nil {
		t.Fatal(err)
	}
	door := strings.TrimPrefix(ag.FrontDoorURL(), "https://")
	_, port, _ := net.SplitHostPort(door)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: env.CAPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, door)
		},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("https://boxed.sites.localhost:" + port + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if a := decodeAnswer(t, string(body)); !strings.HasPrefix(a.Hostname, "boxed.") {
					t.Errorf("the sandboxed app saw %+v", a)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the sandboxed app: %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
