package compat

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// debianPython is the interpreter Debian's python3-azure installs for.
const debianPython = "/usr/bin/python3"

// requirePython returns Debian's python3 when it can import the Azure packages; without them
// the test is skipped, or fails when LANYARD_REQUIRE_PYTHON=1 or CI is set.
func requirePython(t *testing.T) string {
	t.Helper()
	if why := pythonMissing(); why != "" {
		missing(t, "LANYARD_REQUIRE_PYTHON", why)
	}
	return debianPython
}

// pythonMissing says why Debian's python3-azure cannot be used ("" when it can).
func pythonMissing() string {
	out, err := exec.Command(debianPython, "-c", "import azure.identity, azure.keyvault.secrets").CombinedOutput()
	if err != nil {
		return "Debian's python3-azure is not installed (apt-get install python3-azure): " + strings.TrimSpace(string(out))
	}
	return ""
}

// TestVaultPythonClient runs Debian's python3-azure (azure-identity's ManagedIdentityCredential
// and azure-keyvault-secrets' SecretClient, unmodified) through the secrets operations as an
// app of the real agent: a site placed on an enrolled node, whose system-assigned identity has
// an access policy on the vault. The process has the app's environment from the agent only
// (IDENTITY_*, MSI_*, REQUESTS_CA_BUNDLE naming the agent's CA bundle) and resolves the vault's
// host name through a hosts file bind-mounted in a private mount namespace.
func TestVaultPythonClient(t *testing.T) {
	python := requirePython(t)
	e := newVaultEnv(t, lanyardtest.Options{})
	a := e.agentVaultApp("py-app", "py-vault", "kv-py")
	if !slices.ContainsFunc(a.env.List(), func(kv string) bool { return strings.HasPrefix(kv, "REQUESTS_CA_BUNDLE=") }) {
		t.Fatal("the agent gives its apps no REQUESTS_CA_BUNDLE")
	}
	script, err := filepath.Abs("testdata/python-vault/vault.py")
	if err != nil {
		t.Fatal(err)
	}
	e.runWithVaultHost(a, "kv-py", t.TempDir(), python, script)
	e.checkAgentApp(a, "vault.secret.restore")
	// The asynchronous clients (aiohttp, trusting the CA through SSL_CERT_FILE).
	async, err := filepath.Abs("testdata/python-vault/vault_async.py")
	if err != nil {
		t.Fatal(err)
	}
	e.runWithVaultHost(a, "kv-py", t.TempDir(), python, async)
}
