package nodeworker

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// required: a missing node or npm package fails the test instead of skipping it
// (LANYARD_REQUIRE_NODE=1, or CI set, as .ci/run does).
func required() bool { return os.Getenv("LANYARD_REQUIRE_NODE") == "1" || os.Getenv("CI") != "" }

func missing(t testing.TB, why string) {
	t.Helper()
	if required() {
		t.Fatal(why + " (LANYARD_REQUIRE_NODE=1 or CI is set, so this fails instead of skipping)")
	}
	t.Skip(why)
}

func nodeBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not on PATH")
	}
	return p
}

// needModules checks that `npm ci --prefix dir` has been run.
func needModules(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "functions", "package.json")); err != nil {
		missing(t, "run `npm ci --prefix "+dir+"` first: "+err.Error())
	}
}

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// worker is a real node running the embedded worker on a loopback port, as the host starts it.
type worker struct {
	base   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	client *http.Client
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// startWorker writes the worker with Script and runs it for the app at root with the
// custom-handler environment (functions.md §3.1) plus env, and waits until it answers.
func startWorker(t testing.TB, root string, env ...string) *worker {
	t.Helper()
	node := nodeBinary(t)
	script, err := Script(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(node, script)
	cmd.Dir = abs
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID=test-worker",
		"FUNCTIONS_APP_ROOT_PATH=" + abs,
		"AzureWebJobsScriptRoot=" + abs,
		"FUNCTIONS_WORKER_RUNTIME=node",
	}, env...)
	w := &worker{
		base:   "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:    cmd,
		stderr: &syncBuffer{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	cmd.Stderr = w.stderr
	cmd.Stdout = w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker stderr:\n%s", w.stderr.String())
		}
	})
	// Readiness as the host does it (§3.1): any HTTP answer to GET /.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := w.client.Get(w.base + "/")
		if err == nil {
			resp.Body.Close()
			return w
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the worker exited before answering: %v\n%s", err, w.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not answer in 30 s:\n%s", w.stderr.String())
		}
	}
}

// invoke POSTs a custom-handler body to /{fn} and decodes the JSON answer.
func (w *worker) invoke(t testing.TB, fn string, data, metadata map[string]any) (int, map[string]any) {
	t.Helper()
	if metadata == nil {
		metadata = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"Data": data, "Metadata": metadata})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", w.base+"/"+fn, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", "11111111-2222-3333-4444-555555555555")
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer of %s is not JSON (%d): %s", fn, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (w *worker) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := w.client.Get(w.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// httpTrigger is the custom-handler HTTP trigger value (functions.md §3.2).
func httpTrigger(method, url string, headers map[string][]string, body *string) map[string]any {
	query := map[string]string{}
	if i := strings.IndexByte(url, '?'); i >= 0 {
		for _, kv := range strings.Split(url[i+1:], "&") {
			k, v, _ := strings.Cut(kv, "=")
			query[k] = v
		}
	}
	if headers == nil {
		headers = map[string][]string{}
	}
	t := map[string]any{
		"Url": url, "Method": method, "Query": query, "Headers": headers,
		"Params": map[string]any{}, "Identities": []any{},
	}
	if body != nil {
		t["Body"] = *body
	}
	return t
}

func str(s string) *string { return &s }

// logEntries returns the LogEntries of an answer as level → messages.
func logEntries(t testing.TB, resp map[string]any) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	list, ok := resp["LogEntries"].([]any)
	if !ok {
		t.Fatalf("no LogEntries in %v", resp)
	}
	for _, e := range list {
		m := e.(map[string]any)
		out[m["level"].(string)] = append(out[m["level"].(string)], m["message"].(string))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
