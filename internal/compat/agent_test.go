package compat

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// The agent end to end: a real server, a real agent enrolled with a join token, real SDKs.

const (
	vRG  = "2021-04-01"
	vWeb = "2022-09-01"
	vMSI = "2023-01-31"
)

// node is a server with an enrolled agent and a site placed on the agent's node.
type node struct {
	env   *lanyardtest.Env
	agent *lanyardtest.Agent
	sub   string
	group string // the resource group's ARM id
	site  armRes // placed on the node, system-assigned on, ua attached
	ua    armRes // a user-assigned identity attached to site
	other armRes // a site placed on another node
}

// armRes is the part of a resource the tests read.
type armRes struct {
	ID       string `json:"id"`
	Identity struct {
		PrincipalID            string `json:"principalId"`
		UserAssignedIdentities map[string]struct {
			PrincipalID string `json:"principalId"`
			ClientID    string `json:"clientId"`
		} `json:"userAssignedIdentities"`
	} `json:"identity"`
	Properties struct {
		PrincipalID string `json:"principalId"`
		ClientID    string `json:"clientId"`
	} `json:"properties"`
}

// armDo calls the management API as administrator.
func armDo(t *testing.T, env *lanyardtest.Env, method, path, version string, in, out any) {
	t.Helper()
	graph(t, env, method, path+"?api-version="+version, in, out)
}

func startNode(t *testing.T, name string) *node {
	t.Helper()
	return startNodeWith(t, name, agent.Config{})
}

// startNodeWith is startNode with the agent's configuration.
func startNodeWith(t *testing.T, name string, cfg agent.Config) *node {
	t.Helper()
	env := lanyardtest.Start(t, lanyardtest.Options{})
	n := &node{env: env}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	armDo(t, env, http.MethodGet, "/subscriptions", "2022-12-01", nil, &subs)
	n.sub = subs.Value[0].SubscriptionID
	n.group = "/subscriptions/" + n.sub + "/resourceGroups/apps"
	armDo(t, env, http.MethodPut, n.group, vRG, map[string]any{"location": "local"}, nil)
	armDo(t, env, http.MethodPut, n.group+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared", vMSI, map[string]any{"location": "local"}, &n.ua)
	site := func(name, node string, identity map[string]any) armRes {
		var r armRes
		armDo(t, env, http.MethodPut, n.group+"/providers/Microsoft.Web/sites/"+name, vWeb, map[string]any{
			"location": "local", "kind": "app", "identity": identity,
			"properties": map[string]any{"lanyard": map[string]string{"node": node}},
		}, &r)
		return r
	}
	n.site = site("app-a", name, map[string]any{"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map[string]any{n.ua.ID: map[string]any{}}})
	n.other = site("app-elsewhere", "another-node", map[string]any{"type": "SystemAssigned"})
	n.agent = env.StartAgent(t, name, cfg)
	return n
}

// api registers an API whose tokens the tests ask for, with an app role "Jobs.Run".
var apiRun atomic.Int64

func (n *node) api(t *testing.T) (sp, string) {
	t.Helper()
	uri := "api://lanyard-e2e-" + strconv.FormatInt(apiRun.Add(1), 10)
	s := newApp(t, n.env, "api "+uri, map[string]any{
		"identifierUris": []string{uri},
		"appRoles": []map[string]any{{
			"id": "6a1f4a59-3b8d-4c3e-9d0f-0d6f1f6b3a01", "value": "Jobs.Run", "displayName": "Run jobs", "description": "Run jobs",
			"allowedMemberTypes": []string{"Application"}, "isEnabled": true,
		}},
	})
	return s, uri
}

// verify checks raw with go-oidc against the server's discovery document and returns its claims.
func (n *node) verify(t *testing.T, raw, aud string) map[string]any {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), n.env.HTTP)
	provider, err := oidc.NewProvider(ctx, n.env.Server.Tokens.Issuer(n.env.Server.Default.ID))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: aud}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the token: %v", err)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// app starts serving the identity of the node's site and returns its environment.
func (n *node) app(t *testing.T, site string) agent.Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env, err := n.agent.StartApp(ctx, agent.AppConfig{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// endpointReply is an answer of one of the agent's endpoints.
type endpointReply struct {
	status int
	body   map[string]any
	raw    string
}

func call(t *testing.T, rawURL string, header map[string]string) endpointReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := endpointReply{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// appToken asks the App Service endpoint (2019-08-01) for a token.
func appToken(t *testing.T, env agent.Env, header string, q url.Values) endpointReply {
	t.Helper()
	q.Set("api-version", "2019-08-01")
	h := map[string]string{}
	if header != "" {
		h["X-IDENTITY-HEADER"] = header
	}
	return call(t, env["IDENTITY_ENDPOINT"]+"?"+q.Encode(), h)
}

func TestAgentAzidentityAppService(t *testing.T) {
	n := startNode(t, "node1")
	env := n.app(t, n.site.ID)
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER"} {
		t.Setenv(k, env[k])
	}
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("MSI_SECRET", "")
	ua := n.ua.Properties
	cases := []struct {
		name string
		id   azidentity.ManagedIDKind
		oid  string
		mir  string
	}{
		{"system", nil, n.site.Identity.PrincipalID, n.site.ID},
		{"client id", azidentity.ClientID(ua.ClientID), ua.PrincipalID, n.ua.ID},
		{"object id", azidentity.ObjectID(ua.PrincipalID), ua.PrincipalID, n.ua.ID},
		{"resource id", azidentity.ResourceID(n.ua.ID), ua.PrincipalID, n.ua.ID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// MSAL's token cache is process-wide: an API of each case's own keeps the cases apart.
			_, uri := n.api(t)
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uri + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			c := n.verify(t, tok.Token, uri)
			if c["oid"] != tc.oid || !strings.EqualFold(fmt.Sprint(c["xms_mirid"]), tc.mir) || c["aud"] != uri {
				t.Errorf("claims oid=%v xms_mirid=%v aud=%v, want %s %s %s", c["oid"], c["xms_mirid"], c["aud"], tc.oid, tc.mir, uri)
			}
			if tc.oid == ua.PrincipalID && c["appid"] != ua.ClientID {
				t.Errorf("appid %v, want the identity's client id %s", c["appid"], ua.ClientID)
			}
			minted := agentMisses(t, n.agent)
			again, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uri + "/.default"}})
			if err != nil || again.Token != tok.Token {
				t.Fatalf("second GetToken: %v (same token: %v)", err, again.Token == tok.Token)
			}
			if agentMisses(t, n.agent) != minted {
				t.Error("the second GetToken made the agent mint")
			}
		})
	}
	t.Run("DefaultAzureCredential with AZURE_CLIENT_ID", func(t *testing.T) {
		_, uri := n.api(t)
		t.Setenv("AZURE_CLIENT_ID", ua.ClientID)
		t.Setenv("AZURE_TENANT_ID", "")
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
		t.Setenv("AZURE_TOKEN_CREDENTIALS", "")
		os.Unsetenv("AZURE_TOKEN_CREDENTIALS") // set but empty is an error; t.Setenv restores it
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uri + "/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		if c := n.verify(t, tok.Token, uri); c["oid"] != ua.PrincipalID || c["appid"] != ua.ClientID {
			t.Errorf("DefaultAzureCredential got a token for oid %v appid %v", c["oid"], c["appid"])
		}
	})
}

func TestAgentIMDSNodeIdentity(t *testing.T) {
	n := startNode(t, "node-imds")
	nodes, err := n.env.Admin.ListNodes(t.Context())
	if err != nil || len(nodes) != 1 || nodes[0].Name != "node-imds" {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	var machine armRes
	armDo(t, n.env, http.MethodGet, nodes[0].MachineResourceID, "2024-07-10", nil, &machine)
	if machine.Identity.PrincipalID == "" {
		t.Fatalf("machine %s has no system-assigned identity", nodes[0].MachineResourceID)
	}
	_, uri := n.api(t)
	r := call(t, n.agent.URL()+agent.PathIMDS+"?api-version=2018-02-01&resource="+url.QueryEscape(uri), map[string]string{"Metadata": "true"})
	if r.status != http.StatusOK {
		t.Fatalf("IMDS: %d %s", r.status, r.raw)
	}
	c := n.verify(t, r.body["access_token"].(string), uri)
	if c["oid"] != machine.Identity.PrincipalID || !strings.EqualFold(fmt.Sprint(c["xms_mirid"]), machine.ID) {
		t.Errorf("IMDS token oid %v xms_mirid %v, want the machine's %s", c["oid"], c["xms_mirid"], machine.Identity.PrincipalID)
	}
	if r := call(t, n.agent.URL()+agent.PathIMDS+"?api-version=2018-02-01&resource="+url.QueryEscape(uri),
		map[string]string{"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}); r.status != http.StatusBadRequest {
		t.Errorf("IMDS with X-Forwarded-For: %d %s, want 400", r.status, r.raw)
	}
	// The node's IMDS endpoint serves the node, not the apps on it.
	if r := call(t, n.agent.URL()+agent.PathIMDS+"?api-version=2018-02-01&object_id="+n.site.Identity.PrincipalID+"&resource="+url.QueryEscape(uri),
		map[string]string{"Metadata": "true"}); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "Identity not found") {
		t.Errorf("IMDS for an app's identity: %d %s, want 400 Identity not found", r.status, r.raw)
	}
}

func TestAgentRefusals(t *testing.T) {
	n := startNode(t, "node1")
	env := n.app(t, n.site.ID)
	_, uri := n.api(t)
	header := env["IDENTITY_HEADER"]
	q := func(kv ...string) url.Values {
		v := url.Values{"resource": {uri}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	if r := appToken(t, env, header, q()); r.status != http.StatusOK {
		t.Fatalf("a good request: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct {
		name   string
		header string
		q      url.Values
		status int
		want   string
	}{
		{"no header", "", q(), http.StatusUnauthorized, ""},
		{"wrong header", strings.Repeat("0", len(header)), q(), http.StatusUnauthorized, ""},
		{"identity not attached", header, q("client_id", "11111111-2222-3333-4444-555555555555"), http.StatusBadRequest, "Identity not found"},
		{"another app's identity", header, q("principal_id", n.other.Identity.PrincipalID), http.StatusBadRequest, "Identity not found"},
		{"unknown resource", header, url.Values{"resource": {"https://nothing-here.example"}}, http.StatusBadRequest, "invalid_resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := appToken(t, env, tc.header, tc.q)
			if r.status != tc.status || !strings.Contains(r.raw, tc.want) || r.body == nil {
				t.Errorf("%d %s, want %d with %q in a JSON body", r.status, r.raw, tc.status, tc.want)
			}
		})
	}
	t.Run("an app placed on another node, with this node's certificate", func(t *testing.T) {
		dir := n.agent.Config.StateDir
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"))
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.env.CAPool, Certificates: []tls.Certificate{cert}}}}
		body := fmt.Sprintf(`{"app":%q,"selector":{"kind":"system"},"resource":%q}`, n.other.ID, uri)
		resp, err := c.Post(n.env.URL+agentapi.PathToken, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(raw), agentapi.CodeForbidden) {
			t.Errorf("%d %s, want 403 Forbidden", resp.StatusCode, raw)
		}
		// The same call for the node's own app works: the refusal is about placement.
		body = fmt.Sprintf(`{"app":%q,"selector":{"kind":"system"},"resource":%q}`, n.site.ID, uri)
		resp, err = c.Post(n.env.URL+agentapi.PathToken, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the node's own app: %d", resp.StatusCode)
		}
		// Without a certificate the agent API answers 401.
		resp, err = n.env.HTTP.Post(n.env.URL+agentapi.PathToken, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no client certificate: %d, want 401", resp.StatusCode)
		}
		if !audited(t, n.env, "node.token", "denied", n.other.ID) {
			t.Error("the refusal is not in the audit log")
		}
	})
	t.Run("a reused join token", func(t *testing.T) {
		jt, err := n.env.Admin.CreateJoinToken(t.Context(), "node2", "")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		caFile, tokFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "jt")
		os.WriteFile(caFile, n.env.Server.CA.CertPEM(), 0o644)
		os.WriteFile(tokFile, []byte(jt.Token), 0o600)
		if _, err := agent.Enroll(t.Context(), n.env.URL, caFile, tokFile, filepath.Join(dir, "a")); err != nil {
			t.Fatalf("first use: %v", err)
		}
		_, err = agent.Enroll(t.Context(), n.env.URL, caFile, tokFile, filepath.Join(dir, "b"))
		if err == nil || !strings.Contains(err.Error(), "already used") && !strings.Contains(err.Error(), "unknown, expired or already used") {
			t.Errorf("second use: %v, want a refusal", err)
		}
		// Audited with the reason among the refusals of unidentified callers (per source and
		// window: the first as an event of its own, the rest in a summary).
		evs, err := n.env.Admin.ListAudit(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(evs, func(e client.AuditEvent) bool {
			return strings.HasPrefix(e.Action, "authn.refused") && e.Result == "denied" &&
				strings.Contains(e.Detail, "node.enroll node/node2: join token already used at ")
		}) {
			t.Errorf("the reused join token is not in the audit log: %+v", evs[len(evs)-3:])
		}
		if logs := auditText(t, n.env); strings.Contains(logs, jt.Token) {
			t.Error("the join token is in the audit log")
		}
	})
}

// agentMisses sums the agent's token cache misses from its /metrics.
func agentMisses(t testing.TB, a *lanyardtest.Agent) float64 {
	t.Helper()
	r, err := http.Get(a.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	var sum float64
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "lanyard_agent_token_cache_misses_total") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// auditText is the whole audit log as JSON.
func auditText(t *testing.T, env *lanyardtest.Env) string {
	t.Helper()
	evs, err := env.Admin.ListAudit(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(evs)
	return string(b)
}

// audited reports whether the audit log has an event with the action, result and target.
func audited(t *testing.T, env *lanyardtest.Env, action, result, target string) bool {
	t.Helper()
	evs, err := env.Admin.ListAudit(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(evs, func(e client.AuditEvent) bool {
		return e.Action == action && e.Result == result && strings.EqualFold(e.Target, target)
	})
}

func TestAgentRoleChangeReachesNewTokens(t *testing.T) {
	n := startNode(t, "node1")
	env := n.app(t, n.site.ID)
	api, uri := n.api(t)
	principal := sp{ID: n.site.Identity.PrincipalID}
	rolesOf := func() []string {
		r := appToken(t, env, env["IDENTITY_HEADER"], url.Values{"resource": {uri}})
		if r.status != http.StatusOK {
			t.Fatalf("token: %d %s", r.status, r.raw)
		}
		return roles(t, r.body["access_token"].(string))
	}
	if got := rolesOf(); len(got) != 0 {
		t.Fatalf("roles before the grant: %v", got)
	}
	grant(t, n.env, principal, api, "Jobs.Run")
	waitRoles := func(want []string) time.Duration {
		start := time.Now()
		for {
			got := rolesOf()
			if slices.Equal(got, want) {
				return time.Since(start)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("roles %v 5 s after the change, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	granted := waitRoles([]string{"Jobs.Run"})
	var assignments struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	graph(t, n.env, http.MethodGet, "/v1.0/servicePrincipals/"+api.ID+"/appRoleAssignedTo", nil, &assignments)
	if len(assignments.Value) != 1 {
		t.Fatalf("assignments %+v", assignments)
	}
	graph(t, n.env, http.MethodDelete, "/v1.0/servicePrincipals/"+api.ID+"/appRoleAssignedTo/"+assignments.Value[0].ID, nil, nil)
	revoked := waitRoles(nil)
	t.Logf("a granted role reached new tokens after %v, a revoked one after %v", granted.Round(time.Millisecond), revoked.Round(time.Millisecond))
}

func TestAgentControlPlaneStopped(t *testing.T) {
	n := startNode(t, "node1")
	env := n.app(t, n.site.ID)
	_, cached := n.api(t)
	_, uncached := n.api(t)
	first := appToken(t, env, env["IDENTITY_HEADER"], url.Values{"resource": {cached}})
	if first.status != http.StatusOK {
		t.Fatalf("%d %s", first.status, first.raw)
	}
	if err := n.env.Stop(); err != nil {
		t.Fatal(err)
	}
	again := appToken(t, env, env["IDENTITY_HEADER"], url.Values{"resource": {cached}})
	if again.status != http.StatusOK || again.body["access_token"] != first.body["access_token"] {
		t.Errorf("a cached token while the control plane is down: %d %s", again.status, again.raw)
	}
	start := time.Now()
	miss := appToken(t, env, env["IDENTITY_HEADER"], url.Values{"resource": {uncached}})
	took := time.Since(start)
	if miss.status < 500 || !strings.Contains(miss.raw, "unreachable") {
		t.Errorf("an uncached token while the control plane is down: %d %s, want a 5xx saying why", miss.status, miss.raw)
	}
	t.Logf("an uncached request failed after %v", took.Round(time.Millisecond))
	n.env.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := appToken(t, env, env["IDENTITY_HEADER"], url.Values{"resource": {uncached}})
		if r.status == http.StatusOK {
			n.verify(t, r.body["access_token"].(string), uncached)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the restart: %d %s", r.status, r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
