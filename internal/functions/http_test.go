package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// authLevel (§2.2): 401 with an empty body on a miss; the header beats the query; a system key
// does not pass "function"; only the master key passes "admin"; a disabled function is 404
// unless called with the master key (§1.2).
func TestAuthLevels(t *testing.T) {
	root := app(t, "", map[string]string{
		"hello": httpFn(`,"authLevel":"function","route":"f/{name}"`),
		"echo":  httpFn(`,"authLevel":"admin","route":"a/{x}"`),
		"text":  httpFn(`,"authLevel":"anonymous"`),
		"none":  httpFn(`,"authLevel":"anonymous"`),
	})
	h := startHost(t, Config{Root: root, Keys: testKeys{}, Settings: map[string]string{"AzureWebJobs.none.Disabled": "true"}}, nil)
	hdr := func(k string) http.Header { return http.Header{"X-Functions-Key": {k}} }
	for _, tc := range []struct {
		target string
		header http.Header
		want   int
	}{
		{"/api/f/x", nil, 401},
		{"/api/f/x?code=wrong", nil, 401},
		{"/api/f/x?code=sys", nil, 401},
		{"/api/f/x?code=fk-echo", nil, 401}, // another function's key
		{"/api/f/x?code=fk-hello", nil, 201},
		{"/api/f/x?code=host", nil, 201},
		{"/api/f/x?code=master", nil, 201},
		{"/api/f/x?code=wrong", hdr("host"), 201}, // the header wins over the query
		{"/api/f/x?code=host", hdr("wrong"), 401},
		{"/api/a/x?code=host", nil, 401},
		{"/api/a/x?code=fk-echo", nil, 401},
		{"/api/a/x", hdr("master"), 200},
		{"/api/text", nil, 200},
		{"/api/text?code=garbage", nil, 200},
		{"/api/none", nil, 404},
		{"/api/none?code=host", nil, 404},
		{"/api/none?code=master", nil, 204},
		{"/api/nothing", nil, 404},
		{"/nothing", nil, 404},
	} {
		w := do(h, "GET", tc.target, "", tc.header)
		if w.Code != tc.want {
			t.Errorf("%s %v: %d, want %d", tc.target, tc.header, w.Code, tc.want)
		}
		if w.Code == 401 && w.Body.Len() != 0 {
			t.Errorf("%s: 401 with a body %q", tc.target, w.Body.String())
		}
	}
	var disabled bool
	for _, f := range h.Functions() {
		disabled = disabled || f.Name == "none" && f.Disabled
	}
	if !disabled {
		t.Errorf("none is not disabled: %+v", h.Functions())
	}
}

// Without Config.Keys, authLevel is not enforced (Core Tools' func start).
func TestAuthNotEnforcedWithoutKeys(t *testing.T) {
	h := startHost(t, Config{Root: app(t, "", map[string]string{"hello": httpFn(`,"authLevel":"admin"`)})}, nil)
	if w := do(h, "GET", "/api/hello?name=z", "", nil); w.Code != 201 || w.Body.String() != "hello z" {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
}

// The response rules of §2.5 and §3.3 through the Go custom handler in its default mode.
func TestResponses(t *testing.T) {
	var log logBuf
	fns := map[string]string{}
	for _, n := range []string{"hello", "nobody", "none", "text", "fail", "badjson"} {
		fns[n] = httpFn(`,"authLevel":"anonymous"`)
	}
	fns["hello"] = httpFn(`,"authLevel":"anonymous","route":"greet/{name?}"`)
	fns["ret"] = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"$return"}]}`
	reg := prometheus.NewRegistry()
	h := startHost(t, Config{Root: app(t, "", fns), FunctionLog: &log, Registerer: reg, Name: "site1"}, nil)
	for _, tc := range []struct {
		target, body, ctype string
		status              int
		headers             map[string]string
	}{
		{"/api/greet/bob", "hello bob", "text/plain; charset=utf-8", 201, map[string]string{"X-Test": "a"}},
		{"/api/greet?name=q", "hello q", "text/plain; charset=utf-8", 201, nil},
		// no body key: the whole object is the body, with 200, whatever its statusCode
		{"/api/nobody", `{"message":"no body key","statusCode":418}`, "application/json; charset=utf-8", 200, nil},
		{"/api/none", "", "", 204, nil},
		{"/api/text", "just text", "text/plain; charset=utf-8", 200, nil},
		{"/api/ret", `{"n":1}`, "application/json; charset=utf-8", 202, nil},
		{"/api/fail", "", "", 500, nil},
		{"/api/badjson", "", "", 500, nil},
	} {
		w := do(h, "GET", tc.target, "", nil)
		if w.Code != tc.status || w.Body.String() != tc.body || w.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("%s: %d %q %q, want %d %q %q", tc.target, w.Code, w.Body.String(), w.Header().Get("Content-Type"), tc.status, tc.body, tc.ctype)
		}
		for k, v := range tc.headers {
			if w.Header().Get(k) != v {
				t.Errorf("%s: header %s = %q", tc.target, k, w.Header().Values(k))
			}
		}
	}
	if w := do(h, "GET", "/api/greet/bob", "", nil); strings.Join(w.Header().Values("X-Test"), ",") != "a,b" {
		t.Errorf("headers as arrays: %v", w.Header())
	}
	l := log.String()
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ   \[Information\]   Executing 'Functions.hello' \(Reason='This function was programmatically called via the host APIs.', Id=[0-9a-f-]{36}\)$`)
	if !line.MatchString(l) {
		t.Errorf("no Executing line:\n%s", l)
	}
	for _, want := range []string{
		"[Information]   said hello to bob",
		"[Error]   Exception while executing function: Functions.fail. Result: Failure",
		"[Error]   Exception: Response status code does not indicate success: 500 (Internal Server Error).",
		"[Error]   Exception: the custom handler's answer is not JSON: not json",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if !regexp.MustCompile(`\[Information\]   Executed 'Functions.hello' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)`).MatchString(l) ||
		!regexp.MustCompile(`\[Error\]   Executed 'Functions.fail' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)`).MatchString(l) {
		t.Errorf("no Executed lines:\n%s", l)
	}
	if n := testutil.ToFloat64(h.met.invocations.WithLabelValues("site1", "hello", "succeeded")); n != 3 {
		t.Errorf("hello succeeded %v", n)
	}
	if n := testutil.ToFloat64(h.met.invocations.WithLabelValues("site1", "fail", "failed")); n != 1 {
		t.Errorf("fail failed %v", n)
	}
	if n := testutil.CollectAndCount(reg, "lanyard_function_duration_seconds"); n != 7 {
		t.Errorf("%d duration series", n)
	}
}

// The default mode's request body (§3.2): Data with the trigger's Url, Method, Query, Headers
// (arrays), Params (nulls included), Identities, Body (absent when empty, base64 for binary).
func TestDefaultModeRequest(t *testing.T) {
	h := startHost(t, Config{Root: app(t, "", map[string]string{"echo": httpFn(`,"authLevel":"anonymous","route":"echo/{id:int}/{opt?}"`)})}, nil)
	type reqData struct {
		Data struct {
			Req struct {
				URL        string              `json:"Url"`
				Method     string              `json:"Method"`
				Query      map[string]string   `json:"Query"`
				Headers    map[string][]string `json:"Headers"`
				Params     map[string]*string  `json:"Params"`
				Identities []map[string]any    `json:"Identities"`
				Body       *string             `json:"Body"`
			} `json:"req"`
		} `json:"Data"`
		Metadata map[string]any `json:"Metadata"`
	}
	get := func(method, target, body string, hd http.Header) reqData {
		t.Helper()
		w := do(h, method, target, body, hd)
		if w.Code != 200 {
			t.Fatalf("%s: %d", target, w.Code)
		}
		var d reqData
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := get("GET", "/api/echo/7?a=1&a=2&b=x", "", http.Header{"X-One": {"1", "2"}})
	r := d.Data.Req
	if r.URL != "http://example.com/api/echo/7?a=1&a=2&b=x" || r.Method != "GET" || r.Query["a"] != "1,2" || r.Query["b"] != "x" ||
		strings.Join(r.Headers["X-One"], "|") != "1|2" || *r.Params["id"] != "7" || r.Params["opt"] != nil || r.Body != nil || len(r.Identities) != 0 {
		t.Errorf("request %+v", r)
	}
	if _, ok := r.Params["opt"]; !ok {
		t.Errorf("an optional parameter not supplied is absent from Params")
	}
	sys, _ := d.Metadata["sys"].(map[string]any)
	if sys["MethodName"] != "echo" || sys["UtcNow"] == "" || sys["RandGuid"] == "" || d.Metadata["id"] != "7" {
		t.Errorf("metadata %+v", d.Metadata)
	}
	d = get("POST", "/api/echo/8/x", `{"a":1}`, http.Header{"Content-Type": {"application/json"}})
	if d.Data.Req.Body == nil || *d.Data.Req.Body != `{"a":1}` || *d.Data.Req.Params["opt"] != "x" {
		t.Errorf("body %+v", d.Data.Req)
	}
	d = get("POST", "/api/echo/8", "\x00\x01\xff", http.Header{"Content-Type": {"application/octet-stream"}})
	if d.Data.Req.Body == nil || *d.Data.Req.Body != base64.StdEncoding.EncodeToString([]byte("\x00\x01\xff")) {
		t.Errorf("binary body %v", d.Data.Req.Body)
	}
	principal := base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","name_typ":"name","role_typ":"roles","claims":[{"typ":"oid","val":"123"}]}`))
	d = get("GET", "/api/echo/1", "", http.Header{"X-Ms-Client-Principal": {principal}, "X-Ms-Client-Principal-Name": {"ann"}})
	if len(d.Data.Req.Identities) != 1 || d.Data.Req.Identities[0]["AuthenticationType"] != "aad" || d.Data.Req.Identities[0]["Name"] != "ann" {
		t.Errorf("identities %+v", d.Data.Req.Identities)
	}
	if w := do(h, "GET", "/api/echo/x", "", nil); w.Code != 404 {
		t.Errorf("a failed constraint: %d", w.Code)
	}
}

// enableForwardingHttpRequest (§3.4): the request as it came, the handler's answer unchanged.
func TestForwardingMode(t *testing.T) {
	host := `{"version":"2.0","extensions":{"http":{"routePrefix":""}},"customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"},"enableForwardingHttpRequest":true}}`
	root := app(t, host, map[string]string{
		"fwd":  httpFn(`,"authLevel":"anonymous","route":"fwd/{*rest}"`),
		"echo": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"},{"type":"keyVault","direction":"in","name":"s","vaultName":"vault1","secretName":"x"}]}`,
	})
	var log logBuf
	h := startHost(t, Config{Root: root, FunctionLog: &log, Secrets: staticSecrets{"x": "v"}}, nil)
	w := do(h, "PUT", "/fwd/a/b?q=1", "payload", http.Header{"X-Custom": {"c"}})
	var got map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &got)
	if w.Code != 299 || w.Header().Get("X-Forwarded-Handler") != "yes" || got["method"] != "PUT" || got["uri"] != "/fwd/a/b?q=1" ||
		got["body"] != "payload" || got["custom"] != "c" || len(got["invocation"]) != 36 {
		t.Errorf("forwarded: %d %v %v", w.Code, w.Header(), got)
	}
	if !strings.Contains(log.String(), "Executed 'Functions.fwd' (Succeeded") {
		t.Errorf("log:\n%s", log.String())
	}
	// a function with more than an HTTP trigger and output stays in the default mode
	w = do(h, "GET", "/echo", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"Data"`) {
		t.Errorf("default mode: %d %s", w.Code, w.Body.String())
	}
}

// A worker that streams its answer while it reads the request (an echo) gets a large body
// whole and its answer comes back: the host does not write the whole body before it reads. The
// sockets' buffers are fixed small (as without the kernel's autotuning, which on loopback can
// take megabytes in and hide a deadlock).
func TestForwardingStreamsLargeBodies(t *testing.T) {
	small := func(c net.Conn) net.Conn {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(32 << 10)
			_ = tc.SetWriteBuffer(32 << 10)
		}
		return c
	}
	worker := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			return // readiness
		}
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(200)
		buf := make([]byte, 16<<10)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				_ = rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	worker.Listener = smallListener{worker.Listener, small}
	worker.Start()
	t.Cleanup(worker.Close)
	host := `{"version":"2.0","extensions":{"http":{"routePrefix":""}},"customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"},"enableForwardingHttpRequest":true}}`
	root := app(t, host, map[string]string{"fwd": httpFn(`,"authLevel":"anonymous","route":"fwd/{*rest}"`)})
	h := startHost(t, Config{Root: root, FunctionLog: io.Discard,
		// the worker is the test's server: the process only stands for it
		Command: func([]string) (*exec.Cmd, error) { return exec.Command("sleep", "60"), nil },
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, worker.Listener.Addr().String())
			if err != nil {
				return nil, err
			}
			return small(c), nil
		}}, nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequest(http.MethodPost, "/fwd/echo", bytes.NewReader(body)).WithContext(ctx)
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, req)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), body) {
		t.Errorf("echo of 1 MiB: %d, %d bytes back after %s", w.Code, w.Body.Len(), time.Since(start).Round(time.Millisecond))
	}
}

// smallListener applies set to each connection it accepts.
type smallListener struct {
	net.Listener
	set func(net.Conn) net.Conn
}

func (l smallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.set(c), nil
}

type staticSecrets map[string]string

func (s staticSecrets) ReadSecret(_ context.Context, ref SecretRef) (string, error) {
	return s[ref.Name], nil
}

func TestBodyLimit(t *testing.T) {
	h := startHost(t, Config{Root: app(t, "", map[string]string{"echo": httpFn(`,"authLevel":"anonymous"`)}),
		Settings: map[string]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "10"}}, nil)
	if w := do(h, "POST", "/api/echo", "0123456789", nil); w.Code != 200 {
		t.Errorf("10 bytes: %d", w.Code)
	}
	if w := do(h, "POST", "/api/echo", "0123456789a", nil); w.Code != 413 {
		t.Errorf("11 bytes: %d", w.Code)
	}
}

func TestFunctionTimeout(t *testing.T) {
	host := `{"version":"2.0","functionTimeout":"00:00:01","customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"}}}`
	var log logBuf
	h := startHost(t, Config{Root: app(t, host, map[string]string{"slow": httpFn(`,"authLevel":"anonymous"`)}), FunctionLog: &log}, nil)
	if w := do(h, "GET", "/api/slow", "", nil); w.Code != 500 || w.Body.Len() != 0 {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
	if !strings.Contains(log.String(), "Exception: Timeout value of 00:00:01 was exceeded by function: Functions.slow") {
		t.Errorf("log:\n%s", log.String())
	}
}

// A worker that crashes fails the invocation it held with 500 and is restarted.
func TestWorkerCrashRestarts(t *testing.T) {
	var log logBuf
	h := startHost(t, Config{Root: app(t, "", map[string]string{
		"crash": httpFn(`,"authLevel":"anonymous"`),
		"hello": httpFn(`,"authLevel":"anonymous"`),
	}), FunctionLog: &log}, nil)
	if w := do(h, "GET", "/api/crash", "", nil); w.Code != 500 || w.Body.Len() != 0 {
		t.Errorf("crash: %d %q", w.Code, w.Body.String())
	}
	// once the host saw the exit, the next call waits for the restarted worker
	waitFor(t, "the worker's exit", func() bool {
		return strings.Contains(log.String(), "The language worker process exited (exit status 3)")
	})
	w := do(h, "GET", "/api/hello?name=again", "", nil)
	if w.Code != 201 || w.Body.String() != "hello again" {
		t.Errorf("after the restart: %d %q", w.Code, w.Body.String())
	}
	if n := restarts(h); n != 1 {
		t.Errorf("%d restarts", n)
	}
	if !strings.Contains(log.String(), "The language worker process exited (exit status 3)") {
		t.Errorf("log:\n%s", log.String())
	}
}

// The workers' environment (§3.1, §10).
func TestWorkerEnvironment(t *testing.T) {
	h := startHost(t, Config{Root: app(t, "", map[string]string{"env": httpFn(`,"authLevel":"anonymous"`)}),
		Name: "app1", HostName: "app1.sites.example", Env: []string{"PATH=/usr/bin:/bin", "IDENTITY_ENDPOINT=http://127.0.0.1:1/id", "WEBSITE_HOSTNAME=custom.example"},
		Settings: map[string]string{"MY_SETTING": "v", "FUNCTIONS_EXTENSION_VERSION": "~4"}}, nil)
	w := do(h, "GET", "/api/env", "", nil)
	var env map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatal(err, w.Body.String())
	}
	for k, v := range map[string]string{
		"FUNCTIONS_WORKER_RUNTIME": "custom", "FUNCTIONS_EXTENSION_VERSION": "~4", "AzureWebJobsScriptRoot": h.cfg.Root,
		"FUNCTIONS_APP_ROOT_PATH": h.cfg.Root, "WEBSITE_SITE_NAME": "app1", "WEBSITE_HOSTNAME": "custom.example",
		"MY_SETTING": "v", "IDENTITY_ENDPOINT": "http://127.0.0.1:1/id",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if env["FUNCTIONS_CUSTOMHANDLER_PORT"] == "" || env["FUNCTIONS_CUSTOMHANDLER_PORT"] != env["FUNCTIONS_HTTPWORKER_PORT"] || env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] == "" {
		t.Errorf("port variables: %v", env)
	}
}

// Functions a worker registers itself (GET /.lanyard/functions, doc.go) are indexed with the
// same validation.
func TestWorkerRegisteredFunctions(t *testing.T) {
	list := `{"functions":[
		{"name":"hello","bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["GET"],"route":"v4/{name}"},{"type":"http","direction":"out","name":"res"}]},
		{"name":"broken","bindings":[{"type":"storageQueue","direction":"in","name":"q"}]},
		{"name":"echo","bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}]}`
	h := startHost(t, Config{Root: app(t, "", map[string]string{"echo": httpFn(`,"authLevel":"anonymous"`)}), Env: []string{"HANDLER_REGISTERED=" + list}}, nil)
	got := map[string]string{}
	for _, f := range h.Functions() {
		got[f.Name] += f.Error
	}
	if got["hello"] != "" || got["echo"] != "the worker's registration of 'echo': name: a function named 'echo' already exists" ||
		got["broken"] != "the worker's registration of 'broken': bindings[0].type: The binding type(s) 'storageQueue' are not registered. Please ensure the type is correct and the binding extension is installed." {
		t.Errorf("functions %v", got)
	}
	if len(h.Functions()) != 4 {
		t.Errorf("functions: %v", h.Functions())
	}
	if w := do(h, "GET", "/api/v4/ann", "", nil); w.Code != 201 || w.Body.String() != "hello ann" {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
}
