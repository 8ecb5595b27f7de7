package compat

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestSeed003DeployedThroughAgent: seed 003 as a Node v3 function (the seed's function.json with
// scriptFile index.js: HTTP trigger with authLevel function, the keyVault input binding with
// identity "system"), deployed with zipdeploy to a function app with a system-assigned identity,
// hosted by the node's agent and called through its front door: with the function key (code
// query or x-functions-key header) it answers the secret, read through the vault's access
// policy; without a key 401 with an empty body, as Azure; once the policy is removed the next
// call fails and the app's log says why. The same function with a user-assigned identity in its
// binding (its client id) reads through that identity's own policy, and fails once it is removed.
func TestSeed003DeployedThroughAgent(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	e := newVaultEnv(t, lanyardtest.Options{})
	ctx := context.Background()
	// The same function once more with a user-assigned identity (the binding names its client id).
	site, uaPrincipal, uaClientID := e.functionAppWithUA(t, "seed003", "s3-ua", "s3-node")
	policy, uaPolicy := e.policy(site.Identity.PrincipalID, "get"), e.policy(uaPrincipal, "get")
	vaultID := e.createVault("my-key-vault-name", map[string]any{"accessPolicies": []any{policy, uaPolicy}})
	e.adminSetSecret("my-key-vault-name", "my-application-secret", "s3cr3t-003")
	e.arm(http.MethodPut, site.ID+"/config/appsettings", vWeb, map[string]any{
		"properties": map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"},
	}, nil)

	src := filepath.Join("..", "functions", "nodeworker", "testdata", "v3app", "seed003")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, body []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(body)
	}
	add("host.json", []byte(`{"version":"2.0"}`))
	for _, f := range []string{"function.json", "index.js"} {
		raw, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		add("seed003/"+f, raw)
		if f == "function.json" {
			raw = bytes.Replace(raw, []byte(`"identity": "system"`), []byte(`"identity": "`+uaClientID+`"`), 1)
		}
		add("seed003ua/"+f, raw)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := e.env.Admin.Send(ctx, http.MethodPost, site.ID+"/extensions/zipdeploy?api-version="+vWeb,
		http.Header{"Content-Type": {"application/zip"}}, buf.Bytes())
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("zipdeploy: %v %v", resp, err)
	}
	var keys struct {
		MasterKey    string            `json:"masterKey"`
		FunctionKeys map[string]string `json:"functionKeys"`
	}
	e.arm(http.MethodPost, site.ID+"/host/default/listkeys", vWeb, nil, &keys)
	key := keys.FunctionKeys["default"]
	if key == "" {
		t.Fatalf("no default function key: %d function keys", len(keys.FunctionKeys))
	}

	ag := e.env.StartAgent(t, "s3-node", agent.Config{FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}})
	appCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID}); err != nil {
		t.Fatal(err)
	}
	appLog := func() string {
		raw, _ := os.ReadFile(agent.LogPath(ag.Config.StateDir, "seed003"))
		return string(raw)
	}
	fn := "seed003"
	call := func(query string, h map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, ag.FrontDoorHTTPURL()+"/api/"+fn+query, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "seed003.sites.localhost"
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var got struct {
		Secret string `json:"secret"`
		Method string `json:"method"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := call("?code="+key, nil)
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Secret != "s3cr3t-003" || got.Method != "POST" {
				t.Fatalf("seed 003 answered %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed 003 is not served: %d %q\napp log:\n%s", code, body, appLog())
		}
		_ = ag.SyncSites(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := call("", map[string]string{"x-functions-key": key}); code != http.StatusOK || !strings.Contains(body, "s3cr3t-003") {
		t.Errorf("with x-functions-key: %d %q", code, body)
	}
	if code, body := call("", nil); code != http.StatusUnauthorized || body != "" {
		t.Errorf("without a key: %d %q, want 401 with an empty body", code, body)
	}
	if code, body := call("?code=not-"+key, nil); code != http.StatusUnauthorized || body != "" {
		t.Errorf("with a wrong key: %d %q, want 401 with an empty body", code, body)
	}

	e.accessPolicies(vaultID, "remove", policy)
	code, body := call("?code="+key, nil)
	if code != http.StatusInternalServerError || strings.Contains(body, "s3cr3t-003") {
		t.Fatalf("after the access policy's removal: %d %q, want 500 without the secret", code, body)
	}
	if log := appLog(); !strings.Contains(log, "does not have secrets get permission on key vault 'my-key-vault-name'") || strings.Contains(log, "s3cr3t-003") {
		t.Errorf("the app log does not say why the call failed (or shows the secret):\n%s", log)
	}

	// The user-assigned identity's function reads through its own policy, and fails once that
	// is removed.
	fn = "seed003ua"
	if code, body := call("?code="+key, nil); code != http.StatusOK || !strings.Contains(body, "s3cr3t-003") {
		t.Fatalf("with the user-assigned identity: %d %q", code, body)
	}
	e.accessPolicies(vaultID, "remove", uaPolicy)
	if code, body := call("?code="+key, nil); code != http.StatusInternalServerError || strings.Contains(body, "s3cr3t-003") {
		t.Fatalf("with the user-assigned identity after its policy's removal: %d %q, want 500", code, body)
	}
}
