package functions

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The host with Lanyard's Node worker (package nodeworker, merged from issue14-node): the
// contract of doc.go end to end, with real node.

func nodeApp(t *testing.T, src string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	root := filepath.Join(t.TempDir(), "app")
	if err := os.CopyFS(root, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "host.json"), `{"version":"2.0"}`)
	return root
}

// each runs f with the worker's invocations in frames (frames.go) and over HTTP (when the
// socket's path is too long).
func each(t *testing.T, f func(t *testing.T, viaHTTP bool)) {
	t.Run("frames", func(t *testing.T) { f(t, false) })
	t.Run("http", func(t *testing.T) { f(t, true) })
}

// v3: function.json folders, read by the host (routes, bindings) and by the worker (scripts).
func TestNodeV3(t *testing.T) { each(t, testNodeV3) }

func testNodeV3(t *testing.T, viaHTTP bool) {
	root := nodeApp(t, "nodeworker/testdata/v3app")
	var log logBuf
	h := startHost(t, Config{Root: root, FunctionLog: &log, Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"},
		Secrets: staticSecrets{"my-application-secret": "s3cr3t"}, viaHTTP: viaHTTP}, nil)
	if frames := h.worker.(*process).sock != nil; frames == viaHTTP {
		t.Fatalf("frames %v", frames)
	}
	w := do(h, "POST", "/api/seed003", "", nil)
	var got struct {
		Secret         string `json:"secret"`
		SameAsArgument bool   `json:"sameAsArgument"`
		Method         string `json:"method"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || got.Secret != "s3cr3t" || !got.SameAsArgument || got.Method != "POST" {
		t.Errorf("seed003: %d %s", w.Code, w.Body.String())
	}
	if w := do(h, "POST", "/api/resapi", "x", nil); w.Code != 202 || w.Body.String() != "accepted x" || w.Header().Get("X-Via") != "res-api" {
		t.Errorf("resapi: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := do(h, "GET", "/api/logs", "", nil); w.Code != 200 || w.Body.String() != "logged" {
		t.Errorf("logs: %d %q", w.Code, w.Body.String())
	}
	if w := do(h, "GET", "/api/throws", "", nil); w.Code != 500 || w.Body.Len() != 0 {
		t.Errorf("throws: %d %q", w.Code, w.Body.String())
	}
	l := log.String()
	for _, want := range []string{
		"[Information]   JavaScript HTTP trigger function processed a request.",
		"[Warning]   warn line", "[Error]   error line", "[Information]   info line",
		"[Error]   Exception: boom from v3", "[Error]   Stack: ",
		"Executed 'Functions.throws' (Failed, Id=",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}

// v4: the functions the app registers, found through GET /.lanyard/functions.
func TestNodeV4(t *testing.T) { each(t, testNodeV4) }

func testNodeV4(t *testing.T, viaHTTP bool) {
	src := "nodeworker/testdata/v4app"
	if _, err := os.Stat(filepath.Join(src, "node_modules", "@azure", "functions")); err != nil {
		t.Skip("run `npm ci` in internal/functions/nodeworker/testdata/v4app first")
	}
	root := nodeApp(t, src)
	write(t, filepath.Join(root, "old", "function.json"), httpFn(""))
	var log logBuf
	h := startHost(t, Config{Root: root, FunctionLog: &log, Keys: testKeys{}, Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"},
		Secrets: staticSecrets{"my-application-secret": "123"}, viaHTTP: viaHTTP}, nil)
	fns := map[string]Function{}
	for _, f := range h.Functions() {
		fns[f.Name] = f
	}
	if f := fns["echo"]; f.Error != "" || f.AuthLevel != "anonymous" || f.Route != "echo/{id?}" || strings.Join(f.Methods, ",") != "GET,POST" {
		t.Errorf("echo %+v", f)
	}
	if f := fns["old"]; f.Error != "old/function.json: ignored: the app uses the Node v4 programming model, whose functions are those it registers" {
		t.Errorf("old %+v", f)
	}
	if f := fns["tick"]; f.Trigger != "timerTrigger" || f.Schedule != "0 */5 * * * *" {
		t.Errorf("tick %+v", f)
	}
	w := do(h, "POST", "/api/echo/7?q=z", "hi", http.Header{"X-Custom": {"c"}})
	if w.Code != 201 || w.Header().Get("X-Id") != "7" || w.Header().Get("X-Pre-Hook") != "wrapped" || !strings.Contains(w.Body.String(), `"body":"hi"`) ||
		!strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), ";"), "flavour=oat") {
		t.Errorf("echo: %d %v %s", w.Code, w.Header(), w.Body.String())
	}
	if w := do(h, "GET", "/api/secret", "", nil); w.Code != 401 {
		t.Errorf("secret without a key: %d", w.Code)
	}
	if w := do(h, "GET", "/api/secret?code=fk-secret", "", nil); w.Code != 200 || w.Body.String() != `{"secret":123,"type":"number"}` {
		t.Errorf("secret: %d %s", w.Code, w.Body.String())
	}
	if w := do(h, "GET", "/api/bytes", "", nil); w.Code != 200 || w.Body.String() != "\x00\xff\x01\xfe" {
		t.Errorf("bytes: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := do(h, "GET", "/api/fail", "", nil); w.Code != 500 || w.Body.Len() != 0 {
		t.Errorf("fail: %d", w.Code)
	}
	l := log.String()
	for _, want := range []string{"[Warning]   a warning", "[Information]   [redacted in echo]", "[Error]   failing now", "Exception: boom from v4"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}
