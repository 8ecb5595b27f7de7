package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The agent end to end with the unmodified Node @azure/identity (testdata/node-identity, its
// versions pinned by package-lock.json) and Python azure-identity (Debian's python3-azure,
// testdata/python-identity): ManagedIdentityCredential and DefaultAzureCredential through the
// agent's App Service-style endpoint and through its IMDS-style endpoint.

const nodeIdentityDir = "testdata/node-identity"

// requireNode returns the path of node when node and the npm packages of dir (one of testdata's
// Node projects; pkg is a package it installs) are there. Without them the test fails when
// LANYARD_REQUIRE_NODE=1 or CI is set (.ci/run sets it and installs them), and is skipped
// otherwise; either way the message names the command that installs them.
func requireNode(t *testing.T, dir, pkg string) string {
	t.Helper()
	node, why := nodeMissing(dir, pkg)
	if why != "" {
		missing(t, "LANYARD_REQUIRE_NODE", why)
	}
	return node
}

// nodeMissing returns the path of node, and why it or dir's packages cannot be used ("" when
// they can).
func nodeMissing(dir, pkg string) (node, why string) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "node is not installed: install Node.js 20 or later, then run npm ci --prefix internal/compat/" + dir
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
		return "", "the Node dependencies are not installed: run npm ci --prefix internal/compat/" + dir
	}
	return node, ""
}

// required says whether a missing client package fails the tests rather than skipping them:
// when env is 1 or CI is set (.ci/run installs the packages and sets env).
func required(env string) bool { return os.Getenv(env) == "1" || os.Getenv("CI") != "" }

// missing fails the test (when required(env)) or skips it, saying why.
func missing(t *testing.T, env, why string) {
	t.Helper()
	if required(env) {
		t.Fatal(why + " (" + env + "=1 or CI is set, so this fails instead of skipping)")
	}
	t.Skip(why)
}

// nodeCase is one credential the Node script asks for a token.
type nodeCase struct {
	Name       string `json:"name"`
	Credential string `json:"credential"` // managed or default
	ClientID   string `json:"clientId,omitempty"`
	ResourceID string `json:"resourceId,omitempty"`
	ObjectID   string `json:"objectId,omitempty"`
	Scope      string `json:"scope"`
}

// nodeResult is the script's answer for one case.
type nodeResult struct {
	Token     string  `json:"token"`
	Again     string  `json:"again"`
	ExpiresOn float64 `json:"expiresOnTimestamp"`
	Error     string  `json:"error"`
}

// identityClient is one language's unmodified Azure identity library, run as a script that
// takes LANYARD_CASES and answers as testdata/node-identity/identity.mjs does.
type identityClient struct {
	name string   // for messages: "node", "python"
	argv []string // the interpreter and the script
	dir  string   // where it runs
}

// nodeClient is @azure/identity under node (skips or fails without it, see requireNode).
func nodeClient(t *testing.T) identityClient {
	node := requireNode(t, nodeIdentityDir, "@azure/identity")
	script, err := filepath.Abs(filepath.Join(nodeIdentityDir, "identity.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	return identityClient{name: "node", argv: []string{node, script}, dir: nodeIdentityDir}
}

// pythonClient is Debian's python3-azure (skips or fails without it, see requirePython).
func pythonClient(t *testing.T) identityClient {
	python := requirePython(t)
	script, err := filepath.Abs("testdata/python-identity/identity.py")
	if err != nil {
		t.Fatal(err)
	}
	return identityClient{name: "python", argv: []string{python, script}, dir: "testdata/python-identity"}
}

// nodeIdentity runs the client's script with exactly env (plus PATH and HOME) and the cases,
// and returns its results by case name and how it exited.
func nodeIdentity(t *testing.T, cl identityClient, env map[string]string, cases []nodeCase) (map[string]nodeResult, error) {
	t.Helper()
	raw, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cl.argv[0], cl.argv[1:]...)
	cmd.Dir = cl.dir
	// Nothing inherited but PATH: no AZURE_*, IDENTITY_*, MSI_* or proxy of the test's own.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANYARD_CASES=" + string(raw)}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	stdout, err := cmd.Output()
	t.Logf("%s ran %d case(s) in %v %s", cl.name, len(cases), time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	out := map[string]nodeResult{}
	if jerr := json.Unmarshal(stdout, &out); jerr != nil {
		t.Fatalf("%s: %v; stdout %q: %v", cl.name, err, stdout, jerr)
	}
	return out, err
}

// runNodeIdentity runs cases that must all succeed.
func runNodeIdentity(t *testing.T, cl identityClient, env map[string]string, cases []nodeCase) map[string]nodeResult {
	t.Helper()
	out, err := nodeIdentity(t, cl, env, cases)
	for _, c := range cases {
		r, ok := out[c.Name]
		switch {
		case !ok:
			t.Errorf("%s: no result from %s", c.Name, cl.name)
		case r.Error != "":
			t.Errorf("%s: %s", c.Name, r.Error)
		}
	}
	if err != nil && !t.Failed() {
		t.Errorf("%s: %v", cl.name, err)
	}
	return out
}

// checkNodeToken verifies a case's token with go-oidc and checks its claims: the audience is
// the API's identifier URI, oid and xms_mirid name the identity, appid its client id; the second
// getToken gave the same token (the SDK's cache).
func (n *node) checkNodeToken(t *testing.T, name string, r nodeResult, uri, oid, mirid, appid string) {
	t.Helper()
	if r.Token == "" {
		t.Errorf("%s: no token", name)
		return
	}
	c := n.verify(t, r.Token, uri)
	if c["aud"] != uri || c["oid"] != oid || !strings.EqualFold(fmt.Sprint(c["xms_mirid"]), mirid) || c["appid"] != appid {
		t.Errorf("%s: claims aud=%v oid=%v xms_mirid=%v appid=%v, want %s %s %s %s",
			name, c["aud"], c["oid"], c["xms_mirid"], c["appid"], uri, oid, mirid, appid)
	}
	if r.Again != r.Token {
		t.Errorf("%s: the second getToken returned another token (not served from the SDK's cache)", name)
	}
	if exp := time.UnixMilli(int64(r.ExpiresOn)); time.Until(exp) < 5*time.Minute || time.Until(exp) > 25*time.Hour {
		t.Errorf("%s: expiresOnTimestamp %v", name, exp)
	}
}

// clientIDOf reads the appId of the service principal objectID through Graph.
func clientIDOf(t *testing.T, n *node, objectID string) string {
	t.Helper()
	var s struct {
		AppID string `json:"appId"`
	}
	graph(t, n.env, http.MethodGet, "/v1.0/servicePrincipals/"+objectID, nil, &s)
	if s.AppID == "" {
		t.Fatalf("service principal %s has no appId", objectID)
	}
	return s.AppID
}

func TestNodeIdentityAppService(t *testing.T)   { testIdentityAppService(t, nodeClient(t)) }
func TestPythonIdentityAppService(t *testing.T) { testIdentityAppService(t, pythonClient(t)) }

// testIdentityAppService: ManagedIdentityCredential (system-assigned, user-assigned by client id)
// and DefaultAzureCredential (system-assigned, user-assigned through AZURE_CLIENT_ID) of the
// client through the agent's App Service-style endpoint, with the app's environment only.
func testIdentityAppService(t *testing.T, node identityClient) {
	n := startNode(t, node.name+"-app")
	env := n.app(t, n.site.ID)
	if env["IDENTITY_ENDPOINT"] == "" || env["IDENTITY_HEADER"] == "" || env["MSI_ENDPOINT"] == "" || env["MSI_SECRET"] == "" {
		t.Fatalf("the app's environment lacks the identity variables: %v", env)
	}
	ua := n.ua.Properties
	siteClient := clientIDOf(t, n, n.site.Identity.PrincipalID)
	_, uriSystem := n.api(t)
	_, uriUser := n.api(t)
	_, uriRes := n.api(t)
	_, uriObj := n.api(t)
	_, uriDefault := n.api(t)
	before := agentMisses(t, n.agent)
	// The whole environment the agent gives its apps: IDENTITY_*, MSI_*, the CA bundle. The
	// user-assigned identity by each of its ids: client id, resource id, object id.
	out := runNodeIdentity(t, node, env, []nodeCase{
		{Name: "managed system", Credential: "managed", Scope: uriSystem + "/.default"},
		{Name: "managed client id", Credential: "managed", ClientID: ua.ClientID, Scope: uriUser + "/.default"},
		{Name: "managed resource id", Credential: "managed", ResourceID: n.ua.ID, Scope: uriRes + "/.default"},
		{Name: "managed object id", Credential: "managed", ObjectID: ua.PrincipalID, Scope: uriObj + "/.default"},
	})
	n.checkNodeToken(t, "managed system", out["managed system"], uriSystem, n.site.Identity.PrincipalID, n.site.ID, siteClient)
	for name, uri := range map[string]string{"managed client id": uriUser, "managed resource id": uriRes, "managed object id": uriObj} {
		n.checkNodeToken(t, name, out[name], uri, ua.PrincipalID, n.ua.ID, ua.ClientID)
	}

	// DefaultAzureCredential: system-assigned, and user-assigned through AZURE_CLIENT_ID.
	out = runNodeIdentity(t, node, env, []nodeCase{{Name: "default system", Credential: "default", Scope: uriDefault + "/.default"}})
	n.checkNodeToken(t, "default system", out["default system"], uriDefault, n.site.Identity.PrincipalID, n.site.ID, siteClient)
	withClient := map[string]string{"AZURE_CLIENT_ID": ua.ClientID}
	for k, v := range env {
		withClient[k] = v
	}
	out = runNodeIdentity(t, node, withClient, []nodeCase{{Name: "default client id", Credential: "default", Scope: uriDefault + "/.default"}})
	n.checkNodeToken(t, "default client id", out["default client id"], uriDefault, ua.PrincipalID, n.ua.ID, ua.ClientID)

	// The older App Service variables alone (MSI_ENDPOINT, MSI_SECRET: api-version 2017-09-01).
	_, uriLegacy := n.api(t)
	legacy := map[string]string{}
	for k, v := range env {
		if !strings.HasPrefix(k, "IDENTITY_") {
			legacy[k] = v
		}
	}
	out = runNodeIdentity(t, node, legacy, []nodeCase{{Name: "legacy system", Credential: "managed", Scope: uriLegacy + "/.default"}})
	n.checkNodeToken(t, "legacy system", out["legacy system"], uriLegacy, n.site.Identity.PrincipalID, n.site.ID, siteClient)

	// Seven distinct (identity, resource) pairs: seven mints by the agent, the SDK's second
	// getToken of each served from its own cache.
	if got := agentMisses(t, n.agent) - before; got != 7 {
		t.Errorf("the agent minted %v tokens, want 7", got)
	}
}

func TestNodeIdentityIMDS(t *testing.T)   { testIdentityIMDS(t, nodeClient(t)) }
func TestPythonIdentityIMDS(t *testing.T) { testIdentityIMDS(t, pythonClient(t)) }

// testIdentityIMDS: the client's credentials through the agent's IMDS-style endpoint (named by
// AZURE_POD_IDENTITY_AUTHORITY_HOST) get the node machine's identity, never an app's.
func testIdentityIMDS(t *testing.T, node identityClient) {
	n := startNode(t, node.name+"-imds")
	nodes, err := n.env.Admin.ListNodes(t.Context())
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	var machine armRes
	armDo(t, n.env, http.MethodGet, nodes[0].MachineResourceID, "2024-07-10", nil, &machine)
	if machine.Identity.PrincipalID == "" {
		t.Fatalf("machine %s has no system-assigned identity", nodes[0].MachineResourceID)
	}
	machineClient := clientIDOf(t, n, machine.Identity.PrincipalID)
	_, uriManaged := n.api(t)
	_, uriDefault := n.api(t)
	_, uriClient := n.api(t)
	_, uriObj := n.api(t)
	// The SDK appends /metadata/identity/oauth2/token to AZURE_POD_IDENTITY_AUTHORITY_HOST (msal-node
	// concatenates strings: no trailing slash) and, with the variable set, skips its probe.
	env := map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": n.agent.URL()}
	out := runNodeIdentity(t, node, env, []nodeCase{
		{Name: "managed system", Credential: "managed", Scope: uriManaged + "/.default"},
		{Name: "default system", Credential: "default", Scope: uriDefault + "/.default"},
		// The machine's own system-assigned identity selected by its client id (client_id on IMDS).
		{Name: "managed client id", Credential: "managed", ClientID: machineClient, Scope: uriClient + "/.default"},
		// And by its object id (object_id on IMDS; msi_res_id names user-assigned identities only).
		{Name: "managed object id", Credential: "managed", ObjectID: machine.Identity.PrincipalID, Scope: uriObj + "/.default"},
	})
	for name, uri := range map[string]string{"managed system": uriManaged, "default system": uriDefault, "managed client id": uriClient,
		"managed object id": uriObj} {
		n.checkNodeToken(t, name, out[name], uri, machine.Identity.PrincipalID, machine.ID, machineClient)
	}
	// The node's IMDS endpoint does not serve the apps placed on it.
	_, uriApp := n.api(t)
	refused := runNodeIdentityExpectFailure(t, node, env, nodeCase{Name: "app identity", Credential: "managed", ClientID: n.ua.Properties.ClientID, Scope: uriApp + "/.default"})
	if !strings.Contains(refused.Error, "Identity not found") {
		t.Errorf("an app's identity through IMDS: %q, want Identity not found", refused.Error)
	}
}

// runNodeIdentityExpectFailure runs one case that must fail and returns its result.
func runNodeIdentityExpectFailure(t *testing.T, cl identityClient, env map[string]string, c nodeCase) nodeResult {
	t.Helper()
	out, err := nodeIdentity(t, cl, env, []nodeCase{c})
	r := out[c.Name]
	if err == nil || r.Error == "" || r.Token != "" {
		t.Errorf("%s: %s succeeded (%v), want a failure", c.Name, cl.name, err)
	}
	return r
}
