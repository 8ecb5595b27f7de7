package functions

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkNodeChainRatio is the Node figure, in one run: HTTP-trigger invocations per
// second through the front door → the host → Lanyard's Node worker → the response, for a v3
// function and for a v4 one (the real @azure/functions), against a bare Node HTTP server doing
// the same work (nodeworker/testdata/bare.js: answer {"ok":true}); 16 keep-alive clients, five
// interleaved rounds of b.N/5 requests per target, medians of the rounds' ratios. The v3 and v4
// targets reach the worker in frames on its unix socket (frames.go); the -http targets are the
// same hosts reaching it over HTTP as a custom handler (package backend's connections), as
// before the framed protocol.
//
//	go test -run '^$' -bench NodeChainRatio -benchtime 20000x ./internal/functions
func BenchmarkNodeChainRatio(b *testing.B) {
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not installed")
	}
	v4src := "nodeworker/testdata/v4app"
	if _, err := os.Stat(filepath.Join(v4src, "node_modules", "@azure", "functions")); err != nil {
		b.Skip("run `npm ci` in internal/functions/nodeworker/testdata/v4app first")
	}
	bare := bareNode(b)
	v3root := app(b, "", map[string]string{"bench": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`})
	write(b, filepath.Join(v3root, "bench", "index.js"), `module.exports = async function (context, req) { context.res = { body: { ok: true } }; };`)
	v4root := filepath.Join(b.TempDir(), "app")
	if err := os.CopyFS(v4root, os.DirFS(v4src)); err != nil {
		b.Fatal(err)
	}
	write(b, filepath.Join(v4root, "host.json"), `{"version":"2.0"}`)
	host := func(root string, viaHTTP bool) string {
		cfg := Config{Root: root, Name: "app", HostName: "app.sites.localhost", FunctionLog: io.Discard,
			Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}, viaHTTP: viaHTTP}
		return behindDoor(b, startHost(b, cfg, nil)) + "/api/bench"
	}
	targets := []benchTarget{
		{"bare", bare, "", 200},
		{"v3", host(v3root, false), "app.sites.localhost", 200},
		{"v3-http", host(v3root, true), "app.sites.localhost", 200},
		{"v4", host(v4root, false), "app.sites.localhost", 200},
		{"v4-http", host(v4root, true), "app.sites.localhost", 200},
	}
	const rounds = 5
	b.ResetTimer()
	rates := interleaved(b, rounds, max(b.N/rounds, 1), targets)
	reportRatios(b, rates, [2]string{"v3", "bare"}, [2]string{"v4", "bare"}, [2]string{"v3-http", "bare"}, [2]string{"v4-http", "bare"},
		[2]string{"v3", "v3-http"}, [2]string{"v4", "v4-http"})
	slices.Sort(rates["bare"])
	b.ReportMetric(rates["bare"][rounds/2], "bare-req/s")
}

// bareNode runs nodeworker/testdata/bare.js on a free port and returns its URL.
func bareNode(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("node", "nodeworker/testdata/bare.js")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			b.Fatal("the bare Node server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
