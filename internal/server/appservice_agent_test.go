package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// nodeClient is an enrolled node's client of the agent API: HTTPS with its client certificate.
type nodeClient struct {
	t    *testing.T
	url  string
	http *http.Client
}

// enrollNode enrolls a node called name with a fresh join token, as the agent does, and returns
// a client holding its certificate.
func (e *mgmtEnv) enrollNode(name string) *nodeClient {
	e.t.Helper()
	jt, err := e.Admin.CreateJoinToken(context.Background(), name, "")
	if err != nil {
		e.t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		e.t.Fatal(err)
	}
	var out agentapi.EnrollResponse
	st, raw := e.post(e.HTTP, agentapi.PathEnroll, agentapi.EnrollRequest{JoinToken: agentapi.Secret(jt.Token), CSR: csr, NodeName: name})
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		e.t.Fatalf("enroll %s: %d %s", name, st, raw)
	}
	var chain [][]byte
	rest := []byte(out.Certificate)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		chain = append(chain, b.Bytes)
	}
	cert := tls.Certificate{Certificate: chain, PrivateKey: key}
	return &nodeClient{t: e.t, url: e.URL, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.CAPool, Certificates: []tls.Certificate{cert}},
	}}}
}

// post sends a JSON body to the server with hc and returns the status and body.
func (e *mgmtEnv) post(hc *http.Client, path string, in any) (int, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(in)
	resp, err := hc.Post(e.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (n *nodeClient) do(method, path string, in any) (int, http.Header, []byte) {
	n.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.url+path, body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// site asks for one site as the node's agent does.
func (n *nodeClient) site(app string) agentapi.Site {
	n.t.Helper()
	st, _, raw := n.do(http.MethodPost, agentapi.PathSites, agentapi.SitesRequest{Apps: []string{app}})
	var out agentapi.SitesResponse
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil || len(out.Sites) != 1 {
		n.t.Fatalf("sites: %d %s", st, raw)
	}
	return out.Sites[0]
}

// refStatus is one entry of config/configreferences/appsettings.
type refStatus struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Properties struct {
		Reference     string `json:"reference"`
		Status        string `json:"status"`
		VaultName     string `json:"vaultName"`
		SecretName    string `json:"secretName"`
		SecretVersion string `json:"secretVersion"`
		IdentityType  string `json:"identityType"`
		Details       string `json:"details"`
		Source        string `json:"source"`
		ActiveVersion string `json:"activeVersion"`
	} `json:"properties"`
}

func (e *mgmtEnv) refStatuses(app string) map[string]refStatus {
	e.t.Helper()
	var list struct {
		Value []refStatus `json:"value"`
	}
	e.admin(http.MethodGet, app+"/config/configreferences/appsettings?api-version=2022-03-01", nil, &list)
	out := map[string]refStatus{}
	for _, r := range list.Value {
		out[r.Name] = r
	}
	return out
}

// TestKeyVaultReferences: references in app settings are resolved with the site's
// system-assigned identity through the vault's access policies, given to the hosting node in
// Settings, and reported by configreferences with Azure's statuses; the broken ones stay
// literal. keyVaultReferenceIdentity switches them to a user-assigned identity at once.
func TestKeyVaultReferences(t *testing.T) {
	e := startManagement(t)
	ctx := context.Background()
	g := e.group("rg")
	ua, uaPID := e.identity(g, "kvref")
	app := e.functionApp(g, "fa1", map[string]any{
		"identity":   map[string]any{"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map[string]any{ua.ID: map[string]any{}}},
		"properties": map[string]any{"lanyard": map[string]string{"node": "n1"}},
	})
	var site armResource
	e.admin(http.MethodGet, app+"?api-version="+vWeb, nil, &site)
	sysPID := site.Identity.PrincipalID
	e.vault(g, "kv-sys", []map[string]any{policy(e.tenant, sysPID, "get")})
	e.vault(g, "kv-ua", []map[string]any{policy(e.tenant, uaPID, "get")})
	port := e.URL[strings.LastIndex(e.URL, ":")+1:]
	set := func(vault, name, value string) string {
		s, err := e.Admin.Vault(vault+".vault.localhost:"+port).SetSecret(ctx, name, client.SecretSet{Value: value})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID[strings.LastIndex(s.ID, "/")+1:]
	}
	v1 := set("kv-sys", "db-password", "s3cret-one")
	set("kv-sys", "db-password", "s3cret-two")
	set("kv-ua", "api-key", "ua-value")
	settings := map[string]string{
		"PLAIN":       "plain",
		"BY_URI":      "@Microsoft.KeyVault(SecretUri=https://kv-sys.vault.azure.net/secrets/db-password/)",
		"BY_NAME_VER": "@Microsoft.KeyVault(VaultName=kv-sys;SecretName=db-password;SecretVersion=" + v1 + ")",
		"MISSING":     "@Microsoft.KeyVault(VaultName=kv-sys;SecretName=nope)",
		"MISSING_VER": "@Microsoft.KeyVault(VaultName=kv-sys;SecretName=db-password;SecretVersion=0123456789abcdef0123456789abcdef)",
		"NO_VAULT":    "@Microsoft.KeyVault(VaultName=kv-none;SecretName=x)",
		"DENIED":      "@Microsoft.KeyVault(SecretUri=https://kv-ua.vault.azure.net/secrets/api-key)",
		"BAD":         "@Microsoft.KeyVault(SecretUri=ftp://nowhere)",
	}
	e.admin(http.MethodPut, app+"/config/appsettings?api-version="+vWeb, map[string]any{"properties": settings}, nil)
	want := map[string]string{
		"BY_URI": "Resolved", "BY_NAME_VER": "Resolved", "MISSING": "SecretNotFound", "MISSING_VER": "SecretVersionNotFound",
		"NO_VAULT": "VaultNotFound", "DENIED": "AccessToKeyVaultDenied", "BAD": "InvalidSyntax",
	}
	refs := e.refStatuses(app)
	if len(refs) != len(want) {
		t.Errorf("configreferences: %d entries, want %d: %+v", len(refs), len(want), refs)
	}
	for k, st := range want {
		r := refs[k]
		if r.Properties.Status != st || r.Properties.Source != "KeyVault" || r.Properties.Reference != settings[k] {
			t.Errorf("%s: %+v, want status %s", k, r.Properties, st)
		}
		if st != "Resolved" && r.Properties.Details == "" {
			t.Errorf("%s: no details", k)
		}
	}
	if p := refs["BY_URI"].Properties; p.VaultName != "kv-sys" || p.SecretName != "db-password" || p.IdentityType != "SystemAssigned" || p.ActiveVersion == "" || p.ActiveVersion == v1 {
		t.Errorf("BY_URI: %+v", p)
	}
	if p := refs["BY_NAME_VER"].Properties; p.ActiveVersion != v1 || p.SecretVersion != v1 {
		t.Errorf("BY_NAME_VER: %+v", p)
	}
	var one refStatus
	e.admin(http.MethodGet, app+"/config/configreferences/appsettings/MISSING?api-version=2022-03-01", nil, &one)
	if one.Properties.Status != "SecretNotFound" || !strings.HasSuffix(one.ID, "/config/configreferences/appsettings/MISSING") {
		t.Errorf("one reference: %+v", one)
	}
	if st, _ := e.adminErr(http.MethodGet, app+"/config/configreferences/appsettings/PLAIN?api-version=2022-03-01", nil); st != http.StatusNotFound {
		t.Errorf("a plain setting's reference: %d, want 404", st)
	}
	// The hosting node gets the resolved values; the broken references stay literal.
	n1 := e.enrollNode("n1")
	s := n1.site(app)
	if s.Error != "" || s.Kind != "functionapp,linux" || s.Functions == nil {
		t.Fatalf("site for its node: %+v", s)
	}
	wantVals := map[string]string{"PLAIN": "plain", "BY_URI": "s3cret-two", "BY_NAME_VER": "s3cret-one"}
	for k, v := range settings {
		if _, ok := wantVals[k]; !ok {
			wantVals[k] = v
		}
	}
	for k, v := range wantVals {
		if s.Settings[k] != v {
			t.Errorf("setting %s for the node: %q, want %q", k, s.Settings[k], v)
		}
	}
	// Removing the access policy is picked up at once (any vault change invalidates the cache).
	e.admin(http.MethodPut, g+"/providers/Microsoft.KeyVault/vaults/kv-sys/accessPolicies/remove?api-version="+vKV,
		map[string]any{"properties": map[string]any{"accessPolicies": []any{policy(e.tenant, sysPID, "get")}}}, nil)
	if st := e.refStatuses(app)["BY_URI"].Properties.Status; st != "AccessToKeyVaultDenied" {
		t.Errorf("after the policy is removed: %s", st)
	}
	if v := n1.site(app).Settings["BY_URI"]; v != settings["BY_URI"] {
		t.Errorf("after the policy is removed the node gets %q, want the literal", v)
	}
	// keyVaultReferenceIdentity: the user-assigned identity, which may read kv-ua only.
	e.admin(http.MethodPatch, app+"?api-version="+vWeb, map[string]any{"properties": map[string]any{"keyVaultReferenceIdentity": ua.ID}}, nil)
	var patched armResource
	e.admin(http.MethodGet, app+"?api-version="+vWeb, nil, &patched)
	var kvi string
	if err := patched.prop("keyVaultReferenceIdentity", &kvi); err != nil || kvi != ua.ID {
		t.Errorf("keyVaultReferenceIdentity kept as %q (%v)", kvi, err)
	}
	refs = e.refStatuses(app)
	if p := refs["DENIED"].Properties; p.Status != "Resolved" || p.IdentityType != "UserAssigned" {
		t.Errorf("with the user-assigned identity: %+v", p)
	}
	if v := n1.site(app).Settings["DENIED"]; v != "ua-value" {
		t.Errorf("the node's value with the user-assigned identity: %q", v)
	}
	if st, _ := e.adminErr(http.MethodPatch, app+"?api-version="+vWeb, map[string]any{"properties": map[string]any{"keyVaultReferenceIdentity": "not-an-id"}}); st != http.StatusBadRequest {
		t.Errorf("a bad keyVaultReferenceIdentity: %d, want 400", st)
	}
	// Turning the system-assigned identity off with no keyVaultReferenceIdentity: MSINotEnabled.
	e.admin(http.MethodPatch, app+"?api-version="+vWeb, map[string]any{"properties": map[string]any{"keyVaultReferenceIdentity": nil},
		"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{ua.ID: map[string]any{}}}}, nil)
	if st := e.refStatuses(app)["BY_URI"].Properties.Status; st != "MSINotEnabled" {
		t.Errorf("without a system-assigned identity: %s", st)
	}
}

// TestAgentFunctionApps: a node hosting a function app gets its kind, keys and package; it may
// fetch the package (digest checked) and another node may not; timer ticks are claimed once.
func TestAgentFunctionApps(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	app := e.functionApp(g, "fa1", map[string]any{"properties": map[string]any{"lanyard": map[string]any{"nodes": []string{"n1", "n2"}}}})
	solo := e.functionApp(g, "fa2", map[string]any{"properties": map[string]any{"lanyard": map[string]string{"node": "n1"}}})
	n1, n2, n3 := e.enrollNode("n1"), e.enrollNode("n2"), e.enrollNode("n3")
	s := n1.site(app)
	if s.Functions == nil || s.Functions.Package != nil || s.Functions.Keys.Master == "" || s.Functions.Keys.Host["default"] == "" {
		t.Fatalf("a function app before any deploy: %+v", s.Functions)
	}
	var keys hostKeys
	e.admin(http.MethodPost, app+"/host/default/listkeys?api-version="+vWeb, nil, &keys)
	if keys.MasterKey != s.Functions.Keys.Master {
		t.Error("the node's master key is not the one ARM lists")
	}
	var fk map[string]string
	e.admin(http.MethodPost, app+"/functions/hello/listkeys?api-version="+vWeb, nil, &fk)
	pkg := zipOf(t, map[string]string{"host.json": `{"version":"2.0"}`})
	if st, raw := e.send(http.MethodPost, app+"/extensions/zipdeploy?api-version="+vWeb, "application/zip", pkg); st != http.StatusOK {
		t.Fatalf("zipdeploy: %d %s", st, raw)
	}
	sum := sha256.Sum256(pkg)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	s = n2.site(app)
	if s.Functions.Package == nil || s.Functions.Package.Digest != digest || s.Functions.Package.Size != int64(len(pkg)) {
		t.Fatalf("package for the node: %+v", s.Functions.Package)
	}
	if s.Functions.Keys.Functions["hello"]["default"] != fk["default"] {
		t.Errorf("the node's function keys: %+v", s.Functions.Keys.Functions)
	}
	st, h, body := n2.do(http.MethodGet, agentapi.PathPackages+"/"+digest, nil)
	if st != http.StatusOK || !bytes.Equal(body, pkg) || h.Get("Content-Type") != "application/zip" {
		t.Errorf("package fetch by a hosting node: %d %s", st, h.Get("Content-Type"))
	}
	if st, _, _ := n3.do(http.MethodGet, agentapi.PathPackages+"/"+digest, nil); st != http.StatusNotFound {
		t.Errorf("package fetch by a node hosting nothing: %d, want 404", st)
	}
	if st, _, _ := n1.do(http.MethodGet, agentapi.PathPackages+"/sha256:"+strings.Repeat("0", 64), nil); st != http.StatusNotFound {
		t.Errorf("an unknown package: %d, want 404", st)
	}
	if st, _, _ := n1.do(http.MethodGet, agentapi.PathPackages+"/"+url.PathEscape("md5:abc"), nil); st != http.StatusBadRequest {
		t.Errorf("a bad digest: %d, want 400", st)
	}
	if s3 := n3.site(app); s3.Error == "" || s3.Functions != nil || s3.Settings != nil {
		t.Errorf("a site for a node it is not placed on: %+v", s3)
	}
	// A web app on the node gets its settings and kind, and no function app's part.
	web := g + "/providers/Microsoft.Web/sites/web1"
	e.admin(http.MethodPut, web+"?api-version="+vWeb, map[string]any{"location": "local", "kind": "app",
		"properties": map[string]any{"lanyard": map[string]string{"node": "n1"}}}, nil)
	e.admin(http.MethodPut, web+"/config/appsettings?api-version="+vWeb, map[string]any{"properties": map[string]string{"W": "1"}}, nil)
	if ws := n1.site(web); ws.Kind != "app" || ws.Functions != nil || ws.Settings["W"] != "1" {
		t.Errorf("a web app for its node: %+v", ws)
	}
	// Timer claims: two nodes race for each tick; exactly one wins each.
	tick := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	for i := range 5 {
		claim := agentapi.TimerClaim{App: app, Function: "Cleanup", Tick: tick.Add(time.Duration(i) * time.Minute)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for _, n := range []*nodeClient{n1, n2} {
			wg.Go(func() {
				st, _, raw := n.do(http.MethodPost, agentapi.PathTimerClaim, claim)
				var out agentapi.TimerClaimResponse
				if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
					t.Errorf("claim: %d %s", st, raw)
					return
				}
				if out.Claimed {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("tick %d claimed by %d nodes, want 1", i, won)
		}
	}
	if st, _, _ := n2.do(http.MethodPost, agentapi.PathTimerClaim, agentapi.TimerClaim{App: solo, Function: "Cleanup", Tick: tick}); st != http.StatusForbidden {
		t.Errorf("a claim for a site the node does not host: %d, want 403", st)
	}
	if st, _, _ := n1.do(http.MethodPost, agentapi.PathTimerClaim, agentapi.TimerClaim{App: solo, Function: "../x", Tick: tick}); st != http.StatusBadRequest {
		t.Errorf("a claim with a bad function name: %d, want 400", st)
	}
	if st, _, _ := n1.do(http.MethodPost, agentapi.PathTimerClaim, agentapi.TimerClaim{App: solo, Function: "Cleanup", Tick: tick.Add(-48 * time.Hour)}); st != http.StatusBadRequest {
		t.Errorf("a claim of a tick two days old: %d, want 400", st)
	}
	// Without a client certificate the routes refuse.
	resp, err := e.HTTP.Get(e.URL + agentapi.PathPackages + "/" + digest)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("package fetch without a certificate: %d, want 401", resp.StatusCode)
	}
}

// TestFunctionKeysNotAtRest: a key's value, set, listed and given to a node, and a Key Vault
// reference's resolved value, are in neither the SQLite file, its WAL, the audit log nor the
// server's log (at debug); the key writes and the reference's read are audited.
func TestFunctionKeysNotAtRest(t *testing.T) {
	logs := &syncBuffer{}
	env := lanyardtest.Start(t, lanyardtest.Options{Log: logs})
	e := mgmtFrom(t, env)
	ctx := context.Background()
	g := e.group("rg")
	app := e.functionApp(g, "fa1", map[string]any{"identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "n1"}}})
	var site armResource
	e.admin(http.MethodGet, app+"?api-version="+vWeb, nil, &site)
	e.vault(g, "kv-rest", []map[string]any{policy(e.tenant, site.Identity.PrincipalID, "get")})
	port := e.URL[strings.LastIndex(e.URL, ":")+1:]
	const secret = "kv-7f3a9c1e5b2d8064-the-referenced-value"
	if _, err := e.Admin.Vault("kv-rest.vault.localhost:"+port).SetSecret(ctx, "s", client.SecretSet{Value: secret}); err != nil {
		t.Fatal(err)
	}
	e.admin(http.MethodPut, app+"/config/appsettings?api-version="+vWeb, map[string]any{"properties": map[string]string{
		"REF": "@Microsoft.KeyVault(VaultName=kv-rest;SecretName=s)"}}, nil)
	const value = "fk-5b2d80647f3a9c1e-the-function-key"
	e.admin(http.MethodPut, app+"/host/default/functionKeys/ci?api-version="+vWeb, map[string]any{"properties": map[string]string{"value": value}}, nil)
	e.admin(http.MethodPut, app+"/functions/hello/keys/partner?api-version="+vWeb, map[string]any{"properties": map[string]string{"value": value + "-2"}}, nil)
	var keys hostKeys
	e.admin(http.MethodPost, app+"/host/default/listkeys?api-version="+vWeb, nil, &keys)
	n1 := e.enrollNode("n1")
	s := n1.site(app)
	if s.Functions == nil || s.Functions.Keys.Host["ci"] != value || s.Settings["REF"] != secret {
		t.Fatalf("the node's site: keys %v, REF resolved %v", s.Functions != nil && s.Functions.Keys.Host["ci"] == value, s.Settings["REF"] == secret)
	}
	evs, err := e.Admin.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	auditJSON, _ := json.Marshal(evs)
	var actions []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "site.") || ev.Action == "vault.secret.get" {
			actions = append(actions, ev.Action)
		}
	}
	// Reads of keys are audited as the vault audits secret reads (no values in the events).
	if got := strings.Join(actions, ","); !strings.Contains(got, "site.appsettings.write,site.functionkey.write,site.functionkey.write,site.functionkey.list") || !strings.Contains(got, "vault.secret.get") {
		t.Errorf("audited: %s", got)
	}
	haystacks := map[string][]byte{"audit log": auditJSON, "server log": []byte(logs.String())}
	for _, name := range []string{"lanyard.db", "lanyard.db-wal"} {
		b, err := os.ReadFile(filepath.Join(env.DataDir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		haystacks[name] = b
	}
	if len(haystacks["lanyard.db-wal"]) == 0 || len(haystacks["server log"]) == 0 {
		t.Fatal("the WAL or the log is empty: the test would not search it")
	}
	needles := map[string]string{"key": value, "master key": keys.MasterKey, "default key": keys.FunctionKeys["default"], "referenced value": secret}
	for hn, h := range haystacks {
		for nn, n := range needles {
			if bytes.Contains(h, []byte(n)) {
				t.Errorf("the %s holds the %s", hn, nn)
			}
		}
	}
}

// TestKeyVaultReferenceRBAC: with a vault that uses RBAC, a reference resolves once the site's
// identity holds Key Vault Secrets User on the vault, as the vault's own data-plane check says,
// and is AccessToKeyVaultDenied before and after.
func TestKeyVaultReferenceRBAC(t *testing.T) {
	e := startManagement(t)
	ctx := context.Background()
	g := e.group("rg")
	app := e.functionApp(g, "fa1", map[string]any{"identity": map[string]any{"type": "SystemAssigned"}})
	var site armResource
	e.admin(http.MethodGet, app+"?api-version="+vWeb, nil, &site)
	body := vaultBody(e.tenant, []map[string]any{})
	body["properties"].(map[string]any)["enableRbacAuthorization"] = true
	vault := g + "/providers/Microsoft.KeyVault/vaults/kv-rbac"
	e.admin(http.MethodPut, vault+"?api-version="+vKV, body, nil)
	port := e.URL[strings.LastIndex(e.URL, ":")+1:]
	if _, err := e.Admin.Vault("kv-rbac.vault.localhost:"+port).SetSecret(ctx, "s", client.SecretSet{Value: "rbac-value"}); err != nil {
		t.Fatal(err)
	}
	e.admin(http.MethodPut, app+"/config/appsettings?api-version="+vWeb, map[string]any{"properties": map[string]string{
		"REF": "@Microsoft.KeyVault(SecretUri=https://kv-rbac.vault.azure.net/secrets/s/)"}}, nil)
	if st := e.refStatuses(app)["REF"].Properties.Status; st != "AccessToKeyVaultDenied" {
		t.Errorf("without a role: %s", st)
	}
	// A role assignment is picked up at once (the tenant's RBAC generation is part of the cache's
	// key), and so is its removal.
	ra := e.assignRole(vault, rbac.KeyVaultSecretsUser, site.Identity.PrincipalID)
	if p := e.refStatuses(app)["REF"].Properties; p.Status != "Resolved" || p.ActiveVersion == "" {
		t.Errorf("with Key Vault Secrets User: %+v", p)
	}
	e.admin(http.MethodDelete, vault+"/providers/Microsoft.Authorization/roleAssignments/"+ra+"?api-version="+vAuthz, nil, nil)
	if st := e.refStatuses(app)["REF"].Properties.Status; st != "AccessToKeyVaultDenied" {
		t.Errorf("after the role assignment is deleted: %s", st)
	}
}
