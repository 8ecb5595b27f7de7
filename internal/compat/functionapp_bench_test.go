package compat

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// Cold start of a function app: from the zipdeploy call to the first 200 through the node's
// front door, for a small Node v3 app (one HTTP function), against a bare Node HTTP server
// started from nothing to its first 200 on the same machine in the same run.
//
//	go test -run '^$' -bench FunctionAppColdStart -benchtime 10x ./internal/compat
//
// "deploy" is one redeploy per iteration (a new version, so a new digest): the management API
// stores the package, the server tells the agent (the events long poll), the agent reads the
// site, downloads the zip over mutual TLS, checks its digest, unpacks it, starts a function host
// with a Node worker, and swaps it in; the clock stops at the first answer of the new version.
// "bare-node" starts `node` with a server answering every request, and stops at its first 200.
func BenchmarkFunctionAppColdStart(b *testing.B) {
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not installed")
	}
	b.Run("bare-node", func(b *testing.B) {
		dir := b.TempDir()
		script := filepath.Join(dir, "server.js")
		if err := os.WriteFile(script, []byte(`require('http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1');`), 0o644); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			ln.Close()
			cmd := exec.Command("node", script)
			cmd.Env = append(os.Environ(), "PORT="+port)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			waitAnswer(b, "http://127.0.0.1:"+port+"/", "", "ok")
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/first-200")
	})
	b.Run("deploy", func(b *testing.B) {
		env := lanyardtest.Start(b, lanyardtest.Options{})
		ctx := context.Background()
		sub, err := env.Admin.DefaultSubscription(ctx)
		if err != nil {
			b.Fatal(err)
		}
		arm := func(method, path string, in, out any) {
			if err := env.Admin.ARM(ctx, method, path, vWeb, in, out); err != nil {
				b.Fatalf("%s %s: %v", method, path, err)
			}
		}
		group := client.ResourceGroupPath(sub.SubscriptionID, "coldstart")
		if err := env.Admin.ARM(ctx, http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil); err != nil {
			b.Fatal(err)
		}
		var site armRes
		arm(http.MethodPut, group+"/providers/Microsoft.Web/sites/cold", map[string]any{
			"location": "local", "kind": "functionapp,linux",
			"properties": map[string]any{"lanyard": map[string]string{"node": "cold-node"}},
		}, &site)
		arm(http.MethodPut, site.ID+"/config/appsettings", map[string]any{"properties": map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}}, nil)
		ag := env.StartAgent(b, "cold-node", agent.Config{FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}})
		appCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		if _, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID}); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			version := fmt.Sprintf("v%d", i)
			resp, err := env.Admin.Send(ctx, http.MethodPost, site.ID+"/extensions/zipdeploy?api-version="+vWeb,
				http.Header{"Content-Type": {"application/zip"}}, nodeV3Package(b, version))
			if err != nil || resp.Status != http.StatusOK {
				b.Fatalf("zipdeploy: %v %v", resp, err)
			}
			waitAnswer(b, ag.FrontDoorHTTPURL()+"/api/hello", "cold.sites.localhost", version)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/first-200")
	})
}

// nodeV3Package is a Node v3 function app whose one function answers version.
func nodeV3Package(b testing.TB, version string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{
		"host.json": `{"version":"2.0"}`,
		"hello/function.json": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"]},` +
			`{"type":"http","direction":"out","name":"res"}]}`,
		"hello/index.js": `module.exports = async function (context, req) { context.res = { body: '` + version + `' }; };`,
	} {
		w, err := zw.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// waitAnswer polls url (with Host host when set) until it answers 200 with want (30 s at most).
func waitAnswer(b testing.TB, url, host, want string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not answer %q: %v", url, want, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
