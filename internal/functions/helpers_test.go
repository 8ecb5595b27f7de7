package functions

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// handlerBin is the test custom handler (testdata/handler), built once per run.
var handlerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "functions-test-")
	if err != nil {
		panic(err)
	}
	handlerBin = filepath.Join(dir, "handler")
	cmd := exec.Command("go", "build", "-o", handlerBin, "./testdata/handler")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/handler:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// app writes a function app: host.json (with the test handler as its custom handler unless
// hostJSON is given) and one folder per function.
func app(t testing.TB, hostJSON string, fns map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if hostJSON == "" {
		hostJSON = `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"}}}`
	}
	write(t, filepath.Join(root, "host.json"), hostJSON)
	for name, fj := range fns {
		write(t, filepath.Join(root, name, "function.json"), fj)
	}
	return root
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// httpFn is a function.json with an HTTP trigger named req and an HTTP output named res.
func httpFn(extra string) string {
	return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"` + extra + `},{"type":"http","direction":"out","name":"res"}]}`
}

// logBuf is a goroutine-safe function log.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// restarts is how many times h's worker was restarted.
func restarts(h *Host) int {
	p := h.worker.(*process)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// startHost starts a host for root and closes it at the end of the test.
func startHost(t testing.TB, cfg Config, tweak func(*Host)) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := start(ctx, cfg, tweak)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// do serves one request through h.
func do(h http.Handler, method, target, body string, header http.Header) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// testKeys: "master" is the master key, "host" a host function key, "sys" a system key,
// "fk-NAME" NAME's own key.
type testKeys struct{}

func (testKeys) Level(fn, key string) string {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	switch {
	case eq(key, "master"):
		return "admin"
	case eq(key, "sys"):
		return "system"
	case eq(key, "host"), eq(key, "fk-"+fn):
		return "function"
	}
	return ""
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
