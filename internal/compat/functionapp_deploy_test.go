package compat

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// fnPackage is a function app's zip: a custom handler (a Node HTTP server, run by the host with
// enableForwardingHttpRequest) that answers every call with its version.
func fnPackage(t *testing.T, version string) []byte {
	t.Helper()
	files := map[string]string{
		"host.json": `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"node","arguments":["server.js"]},"enableForwardingHttpRequest":true}}`,
		"hello/function.json": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"]},` +
			`{"type":"http","direction":"out","name":"res"}]}`,
		"server.js": `const http = require('http');
const version = require('fs').readFileSync(__dirname + '/version.txt', 'utf8');
http.createServer((req, res) => { res.end(version); }).listen(+process.env.FUNCTIONS_CUSTOMHANDLER_PORT, '127.0.0.1');
`,
		"version.txt": version,
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFunctionAppZipDeployUnderLoad, end to end with the real server, agent and function host:
// a zip deployed through the management API (zipdeploy) is fetched by the node's agent,
// checked, unpacked and served through the front door at the site's host name; a redeploy
// while eight clients call the function without pause loses no request: every answer is 200,
// from the old version until the new one is ready, then from the new one. The old version's
// directory is removed after the switch.
func TestFunctionAppZipDeployUnderLoad(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the test's custom handler is a Node script")
	}
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	site := newSite(t, env, "fnrg", "fn-e2e", "functionapp,linux", "fn-node", "custom")
	deploy := func(version string) string {
		t.Helper()
		pkg := fnPackage(t, version)
		resp, err := env.Admin.Send(ctx, http.MethodPost, site.ID+"/extensions/zipdeploy?api-version="+vWeb,
			http.Header{"Content-Type": {"application/zip"}}, pkg)
		if err != nil {
			t.Fatalf("zipdeploy %s: %v", version, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("zipdeploy %s: %d %s", version, resp.Status, resp.Body)
		}
		sum := sha256.Sum256(pkg)
		return hex.EncodeToString(sum[:])
	}

	ag := env.StartAgent(t, "fn-node", agent.Config{FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}})
	appCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID}); err != nil {
		t.Fatal(err)
	}
	call := func() (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, ag.FrontDoorHTTPURL()+"/api/hello", nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = "fn-e2e.sites.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	appLog := func() string {
		raw, _ := os.ReadFile(agent.LogPath(ag.Config.StateDir, "fn-e2e"))
		return string(raw)
	}
	waitFor := func(version string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body, err := call()
			if err == nil && code == http.StatusOK && body == version {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not served: %d %q %v\napp log:\n%s", version, code, body, err, appLog())
			}
			_ = ag.SyncSites(ctx) // the deploy's event does it too; this does not wait for the long poll
			time.Sleep(50 * time.Millisecond)
		}
	}
	v1 := deploy("v1")
	waitFor("v1")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var failures []string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := call()
				mu.Lock()
				if err != nil || code != http.StatusOK {
					failures = append(failures, body+" "+errText(err))
				} else {
					seen[body]++
				}
				mu.Unlock()
			}
		}()
	}
	v2 := deploy("v2")
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := seen["v2"]
		mu.Unlock()
		if n > 50 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("v2 is not served under load (%v)\napp log:\n%s", seen, appLog())
		}
		_ = ag.SyncSites(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("answers: %v", seen)
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during the redeploy, e.g. %q", len(failures), len(failures)+seen["v1"]+seen["v2"], failures[0])
	}
	if seen["v1"] == 0 {
		t.Error("no request was served by v1 during the redeploy")
	}
	dir := filepath.Join(ag.Config.StateDir, "functions", "fn-e2e")
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(dir, v1))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v1's directory is still there: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, v2, "version.txt")); err != nil {
		t.Fatalf("v2's directory: %v", err)
	}
	if log := appLog(); !strings.Contains(log, "version sha256:"+v2+" serving") {
		t.Errorf("the app log does not say v2 serves:\n%s", log)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFunctionAppInSandbox: a deployed function app whose agent runs apps in sandboxes has its
// worker started in the app's sandbox (through the sandbox's command) and reached in its network
// namespace; the worker sees the sandbox's identity endpoint.
func TestFunctionAppInSandbox(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skipf("this host does not allow sandboxes: %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the test's custom handler is a Node script")
	}
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	site := newSite(t, env, "fnsbx", "fn-sbx", "functionapp,linux", "fn-sbx-node", "")
	ag := env.StartAgent(t, "fn-sbx-node", agent.Config{Sandbox: agent.SandboxOn, FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}})
	appCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ag.SandboxOf("fn-sbx"); !ok {
		t.Fatal("the app has no sandbox")
	}
	// The worker answers with the identity endpoint it was given.
	pkg := fnPackage(t, "v1")
	pkg = rezip(t, pkg, "server.js", `const http = require('http');
http.createServer((req, res) => { res.end(process.env.IDENTITY_ENDPOINT || 'none'); }).listen(+process.env.FUNCTIONS_CUSTOMHANDLER_PORT, '127.0.0.1');
`)
	resp, err := env.Admin.Send(ctx, http.MethodPost, site.ID+"/extensions/zipdeploy?api-version="+vWeb, http.Header{"Content-Type": {"application/zip"}}, pkg)
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("zipdeploy: %v %v", resp, err)
	}
	want := "http://" + sandbox.IMDSAddr.String() + agent.PathAppService
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, ag.FrontDoorHTTPURL()+"/api/hello", nil)
		req.Host = "fn-sbx.sites.localhost"
		r, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				if string(b) != want {
					t.Fatalf("the worker's IDENTITY_ENDPOINT is %q, want the sandbox's %q", b, want)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(agent.LogPath(ag.Config.StateDir, "fn-sbx"))
			t.Fatalf("not served from the sandbox: %v\napp log:\n%s", err, raw)
		}
		_ = ag.SyncSites(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	// Redeployed as a Node v3 app: Lanyard's Node worker (its script in the host's WorkDir)
	// runs in the sandbox too.
	armDo(t, env, http.MethodPut, site.ID+"/config/appsettings", vWeb, map[string]any{
		"properties": map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"},
	}, nil)
	resp, err = env.Admin.Send(ctx, http.MethodPost, site.ID+"/extensions/zipdeploy?api-version="+vWeb,
		http.Header{"Content-Type": {"application/zip"}}, nodeV3Package(t, "v3 in the sandbox"))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("zipdeploy: %v %v", resp, err)
	}
	_ = ag.SyncSites(ctx)
	waitAnswer(t, ag.FrontDoorHTTPURL()+"/api/hello", "fn-sbx.sites.localhost", "v3 in the sandbox")
}

// rezip returns the zip z with the file name's content replaced.
func rezip(t *testing.T, z []byte, name, content string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			_, _ = io.WriteString(w, content)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(w, rc)
		rc.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newSite creates resource group group and in it the site name of kind (app,
// functionapp,linux ...) with a system-assigned identity, placed on node; runtime, when not
// "", is its FUNCTIONS_WORKER_RUNTIME app setting.
func newSite(t *testing.T, env *lanyardtest.Env, group, name, kind, node, runtime string) armRes {
	t.Helper()
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := client.ResourceGroupPath(sub.SubscriptionID, group)
	armDo(t, env, http.MethodPut, g, vRG, map[string]any{"location": "local"}, nil)
	var site armRes
	armDo(t, env, http.MethodPut, g+"/providers/Microsoft.Web/sites/"+name, vWeb, map[string]any{
		"location": "local", "kind": kind, "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": node}},
	}, &site)
	if runtime != "" {
		armDo(t, env, http.MethodPut, site.ID+"/config/appsettings", vWeb, map[string]any{
			"properties": map[string]string{"FUNCTIONS_WORKER_RUNTIME": runtime},
		}, nil)
	}
	return site
}
