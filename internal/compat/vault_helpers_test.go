package compat

import (
	"context"
	"crypto/tls"
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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// vaultEnv is a running server with a resource group for vaults, and what a Key Vault client
// needs to reach it: vault host names resolved to the server's loopback port by the dialer, TLS
// verified against the server's CA, the challenge's resource verification left on.
type vaultEnv struct {
	t        testing.TB
	env      *lanyardtest.Env
	sub      string
	tenant   string
	port     string
	resource string // https://vault.localhost:PORT: the challenge's resource, the tokens' audience
	http     *http.Client
}

func newVaultEnv(t testing.TB, o lanyardtest.Options) *vaultEnv {
	t.Helper()
	env := lanyardtest.Start(t, o)
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatalf("default subscription: %v", err)
	}
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &vaultEnv{t: t, env: env, sub: sub.SubscriptionID, tenant: env.Server.Default.ID, port: u.Port(),
		resource: "https://vault.localhost:" + u.Port()}
	e.arm(http.MethodPut, client.ResourceGroupPath(e.sub, "rg"), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil)
	loopback := "127.0.0.1:" + e.port
	e.http = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: env.CAPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, loopback) // every host name is this server
		},
		MaxIdleConnsPerHost: 32,
	}, Timeout: 30 * time.Second}
	return e
}

// arm calls the management API as administrator (admin socket).
func (e *vaultEnv) arm(method, path, apiVersion string, in, out any) {
	e.t.Helper()
	if err := e.env.Admin.ARM(context.Background(), method, path, apiVersion, in, out); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// mint has the server mint a token for principalID and the vault resource (admin only).
func (e *vaultEnv) mint(principalID, resource string) string {
	e.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := e.env.Admin.Do(context.Background(), http.MethodPost, "/admin/v1/tokens",
		map[string]any{"principalId": principalID, "resource": resource}, &out); err != nil || out.AccessToken == "" {
		e.t.Fatalf("mint: %v", err)
	}
	return out.AccessToken
}

// vaultURL is the vault's URL as its vaultUri says.
func (e *vaultEnv) vaultURL(name string) string {
	return "https://" + name + ".vault.localhost:" + e.port
}

// createVault creates a vault with extra properties (access policies, RBAC, purge protection)
// and returns its ARM id.
func (e *vaultEnv) createVault(name string, props map[string]any) string {
	e.t.Helper()
	p := map[string]any{"tenantId": e.tenant, "sku": map[string]string{"family": "A", "name": "standard"}}
	for k, v := range props {
		p[k] = v
	}
	var out struct {
		ID         string `json:"id"`
		Properties struct {
			VaultURI string `json:"vaultUri"`
		} `json:"properties"`
	}
	path := client.ResourcePath(e.sub, "rg", client.TypeVaults, name)
	e.arm(http.MethodPut, path, client.APIVersionVaults, map[string]any{"location": "local", "properties": p}, &out)
	if want := e.vaultURL(name) + "/"; out.Properties.VaultURI != want {
		e.t.Fatalf("vaultUri %q, want %q", out.Properties.VaultURI, want)
	}
	return out.ID
}

// policy is an access policy entry granting secret permissions to objectID.
func (e *vaultEnv) policy(objectID string, perms ...string) map[string]any {
	return map[string]any{"tenantId": e.tenant, "objectId": objectID, "permissions": map[string]any{"secrets": perms}}
}

// accessPolicies runs the ARM access-policy operation (add, replace, remove) on a vault.
func (e *vaultEnv) accessPolicies(vaultID, kind string, policies ...map[string]any) {
	e.t.Helper()
	e.arm(http.MethodPut, vaultID+"/accessPolicies/"+kind, client.APIVersionVaults,
		map[string]any{"properties": map[string]any{"accessPolicies": policies}}, nil)
}

// identity creates a user-assigned managed identity and returns its principal id.
func (e *vaultEnv) identity(name string) string {
	e.t.Helper()
	var out struct {
		Properties struct {
			PrincipalID string `json:"principalId"`
		} `json:"properties"`
	}
	e.arm(http.MethodPut, client.ResourcePath(e.sub, "rg", client.TypeIdentities, name), client.APIVersionIdentities,
		map[string]any{"location": "local"}, &out)
	if out.Properties.PrincipalID == "" {
		e.t.Fatal("identity has no principal id")
	}
	return out.Properties.PrincipalID
}

// secrets is an unmodified azsecrets client for the vault, authenticated as principalID.
func (e *vaultEnv) secrets(vault, principalID string) *azsecrets.Client {
	return e.secretsWith(vault, &mintCredential{e: e, principal: principalID})
}

func (e *vaultEnv) secretsWith(vault string, cred azcore.TokenCredential) *azsecrets.Client {
	e.t.Helper()
	c, err := azsecrets.NewClient(e.vaultURL(vault), cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: e.http},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// mintCredential is a TokenCredential that has the server mint tokens for one principal (the
// admin token-mint API), for whatever scope the client asks: it stands in for a managed identity
// endpoint. It records the scopes and tenants it was asked for.
type mintCredential struct {
	e         *vaultEnv
	principal string

	mu      sync.Mutex
	scopes  []string
	tenants []string
	tokens  []string
}

// lastToken is the last token the credential handed out.
func (c *mintCredential) lastToken(t testing.TB) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) == 0 {
		t.Fatal("no token was minted")
	}
	return c.tokens[len(c.tokens)-1]
}

func (c *mintCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.scopes = append(c.scopes, o.Scopes...)
	c.tenants = append(c.tenants, o.TenantID)
	c.mu.Unlock()
	if len(o.Scopes) != 1 {
		c.e.t.Errorf("token asked for scopes %v", o.Scopes)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := c.e.env.Admin.Do(ctx, http.MethodPost, "/admin/v1/tokens",
		map[string]any{"principalId": c.principal, "resource": strings.TrimSuffix(o.Scopes[0], "/.default")}, &out)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	c.mu.Lock()
	c.tokens = append(c.tokens, out.AccessToken)
	c.mu.Unlock()
	return azcore.AccessToken{Token: out.AccessToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// adminSetSecret sets a secret as the administrator, through the admin socket with the vault's
// Host, as `lanyard keyvault secret set` does.
func (e *vaultEnv) adminSetSecret(vault, name, value string) {
	e.t.Helper()
	if _, err := e.env.Admin.Vault(vault+".vault.localhost:"+e.port).SetSecret(context.Background(), name, client.SecretSet{Value: value}); err != nil {
		e.t.Fatalf("admin set secret: %v", err)
	}
}

// agentVaultApp is an app of the real agent for the vault tests of other languages' clients: a
// site with a system-assigned identity, placed on a node that an agent enrolls as, and a vault
// (vaultName) on which that identity has every secret permission.
type agentVaultApp struct {
	site  armRes
	agent *lanyardtest.Agent
	env   agent.Env // the app's environment, as the agent gives it
}

func (e *vaultEnv) agentVaultApp(siteName, nodeName, vaultName string) agentVaultApp {
	t := e.t
	t.Helper()
	var a agentVaultApp
	e.arm(http.MethodPut, client.ResourcePath(e.sub, "rg", client.TypeSites, siteName), vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": nodeName}},
	}, &a.site)
	if a.site.Identity.PrincipalID == "" {
		t.Fatal("the site has no system-assigned identity")
	}
	e.createVault(vaultName, map[string]any{"accessPolicies": []any{e.policy(a.site.Identity.PrincipalID, "all")}})
	a.agent = e.env.StartAgent(t, nodeName, agent.Config{})
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	var err error
	if a.env, err = a.agent.StartApp(ctx, agent.AppConfig{Site: a.site.ID}); err != nil {
		t.Fatal(err)
	}
	return a
}

// runWithVaultHost runs argv in dir with the app's environment only (and PATH, HOME and
// VAULT_URL), in a private mount namespace whose /etc/hosts maps vaultName's host to loopback,
// and returns what it printed. It skips the test without unshare or root.
func (e *vaultEnv) runWithVaultHost(a agentVaultApp, vaultName, dir string, argv ...string) []byte {
	t := e.t
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs unshare and root for a private mount namespace with its own hosts file")
	}
	home := t.TempDir()
	hosts := filepath.Join(home, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost "+vaultName+".vault.localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, append([]string{"--mount", "--propagation", "private", "--",
		"sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hosts}, argv...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "VAULT_URL=" + e.vaultURL(vaultName)}, a.env.List()...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s (%v):\n%s", filepath.Base(argv[0]), time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(argv[0]), err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "done") {
		t.Fatalf("%s did not finish", filepath.Base(argv[0]))
	}
	return out
}

// checkAgentApp checks that the agent minted for the app and that the audit log has action by
// the site's identity.
func (e *vaultEnv) checkAgentApp(a agentVaultApp, action string) {
	t := e.t
	t.Helper()
	if agentMisses(t, a.agent) < 1 {
		t.Error("the agent minted no token")
	}
	evs, err := e.env.Admin.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(ev client.AuditEvent) bool {
		return ev.Actor == "sp:"+a.site.Identity.PrincipalID && ev.Action == action && ev.Result == "success"
	}) {
		t.Errorf("the audit log has no %s by the site's identity", action)
	}
}
