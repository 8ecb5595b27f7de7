package nodeworker

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func startV3(t *testing.T) *worker {
	t.Helper()
	return startWorker(t, "testdata/v3app")
}

// Seed 003 as a Node v3 function: the host hands the keyVault secret in Data, and the function
// returns it from context.bindings.mySecret.
func TestV3Seed003ReturnsTheSecret(t *testing.T) {
	w := startV3(t)
	status, resp := w.invoke(t, "seed003", map[string]any{
		"req":      httpTrigger("GET", "https://app.example/api/seed003?code=k", nil, nil),
		"mySecret": "s3cr3t-value",
	}, map[string]any{"sys": map[string]any{"MethodName": "seed003", "UtcNow": "2026-12-05T00:00:00Z", "RandGuid": "x"}})
	if status != 200 {
		t.Fatalf("status %d: %v", status, resp)
	}
	res := resp["Outputs"].(map[string]any)["res"].(map[string]any)
	if res["statusCode"].(float64) != 200 {
		t.Errorf("statusCode %v", res["statusCode"])
	}
	body := res["body"].(map[string]any)
	if body["secret"] != "s3cr3t-value" || body["sameAsArgument"] != true || body["method"] != "GET" {
		t.Errorf("body %v", body)
	}
	if logs := logEntries(t, resp); !contains(logs["information"], "JavaScript HTTP trigger function processed a request.") {
		t.Errorf("log entries %v", logs)
	}
	if !contains(toStrings(resp["Logs"]), "JavaScript HTTP trigger function processed a request.") {
		t.Errorf("Logs %v", resp["Logs"])
	}
}

// The seed's function.json byte for byte names a Python scriptFile: refused with its name.
func TestV3SeedVerbatimScriptFileIsRefused(t *testing.T) {
	w := startV3(t)
	var d struct {
		Model     string
		Functions []any
		Errors    []string
	}
	w.getJSON(t, "/.lanyard/functions", &d)
	if d.Model != "v3" || len(d.Functions) != 0 {
		t.Errorf("discovery %+v", d)
	}
	if len(d.Errors) != 1 || !strings.Contains(d.Errors[0], "seed003verbatim") || !strings.Contains(d.Errors[0], "scriptFile '__init__.py'") {
		t.Errorf("errors %q", d.Errors)
	}
	status, resp := w.invoke(t, "seed003verbatim", map[string]any{"req": httpTrigger("GET", "http://a/api/x", nil, nil)}, nil)
	if status != 500 || !strings.Contains(resp["error"].(string), "__init__.py") {
		t.Errorf("%d %v", status, resp)
	}
}

func TestV3ContextDoneStyle(t *testing.T) {
	w := startV3(t)
	trig := httpTrigger("POST", "http://app.example/api/donestyle?name=ada", map[string][]string{"Content-Type": {"application/json"}}, str(`{"n":1}`))
	trig["Params"] = map[string]any{"id": "7", "opt": nil}
	status, resp := w.invoke(t, "donestyle", map[string]any{"req": trig}, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, resp)
	}
	res := resp["Outputs"].(map[string]any)["res"].(map[string]any)
	if res["statusCode"].(float64) != 201 {
		t.Errorf("statusCode %v", res["statusCode"])
	}
	h := res["headers"].(map[string]any)
	if h["x-answer"] != "done-style" || h["content-type"] != "application/json" {
		t.Errorf("headers %v", h)
	}
	body := res["body"].(map[string]any)
	if body["name"] != "ada" || body["got"].(map[string]any)["n"].(float64) != 1 || body["contentType"] != "application/json" {
		t.Errorf("body %v", body)
	}
	if p := body["params"].(map[string]any); p["id"] != "7" || body["boundId"] != "7" {
		t.Errorf("params %v, bindingData.id %v", p, body["boundId"])
	}
	if body["user"] != nil {
		t.Errorf("user without x-ms-client-principal: %v", body["user"])
	}
}

func TestV3RequestUser(t *testing.T) {
	w := startV3(t)
	principal := base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","claims":[{"typ":"name","val":"Ada"}]}`))
	trig := httpTrigger("GET", "http://a/api/donestyle", map[string][]string{
		"X-MS-CLIENT-PRINCIPAL": {principal}, "X-MS-CLIENT-PRINCIPAL-ID": {"oid-1"},
		"X-MS-CLIENT-PRINCIPAL-NAME": {"ada@example.org"}, "X-MS-CLIENT-PRINCIPAL-IDP": {"aad"},
	}, nil)
	_, resp := w.invoke(t, "donestyle", map[string]any{"req": trig}, nil)
	user := resp["Outputs"].(map[string]any)["res"].(map[string]any)["body"].(map[string]any)["user"].(map[string]any)
	if user["type"] != "AppService" || user["id"] != "oid-1" || user["username"] != "ada@example.org" || user["identityProvider"] != "aad" ||
		user["claimsPrincipalData"].(map[string]any)["auth_typ"] != "aad" {
		t.Errorf("user %v", user)
	}
}

func TestV3ResponseHelpers(t *testing.T) {
	w := startV3(t)
	status, resp := w.invoke(t, "resapi", map[string]any{"req": httpTrigger("POST", "http://a/api/resapi", map[string][]string{"Content-Type": {"text/plain"}}, str("payload"))}, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, resp)
	}
	res := resp["Outputs"].(map[string]any)["res"].(map[string]any)
	h := res["headers"].(map[string]any)
	if res["statusCode"].(float64) != 202 || res["body"] != "accepted payload" || h["x-via"] != "res-api" || h["content-type"] != "text/plain" {
		t.Errorf("res %v", res)
	}
}

func TestV3ThrowingFunctionIs500(t *testing.T) {
	w := startV3(t)
	status, resp := w.invoke(t, "throws", map[string]any{"req": httpTrigger("GET", "http://a/api/throws", nil, nil)}, nil)
	if status != 500 {
		t.Fatalf("status %d", status)
	}
	if resp["error"] != "boom from v3" || !strings.Contains(resp["stack"].(string), "throws/index.js") {
		t.Errorf("body %v", resp)
	}
	if logs := logEntries(t, resp); !contains(logs["information"], "about to fail") {
		t.Errorf("the lines before the failure are lost: %v", logs)
	}
}

func TestV3LogLevelsAndReturnBinding(t *testing.T) {
	w := startV3(t)
	status, resp := w.invoke(t, "logs", map[string]any{"req": httpTrigger("GET", "http://a/api/logs", nil, nil)}, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, resp)
	}
	logs := logEntries(t, resp)
	for level, msg := range map[string]string{
		"information": "plain line", "warning": "warn line", "error": "error line", "trace": "verbose line",
	} {
		if !contains(logs[level], msg) {
			t.Errorf("%s: want %q in %v", level, msg, logs)
		}
	}
	if !contains(logs["information"], "info line") {
		t.Errorf("info: %v", logs)
	}
	rv := resp["ReturnValue"].(map[string]any)
	if rv["statusCode"].(float64) != 200 || rv["body"] != "logged" {
		t.Errorf("ReturnValue %v", rv)
	}
	if len(resp["Outputs"].(map[string]any)) != 0 {
		t.Errorf("Outputs %v", resp["Outputs"])
	}
}

// A log line after the function completed reaches stderr with Azure's warning.
func TestV3LateLogGoesToStderr(t *testing.T) {
	w := startV3(t)
	status, resp := w.invoke(t, "late", map[string]any{"req": httpTrigger("GET", "http://a/api/late", nil, nil)}, nil)
	if status != 200 || resp["Outputs"].(map[string]any)["res"].(map[string]any)["body"] != "early" {
		t.Fatalf("%d %v", status, resp)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.stderr.String(), "written too late") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := w.stderr.String()
	if !strings.Contains(s, "[Warning] Unexpected call to 'log' on the context object after function execution has completed") ||
		!strings.Contains(s, "[Information] Function 'late' (Id=11111111-2222-3333-4444-555555555555): written too late") {
		t.Errorf("stderr:\n%s", s)
	}
}

func TestV3ESMTimerEntryPointAndBinary(t *testing.T) {
	w := startV3(t)

	_, resp := w.invoke(t, "esm", map[string]any{"req": httpTrigger("GET", "http://a/api/esm", nil, nil)}, nil)
	if b := resp["Outputs"].(map[string]any)["res"].(map[string]any)["body"].(map[string]any); b["esm"] != true || b["url"] != "http://a/api/esm" {
		t.Errorf("esm: %v", resp)
	}

	timer := map[string]any{"Schedule": map[string]any{"AdjustForDST": true}, "ScheduleStatus": nil, "IsPastDue": true}
	status, resp := w.invoke(t, "timer", map[string]any{"myTimer": timer}, nil)
	if status != 200 || !contains(logEntries(t, resp)["information"], "isPastDue=true adjustForDST=true method=timer") {
		t.Errorf("timer: %d %v", status, resp)
	}

	_, resp = w.invoke(t, "entry", map[string]any{"req": httpTrigger("GET", "http://a/api/entry", nil, nil)}, nil)
	out := resp["Outputs"].(map[string]any)
	if out["res"].(map[string]any)["body"] != "second" || out["out"].(map[string]any)["queued"] != "entry" {
		t.Errorf("entry: %v", resp)
	}

	in := []byte{0, 1, 2, 250, 255}
	_, resp = w.invoke(t, "binary", map[string]any{"req": httpTrigger("POST", "http://a/api/binary",
		map[string][]string{"Content-Type": {"application/octet-stream"}}, str(base64.StdEncoding.EncodeToString(in)))}, nil)
	res := resp["Outputs"].(map[string]any)["res"].(map[string]any)
	got, err := base64.StdEncoding.DecodeString(res["body"].(string))
	if err != nil || res["isBase64"] != true || !bytes.Equal(got, []byte{255, 250, 2, 1, 0}) {
		t.Errorf("binary: %v (%v)", res, err)
	}
}

func TestUnknownFunctionIs404(t *testing.T) {
	w := startV3(t)
	status, resp := w.invoke(t, "nosuch", map[string]any{}, nil)
	if status != 404 || !strings.Contains(resp["error"].(string), "nosuch") {
		t.Errorf("%d %v", status, resp)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
