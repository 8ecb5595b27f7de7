package compat

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestVaultAccessPolicyStory is the classic managed-identity story end to end: an app run by the
// agent (testdata/kvreader: unmodified azidentity and azsecrets, challenge resource verification
// on, Lanyard's CA trusted through the SSL_CERT_FILE the agent gives it) reads a secret through
// its site's system-assigned identity once an access policy is granted; after the policy is
// removed its next read is 403 Forbidden; after re-granting it reads again.
func TestVaultAccessPolicyStory(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kvreader")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/kvreader").CombinedOutput(); err != nil {
		t.Fatalf("build kvreader: %v\n%s", err, out)
	}
	e := newVaultEnv(t, lanyardtest.Options{})
	var site armRes
	e.arm(http.MethodPut, client.ResourcePath(e.sub, "rg", client.TypeSites, "reader"), vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "kv-node"}},
	}, &site)
	vaultID := e.createVault("kv-story", nil)
	e.adminSetSecret("kv-story", "db-password", "correct horse battery staple")
	sum := sha256.Sum256([]byte("correct horse battery staple"))
	wantOK := fmt.Sprintf("OK %x", sum[:4])

	ag := e.env.StartAgent(t, "kv-node", agent.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := ag.StartApp(ctx, agent.AppConfig{Site: site.ID, Name: "reader", Command: []string{bin}, Env: map[string]string{
		"VAULT_URL": e.vaultURL("kv-story"), "SECRET_NAME": "db-password", "LANYARD_DIAL": "127.0.0.1:" + e.port,
	}}); err != nil {
		t.Fatal(err)
	}
	logPath := ag.AppLogPath("reader")

	// reads returns the app's reads that started after since.
	type read struct {
		n      int
		start  time.Time
		result string
	}
	reads := func(since time.Time) []read {
		raw, _ := os.ReadFile(logPath)
		var out []read
		for _, line := range strings.Split(string(raw), "\n") {
			i := strings.Index(line, "KVREAD ")
			if i < 0 {
				continue
			}
			f := strings.SplitN(line[i:], " ", 4)
			if len(f) < 4 {
				continue
			}
			n, _ := strconv.Atoi(f[1])
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			if start := time.Unix(0, ns); start.After(since) {
				out = append(out, read{n, start, f[3]})
			}
		}
		return out
	}
	// next waits for the first read that started after since and returns its result.
	next := func(since time.Time) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if rs := reads(since); len(rs) > 0 {
				return rs[0].result
			}
			time.Sleep(50 * time.Millisecond)
		}
		raw, _ := os.ReadFile(logPath)
		t.Fatalf("no read after %v; the app's log:\n%s", since, raw)
		return ""
	}

	if got := next(time.Now()); !strings.HasPrefix(got, "ERR 403 Forbidden") {
		t.Fatalf("a read before any access policy: %q, want ERR 403 Forbidden", got)
	}
	e.accessPolicies(vaultID, "add", e.policy(site.Identity.PrincipalID, "get"))
	if got := next(time.Now()); got != wantOK {
		t.Fatalf("a read after the grant: %q, want %q", got, wantOK)
	}
	e.accessPolicies(vaultID, "remove", e.policy(site.Identity.PrincipalID, "get"))
	if got := next(time.Now()); !strings.HasPrefix(got, "ERR 403 Forbidden") {
		t.Fatalf("the next read after the policy was removed: %q, want ERR 403 Forbidden", got)
	}
	e.accessPolicies(vaultID, "add", e.policy(site.Identity.PrincipalID, "get", "list"))
	if got := next(time.Now()); got != wantOK {
		t.Fatalf("a read after re-granting: %q, want %q", got, wantOK)
	}
	// The value is nowhere in the app's log but where the app printed its hash.
	if raw, _ := os.ReadFile(logPath); strings.Contains(string(raw), "correct horse") {
		t.Error("the secret's value is in the app's log")
	}
}
