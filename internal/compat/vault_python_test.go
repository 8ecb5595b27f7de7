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
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs unshare and root for a private mount namespace with its own hosts file")
	}

	e := newVaultEnv(t, lanyardtest.Options{})
	var site armRes
	e.arm(http.MethodPut, client.ResourcePath(e.sub, "rg", client.TypeSites, "py-app"), vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "py-vault"}},
	}, &site)
	if site.Identity.PrincipalID == "" {
		t.Fatal("the site has no system-assigned identity")
	}
	e.createVault("kv-py", map[string]any{"accessPolicies": []any{e.policy(site.Identity.PrincipalID, "all")}})
	ag := e.env.StartAgent(t, "py-vault", agent.Config{})
	appCtx, stopApp := context.WithCancel(context.Background())
	defer stopApp()
	appEnv, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(appEnv.List(), func(kv string) bool { return strings.HasPrefix(kv, "REQUESTS_CA_BUNDLE=") }) {
		t.Fatal("the agent gives its apps no REQUESTS_CA_BUNDLE")
	}

	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost kv-py.vault.localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/python-vault/vault.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount --bind "$0" /etc/hosts && exec "$1" "$2"`, hosts, python, script)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "VAULT_URL=" + e.vaultURL("kv-py")}, appEnv.List()...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("python (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "done") {
		t.Fatal("the Python script did not finish")
	}
	if agentMisses(t, ag) < 1 {
		t.Error("the agent minted no token")
	}
	evs, err := e.env.Admin.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(ev client.AuditEvent) bool {
		return ev.Actor == "sp:"+site.Identity.PrincipalID && ev.Action == "vault.secret.restore" && ev.Result == "success"
	}) {
		t.Error("the audit log has no restore by the site's identity")
	}
}
