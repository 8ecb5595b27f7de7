package compat

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// nodeVaultDir holds the Node half of the test: vault.mjs and its pinned dependencies.
const nodeVaultDir = "testdata/node-vault"

// TestVaultNodeClient runs the unmodified Node clients (@azure/keyvault-secrets 4.12.0,
// @azure/identity 4.14.1) through every secrets operation, beginDeleteSecret and
// beginRecoverDeletedSecret polling included, with challenge resource verification on. Node
// resolves the vault's host name through a hosts file bind-mounted in a private mount namespace,
// and trusts Lanyard's CA through NODE_EXTRA_CA_CERTS. Its ManagedIdentityCredential gets tokens
// from an App Service-style endpoint that this test serves (a stand-in for the agent's, which
// mints through the admin API for one managed identity).
//
// It needs node and the dependencies installed (npm ci --prefix internal/compat/testdata/node-vault)
// and root for the mount namespace; without them it is skipped, saying why.
func TestVaultNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(nodeVaultDir, "node_modules", "@azure", "keyvault-secrets")); err != nil {
		t.Skip("the Node dependencies are not installed: npm ci --prefix internal/compat/testdata/node-vault")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs unshare and root for a private mount namespace with its own hosts file")
	}

	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	mi := e.identity("node-app")
	e.createVault("kv-node", map[string]any{"accessPolicies": []any{e.policy(mi, "all")}})

	// The App Service-style identity endpoint.
	const header = "node-test-identity-header"
	var (
		mu     sync.Mutex
		minted []string
	)
	msi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("X-IDENTITY-HEADER") != header || q.Get("api-version") != "2019-08-01" || q.Get("resource") == "" {
			http.Error(w, `{"statusCode":400,"message":"bad request"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		minted = append(minted, q.Get("resource"))
		mu.Unlock()
		var out struct {
			AccessToken string `json:"access_token"`
			ExpiresOn   string `json:"expires_on"`
			ClientID    string `json:"client_id"`
		}
		if err := e.env.Admin.Do(r.Context(), http.MethodPost, "/admin/v1/tokens", map[string]any{"principalId": mi, "resource": q.Get("resource")}, &out); err != nil {
			http.Error(w, `{"statusCode":500,"message":"mint failed"}`, http.StatusInternalServerError)
			return
		}
		exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"` + out.AccessToken + `","expires_on":"` + exp + `","resource":"` + q.Get("resource") +
			`","token_type":"Bearer","client_id":"` + out.ClientID + `"}`))
	}))
	defer msi.Close()

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.env.Server.CA.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost kv-node.vault.localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(nodeVaultDir, "vault.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount --bind "$0" /etc/hosts && exec "$1" "$2"`, hosts, node, script)
	cmd.Dir = nodeVaultDir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"VAULT_URL=" + e.vaultURL("kv-node"),
		"IDENTITY_ENDPOINT=" + msi.URL + "/msi/token", "IDENTITY_HEADER=" + header,
		"NODE_EXTRA_CA_CERTS=" + ca,
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node:\n%s", out)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "done") {
		t.Fatal("the Node script did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(minted) == 0 || minted[0] != e.resource {
		t.Fatalf("tokens minted for %v, want %s (the challenge's resource)", minted, e.resource)
	}
}
