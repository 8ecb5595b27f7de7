package compat

import (
	"path/filepath"
	"testing"

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
	e := newVaultEnv(t, lanyardtest.Options{})
	a := e.agentVaultApp("node-app", "node-vault", "kv-node")
	script, err := filepath.Abs(filepath.Join(nodeVaultDir, "vault.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	e.runWithVaultHost(a, "kv-node", nodeVaultDir, node, script)
	e.checkAgentApp(a, "vault.secret.set")
}
