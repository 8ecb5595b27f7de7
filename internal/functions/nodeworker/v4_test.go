package nodeworker

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const v4App = "testdata/v4app"

type discovery struct {
	Model     string
	Functions []struct {
		Name     string
		Bindings []map[string]any
	}
	Errors []string
}

func (d discovery) bindings(t *testing.T, fn string) []map[string]any {
	t.Helper()
	for _, f := range d.Functions {
		if f.Name == fn {
			return f.Bindings
		}
	}
	t.Fatalf("no function %q in %+v", fn, d)
	return nil
}

// trigger returns the name the library gave fn's trigger (the host sends Data under it).
func (d discovery) trigger(t *testing.T, fn string) string {
	t.Helper()
	for _, b := range d.bindings(t, fn) {
		if strings.HasSuffix(b["type"].(string), "Trigger") {
			return b["name"].(string)
		}
	}
	t.Fatalf("%s has no trigger", fn)
	return ""
}

func startV4(t *testing.T, root string, env ...string) (*worker, discovery) {
	t.Helper()
	nodeBinary(t)
	needModules(t, v4App)
	w := startWorker(t, root, env...)
	var d discovery
	w.getJSON(t, "/.lanyard/functions", &d)
	return w, d
}

// decodeHTTP returns an HTTP output's status, headers and body bytes (isBase64 decoded).
func decodeHTTP(t *testing.T, v any) (int, map[string]any, []byte) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not an HTTP output: %v", v)
	}
	var body []byte
	switch b := m["body"].(type) {
	case string:
		if m["isBase64"] == true {
			var err error
			if body, err = base64.StdEncoding.DecodeString(b); err != nil {
				t.Fatal(err)
			}
		} else {
			body = []byte(b)
		}
	default:
		body, _ = json.Marshal(b)
	}
	h, _ := m["headers"].(map[string]any)
	return int(m["statusCode"].(float64)), h, body
}

// Seed 000's function as a v4 app with the real @azure/functions: a token from
// IDENTITY_ENDPOINT, then Graph's /v1.0/groups with it (both on a loopback httptest server;
// the Graph base is the app setting GRAPH_URL).
func TestV4Seed000ListsGroups(t *testing.T) {
	const identityHeader = "per-app-header-value"
	const token = "fake-graph-token"
	var granted atomic.Bool
	var tokenCalls, graphCalls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /MSI/token", func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		q := r.URL.Query()
		if r.Header.Get("X-IDENTITY-HEADER") != identityHeader || q.Get("api-version") != "2019-08-01" || q.Get("resource") != "https://graph.microsoft.com/" {
			http.Error(w, `{"error":"bad request"}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"` + token + `","expires_on":"1999999999","resource":"https://graph.microsoft.com/","token_type":"Bearer"}`))
	})
	mux.HandleFunc("GET /v1.0/groups", func(w http.ResponseWriter, r *http.Request) {
		graphCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"InvalidAuthenticationToken","message":"no token"}}`))
			return
		}
		if !granted.Load() {
			w.WriteHeader(403)
			w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
			return
		}
		w.Write([]byte(`{"value":[{"id":"0b1c","displayName":"Admins"},{"id":"9f2e","displayName":"Readers"}]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	w, d := startV4(t, v4App,
		"IDENTITY_ENDPOINT="+srv.URL+"/MSI/token", "IDENTITY_HEADER="+identityHeader, "GRAPH_URL="+srv.URL)
	if len(d.Errors) != 0 {
		t.Fatalf("start errors: %v", d.Errors)
	}
	call := func() (int, map[string]any) {
		status, resp := w.invoke(t, "groups", map[string]any{
			d.trigger(t, "groups"): httpTrigger("GET", "https://app.example/api/groups", map[string][]string{"Host": {"app.example"}}, nil),
		}, nil)
		if status != 200 {
			t.Fatalf("status %d: %v", status, resp)
		}
		return decodeHTTPStatus(t, resp["ReturnValue"]), resp
	}

	if code, _ := call(); code != 403 {
		t.Errorf("before the grant: %d, want 403", code)
	}
	granted.Store(true)
	code, resp := call()
	if code != 200 {
		t.Fatalf("after the grant: %d", code)
	}
	_, h, body := decodeHTTP(t, resp["ReturnValue"])
	var groups struct {
		Value []struct{ DisplayName string }
	}
	if err := json.Unmarshal(body, &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups.Value) != 2 || groups.Value[0].DisplayName != "Admins" || !strings.HasPrefix(h["content-type"].(string), "application/json") {
		t.Errorf("groups %s headers %v", body, h)
	}
	if tokenCalls.Load() != 2 || graphCalls.Load() != 2 {
		t.Errorf("token endpoint called %d times, Graph %d", tokenCalls.Load(), graphCalls.Load())
	}
	if !contains(logEntries(t, resp)["information"], "graph answered 200") {
		t.Errorf("log entries %v", resp["LogEntries"])
	}
}

func decodeHTTPStatus(t *testing.T, v any) int {
	t.Helper()
	s, _, _ := decodeHTTP(t, v)
	return s
}

// The keyVault binding through input.generic; the library JSON-parses the string (§4.4).
func TestV4KeyVaultInputAndTimer(t *testing.T) {
	w, d := startV4(t, v4App)
	for secret, want := range map[string]any{"s3cr3t-value": "s3cr3t-value", "123": float64(123)} {
		status, resp := w.invoke(t, "secret", map[string]any{
			d.trigger(t, "secret"): httpTrigger("GET", "https://app.example/api/secret", nil, nil),
			"mySecret":             secret,
		}, nil)
		if status != 200 {
			t.Fatalf("status %d: %v", status, resp)
		}
		_, _, body := decodeHTTP(t, resp["ReturnValue"])
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil || got["secret"] != want {
			t.Errorf("secret %q: got %s (%v)", secret, body, err)
		}
	}

	timer := map[string]any{"Schedule": map[string]any{"AdjustForDST": true}, "ScheduleStatus": nil, "IsPastDue": true}
	status, resp := w.invoke(t, "tick", map[string]any{d.trigger(t, "tick"): timer}, nil)
	if status != 200 || !contains(logEntries(t, resp)["information"], "isPastDue=true adjustForDST=true") {
		t.Errorf("timer: %d %v", status, resp)
	}
}

func TestV4HTTPRequestResponseAndHooks(t *testing.T) {
	w, d := startV4(t, v4App)
	principal := base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","claims":[],"name_typ":"name","role_typ":"roles"}`))
	trig := httpTrigger("POST", "https://app.example/api/echo/42?q=hello", map[string][]string{
		"Content-Type": {"text/plain"}, "X-Custom": {"one", "two"},
		"X-Ms-Client-Principal": {principal}, "X-Ms-Client-Principal-Id": {"oid-1"},
		"X-Ms-Client-Principal-Name": {"ada@example.org"}, "X-Ms-Client-Principal-Idp": {"aad"},
	}, str("the body"))
	trig["Params"] = map[string]any{"id": "42"}
	status, resp := w.invoke(t, "echo", map[string]any{d.trigger(t, "echo"): trig}, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, resp)
	}
	if rv := resp["ReturnValue"].(map[string]any); rv["isBase64"] != nil {
		t.Errorf("a UTF-8 body with a content type travels as text: %v", rv)
	}
	code, h, body := decodeHTTP(t, resp["ReturnValue"])
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := map[string]any{
		"method": "POST", "url": "https://app.example/api/echo/42?q=hello", "q": "hello", "body": "the body",
		"header": "one, two", "user": "ada@example.org", "unknownHook": "RangeError", "started": true,
	}
	if code != 201 || !reflect.DeepEqual(got, want) {
		t.Errorf("%d %v, want %v", code, got, want)
	}
	if h["x-id"] != "42" || h["x-pre-hook"] != "wrapped" || !reflect.DeepEqual(h["set-cookie"], []any{"flavour=oat; Path=/"}) {
		t.Errorf("headers %v", h)
	}
	logs := logEntries(t, resp)
	if !contains(logs["warning"], "a warning") || !contains(logs["debug"], "a debug line") || !contains(logs["information"], "post hook saw pre=true") ||
		!contains(logs["information"], "[redacted in echo]") || contains(logs["information"], "redact me") {
		t.Errorf("logs %v", logs)
	}

	status, resp = w.invoke(t, "bytes", map[string]any{d.trigger(t, "bytes"): httpTrigger("GET", "https://app.example/api/bytes", nil, nil)}, nil)
	rv := resp["ReturnValue"].(map[string]any)
	if _, _, body := decodeHTTP(t, rv); status != 200 || rv["isBase64"] != true || string(body) != "\x00\xff\x01\xfe" {
		t.Errorf("bytes: %d %v", status, resp)
	}

	status, resp = w.invoke(t, "fail", map[string]any{d.trigger(t, "fail"): httpTrigger("GET", "https://app.example/api/fail", nil, nil)}, nil)
	if status != 500 || resp["error"] != "boom from v4" || !strings.Contains(resp["stack"].(string), "echo.js") {
		t.Errorf("fail: %d %v", status, resp)
	}
	if logs := logEntries(t, resp); !contains(logs["error"], "failing now") {
		t.Errorf("fail logs %v", logs)
	}
}

// Discovery says what function.json would: type, direction, name, authLevel, methods, route,
// schedule and the keyVault binding's own options.
func TestV4DiscoveryMatchesFunctionJSON(t *testing.T) {
	_, d := startV4(t, v4App)
	if d.Model != "v4" || len(d.Errors) != 0 || len(d.Functions) != 8 {
		t.Fatalf("discovery %+v", d)
	}
	generated := regexp.MustCompile(`^(httpTrigger|timerTrigger)[0-9a-f]{10}$`)
	for _, fn := range []string{"groups", "secret", "tick", "echo"} {
		if name := d.trigger(t, fn); !generated.MatchString(name) {
			t.Errorf("%s: trigger name %q", fn, name)
		}
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	cases := map[string]string{
		"groups": `[{"authLevel":"function","direction":"in","methods":["GET"],"name":"` + d.trigger(t, "groups") + `","type":"httpTrigger"},` +
			`{"direction":"out","name":"$return","type":"http"}]`,
		"secret": `[{"authLevel":"function","direction":"in","methods":["GET","POST"],"name":"` + d.trigger(t, "secret") + `","type":"httpTrigger"},` +
			`{"direction":"in","identity":"system","name":"mySecret","secretName":"my-application-secret","type":"keyVault","vaultName":"my-key-vault-name"},` +
			`{"direction":"out","name":"$return","type":"http"}]`,
		"tick": `[{"direction":"in","name":"` + d.trigger(t, "tick") + `","schedule":"0 */5 * * * *","type":"timerTrigger"}]`,
		"echo": `[{"authLevel":"anonymous","direction":"in","methods":["GET","POST"],"name":"` + d.trigger(t, "echo") + `","route":"echo/{id?}","type":"httpTrigger"},` +
			`{"direction":"out","name":"$return","type":"http"}]`,
	}
	for fn, want := range cases {
		if got := js(d.bindings(t, fn)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", fn, got, want)
		}
	}
}

func TestV4ESMApp(t *testing.T) {
	w, d := startV4(t, v4App+"/esm")
	if d.Model != "v4" || len(d.Errors) != 0 {
		t.Fatalf("discovery %+v", d)
	}
	status, resp := w.invoke(t, "hello", map[string]any{d.trigger(t, "hello"): httpTrigger("GET", "http://a/api/hello?name=esm", nil, nil)}, nil)
	if status != 200 {
		t.Fatalf("%d %v", status, resp)
	}
	if _, _, body := decodeHTTP(t, resp["ReturnValue"]); string(body) != "hello esm" {
		t.Errorf("body %q", body)
	}
}

// A main that throws: the worker still answers and discovery names the error. (A function.json
// folder beside a v4 app is the host's to refuse, as it indexes: internal/functions TestNodeV4.)
func TestV4BrokenMainStillAnswers(t *testing.T) {
	w, d := startV4(t, v4App+"/broken")
	if len(d.Errors) != 1 || !strings.Contains(d.Errors[0], "main failed on purpose") {
		t.Errorf("errors %q", d.Errors)
	}
	status, resp := w.invoke(t, "stillhere", map[string]any{d.trigger(t, "stillhere"): httpTrigger("GET", "http://a/api/stillhere", nil, nil)}, nil)
	if _, _, body := decodeHTTP(t, resp["ReturnValue"]); status != 200 || string(body) != "ok" {
		t.Errorf("%d %v", status, resp)
	}
	if status, _ := w.invoke(t, "oldstyle", map[string]any{}, nil); status != 404 {
		t.Errorf("oldstyle: %d", status)
	}
}

// SIGTERM runs the appTerminate hooks before the worker exits.
func TestV4AppTerminateHookOnSIGTERM(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "terminated")
	w, _ := startV4(t, v4App, "TERMINATE_MARK="+mark)
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(mark); err == nil {
			if string(b) != "terminated" {
				t.Errorf("mark %q", b)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no appTerminate hook ran:\n%s", w.stderr.String())
}

// Concurrent invocations: each answer carries its own body and only its own log lines.
func TestV4ConcurrentInvocationsKeepTheirLogs(t *testing.T) {
	w, d := startV4(t, v4App)
	trigger := d.trigger(t, "isolate")
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := strconv.Itoa(i)
			status, resp, err := w.post("isolate", map[string]any{trigger: httpTrigger("GET", "http://a/api/isolate?id="+id, nil, nil)}, nil)
			if err != nil {
				errs <- err.Error()
				return
			}
			var body any
			if rv, ok := resp["ReturnValue"].(map[string]any); ok {
				body = rv["body"]
			}
			var logs []string
			entries, _ := resp["LogEntries"].([]any)
			for _, e := range entries {
				logs = append(logs, fmt.Sprint(e.(map[string]any)["message"]))
			}
			// The body is text: text/plain UTF-8 (doc.go).
			if status != 200 || body != id || !equal(logs, []string{"before " + id, "after " + id}) {
				errs <- fmt.Sprintf("%s: %d %v %v", id, status, body, logs)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
