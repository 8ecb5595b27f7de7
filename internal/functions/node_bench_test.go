package functions

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/frontdoor"
)

// BenchmarkNodeChainRatio is the Node figure, in one run: HTTP-trigger invocations per
// second through the front door → the host → Lanyard's Node worker → the response, for a v3
// function and for a v4 one (the real @azure/functions), against a bare Node HTTP server doing
// the same work (nodeworker/testdata/bare.js: answer {"ok":true}); 16 keep-alive clients,
// alternating halves.
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
	behindDoor := func(root string) string {
		h := startHost(b, Config{Root: root, Name: "app", HostName: "app.sites.localhost", FunctionLog: io.Discard,
			Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}}, nil)
		fd := frontdoor.New(frontdoor.Config{})
		fd.SetSite(frontdoor.Site{Name: "app", HostName: "app.sites.localhost", Handler: h})
		fd.SetState("app", frontdoor.Running)
		srv := httptest.NewServer(fd)
		b.Cleanup(srv.Close)
		return srv.URL + "/api/bench"
	}
	v3, v4 := behindDoor(v3root), behindDoor(v4root)
	n := max(b.N/2, 1)
	var tb, t3, t4 time.Duration
	b.ResetTimer()
	for range 2 {
		tb += benchLoad(b, bare, "", n, 200)
		t3 += benchLoad(b, v3, "app.sites.localhost", n, 200)
		t4 += benchLoad(b, v4, "app.sites.localhost", n, 200)
	}
	b.ReportMetric(float64(2*n)/tb.Seconds(), "bare-req/s")
	b.ReportMetric(float64(tb)/float64(t3), "v3/bare")
	b.ReportMetric(float64(tb)/float64(t4), "v4/bare")
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
