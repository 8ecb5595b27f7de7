package compat

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/functions"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// secretHost stands in for the function host (package functions) until it is built: every
// request is one invocation of a function with the keyVault binding, reading the secret
// db-password of the vault fnvault with the identity the query names, through the
// SecretReader the agent gave the host.
type secretHost struct{ cfg functions.Config }

func (h secretHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, err := h.cfg.Secrets.ReadSecret(r.Context(), functions.SecretRef{
		Identity: r.URL.Query().Get("identity"), Vault: "fnvault", Name: "db-password",
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, v)
}

func (secretHost) Close(context.Context) error { return nil }

// TestFunctionAppKeyVaultReadsThroughAgent: a function app hosted by a real agent (run in place
// from a script root) reads a secret for its keyVault binding with a token of the identity the
// binding names, from the agent's own token path, through the real vault's access policies:
// the system-assigned identity, a user-assigned one by client id and by resource id; once the
// system identity's policy is removed the next read fails and says why, never a stale value.
// The request comes in through the agent's front door at the site's host name.
func TestFunctionAppKeyVaultReadsThroughAgent(t *testing.T) {
	e := newVaultEnv(t, lanyardtest.Options{})
	site, uaPrincipal, uaClientID := e.functionAppWithUA(t, "kv-func", "fn-ua", "fn-node")
	sysPolicy := e.policy(site.Identity.PrincipalID, "get")
	vaultID := e.createVault("fnvault", map[string]any{"accessPolicies": []any{sysPolicy, e.policy(uaPrincipal, "get")}})
	e.adminSetSecret("fnvault", "db-password", "s3cret-value")

	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "host.json"), []byte(`{"version":"2.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var started atomic.Int64
	ag := e.env.StartAgent(t, "fn-node", agent.Config{
		FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"},
		FunctionHost: func(_ context.Context, cfg functions.Config) (agent.FunctionHost, error) {
			started.Add(1)
			if cfg.Root != root || cfg.Name != "kv-func" {
				t.Errorf("host started on %s for %s", cfg.Root, cfg.Name)
			}
			return secretHost{cfg}, nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := ag.StartApp(ctx, agent.AppConfig{Site: site.ID, Functions: root}); err != nil {
		t.Fatal(err)
	}
	call := func(identity string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ag.FrontDoorHTTPURL()+"/api/secret?identity="+identity, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "kv-func.sites.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := call("system")
		if code == http.StatusOK && body == "s3cret-value" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the system identity's read: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range []string{uaClientID, client.ResourcePath(e.sub, "rg", client.TypeIdentities, "fn-ua")} {
		if code, body := call(id); code != http.StatusOK || body != "s3cret-value" {
			t.Errorf("the user-assigned identity %s: %d %s", id, code, body)
		}
	}
	if code, body := call("00000000-0000-0000-0000-00000000dead"); code != http.StatusInternalServerError || strings.Contains(body, "s3cret") {
		t.Errorf("an identity the app does not have: %d %s", code, body)
	}
	e.accessPolicies(vaultID, "remove", sysPolicy)
	code, body := call("system")
	t.Logf("after the policy's removal: %d %s", code, body)
	if code != http.StatusInternalServerError || strings.Contains(body, "s3cret") || !strings.Contains(body, "403") || !strings.Contains(body, "db-password") {
		t.Errorf("after the policy's removal: %d %q, want a failure that says the vault refused", code, body)
	}
	if code, body := call(uaClientID); code != http.StatusOK || body != "s3cret-value" {
		t.Errorf("the user-assigned identity keeps its policy: %d %s", code, body)
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d hosts started, want 1", n)
	}
}

// TestFunctionAppTimerClaimsAcrossNodes: a function app hosted on two nodes, each by its own
// agent, has each timer tick claimed by exactly one of them through the real server (the node
// holding a tick is told so again when it asks again).
func TestFunctionAppTimerClaimsAcrossNodes(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	group := client.ResourceGroupPath(sub.SubscriptionID, "timers")
	armDo(t, env, http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil)
	var site armRes
	armDo(t, env, http.MethodPut, group+"/providers/Microsoft.Web/sites/timer-func", vWeb, map[string]any{
		"location": "local", "kind": "functionapp,linux",
		"properties": map[string]any{"lanyard": map[string]any{"nodes": []string{"tn1", "tn2"}}},
	}, &site)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "host.json"), []byte(`{"version":"2.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var locks [2]functions.TimerLock
	for i, node := range []string{"tn1", "tn2"} {
		got := make(chan functions.Config, 1)
		ag := env.StartAgent(t, node, agent.Config{
			FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"},
			FunctionHost: func(_ context.Context, cfg functions.Config) (agent.FunctionHost, error) {
				select {
				case got <- cfg:
				default:
				}
				return secretHost{cfg}, nil
			},
		})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		if _, err := ag.StartApp(ctx, agent.AppConfig{Site: site.ID, Functions: root}); err != nil {
			t.Fatal(err)
		}
		select {
		case cfg := <-got:
			locks[i] = cfg.Timers
		case <-time.After(20 * time.Second):
			t.Fatalf("%s started no host", node)
		}
	}
	// Recent ticks: the server takes claims for the last 23 hours and the next hour only.
	tick := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	for n := range 6 {
		at := tick.Add(time.Duration(n) * time.Minute)
		var won [2]bool
		var wg sync.WaitGroup
		for i := range locks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if won[i], err = locks[i].Claim(context.Background(), "Tick", at); err != nil {
					t.Errorf("node %d, tick %s: %v", i, at, err)
				}
			}()
		}
		wg.Wait()
		if won[0] == won[1] {
			t.Fatalf("tick %s: claimed by %v, want exactly one node", at, won)
		}
		holder := 0
		if won[1] {
			holder = 1
		}
		if again, err := locks[holder].Claim(context.Background(), "Tick", at); err != nil || !again {
			t.Fatalf("tick %s asked again by its holder: %v %v", at, again, err)
		}
	}
}

// functionAppWithUA creates, in group rg, the user-assigned identity ua and the function app
// name placed on node with its system-assigned identity and ua attached; it returns the site,
// ua's principal id and its client id.
func (e *vaultEnv) functionAppWithUA(t *testing.T, name, ua, node string) (armRes, string, string) {
	t.Helper()
	uaPrincipal := e.identity(ua)
	uaID := client.ResourcePath(e.sub, "rg", client.TypeIdentities, ua)
	var site armRes
	e.arm(http.MethodPut, client.ResourcePath(e.sub, "rg", client.TypeSites, name), vWeb, map[string]any{
		"location": "local", "kind": "functionapp,linux",
		"identity":   map[string]any{"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map[string]any{uaID: map[string]any{}}},
		"properties": map[string]any{"lanyard": map[string]string{"node": node}},
	}, &site)
	var uaClientID string
	for id, u := range site.Identity.UserAssignedIdentities {
		if strings.EqualFold(id, uaID) {
			uaClientID = u.ClientID
		}
	}
	if site.Identity.PrincipalID == "" || uaClientID == "" {
		t.Fatalf("the site's identities: %+v", site.Identity)
	}
	return site, uaPrincipal, uaClientID
}
