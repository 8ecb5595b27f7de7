package compat

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// nodeVaultDir holds the Node half of the test: vault.mjs and its pinned dependencies.
const nodeVaultDir = "testdata/node-vault"

// TestVaultNodeClient runs the unmodified Node clients (@azure/keyvault-secrets 4.12.0,
// @azure/identity 4.14.1) through every secrets operation, beginDeleteSecret and
// beginRecoverDeletedSecret polling included, with challenge resource verification on. Node
// resolves the vault's host name through a hosts file bind-mounted in a private mount namespace.
// Its ManagedIdentityCredential gets tokens from the real agent: a node enrolled with a join
// token serves the App Service-style endpoint to an app of a site placed on it, whose
// system-assigned identity has an access policy on the vault. The process gets the app's
// environment from the agent (IDENTITY_*, MSI_*, and NODE_EXTRA_CA_CERTS naming the agent's CA
// bundle, which trusts Lanyard's CA) and nothing else of the test's.
//
// It needs node and the dependencies installed (npm ci --prefix internal/compat/testdata/node-vault:
// a failure when LANYARD_REQUIRE_NODE=1 or CI is set, else a skip) and root for the mount
// namespace (skipped without it).
func TestVaultNodeClient(t *testing.T) {
	node := requireNode(t, nodeVaultDir, "@azure/keyvault-secrets")
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs unshare and root for a private mount namespace with its own hosts file")
	}

	e := newVaultEnv(t, lanyardtest.Options{})
	// A site with a system-assigned identity, placed on the node the agent enrolls as.
	var site armRes
	e.arm(http.MethodPut, client.ResourcePath(e.sub, "rg", client.TypeSites, "node-app"), vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "node-vault"}},
	}, &site)
	if site.Identity.PrincipalID == "" {
		t.Fatal("the site has no system-assigned identity")
	}
	e.createVault("kv-node", map[string]any{"accessPolicies": []any{e.policy(site.Identity.PrincipalID, "all")}})
	ag := e.env.StartAgent(t, "node-vault", agent.Config{})
	appCtx, stopApp := context.WithCancel(context.Background())
	defer stopApp()
	appEnv, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost kv-node.vault.localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(nodeVaultDir, "vault.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount --bind "$0" /etc/hosts && exec "$1" "$2"`, hosts, node, script)
	cmd.Dir = nodeVaultDir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "VAULT_URL=" + e.vaultURL("kv-node")}, appEnv.List()...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("node (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "done") {
		t.Fatal("the Node script did not finish")
	}
	// The token came from the agent (it minted), and the vault saw the site's identity.
	if agentMisses(t, ag) < 1 {
		t.Error("the agent minted no token")
	}
	evs, err := e.env.Admin.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(ev client.AuditEvent) bool {
		return ev.Actor == "sp:"+site.Identity.PrincipalID && ev.Action == "vault.secret.set" && ev.Result == "success"
	}) {
		t.Error("the audit log has no secret set by the site's identity")
	}
}
