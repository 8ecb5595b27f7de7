package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// functionApp creates a function app (kind functionapp,linux) with the given body members
// (identity, properties) and returns its id.
func (e *mgmtEnv) functionApp(group, name string, extra map[string]any) string {
	e.t.Helper()
	body := map[string]any{"location": "local", "kind": "functionapp,linux", "properties": map[string]any{}}
	for k, v := range extra {
		body[k] = v
	}
	id := group + "/providers/Microsoft.Web/sites/" + name
	e.admin(http.MethodPut, id+"?api-version="+vWeb, body, nil)
	return id
}

// send sends a raw body as administrator and returns the status and body of the answer, error
// or not.
func (e *mgmtEnv) send(method, path, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	resp, err := e.Admin.Send(context.Background(), method, path, h, body)
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Status, []byte(ce.Code + ": " + ce.Message)
	}
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.Status, resp.Body
}

// zipOf makes a zip of the given files (name → content).
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipWithSymlink makes a zip holding a symbolic link.
func zipWithSymlink(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "link"}
	h.SetMode(0o777 | 1<<27) // os.ModeSymlink
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "/etc/passwd")
	zw.Close()
	return buf.Bytes()
}

// TestZipDeploy: a package is stored by its digest and made the site's current one; a body
// over the limit is 413, not a zip 400, a zip escaping its tree 400, and a caller without
// Microsoft.Web/sites/publish/Action 403.
func TestZipDeploy(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"max-package-size": "4096"}})
	e := mgmtFrom(t, env)
	g := e.group("rg")
	app := e.functionApp(g, "fa1", nil)
	path := app + "/extensions/zipdeploy?api-version=" + vWeb
	pkg := zipOf(t, map[string]string{"host.json": `{"version":"2.0"}`, "hello/function.json": `{"bindings":[]}`})
	st, raw := e.send(http.MethodPost, path, "application/zip", pkg)
	if st != http.StatusOK {
		t.Fatalf("zipdeploy: %d %s", st, raw)
	}
	var out struct {
		Digest   string `json:"digest"`
		Size     int64  `json:"size"`
		Status   int    `json:"status"`
		Complete bool   `json:"complete"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	if want := "sha256:" + hex.EncodeToString(sum[:]); out.Digest != want || out.Size != int64(len(pkg)) || out.Status != 4 || !out.Complete {
		t.Errorf("zipdeploy answer %+v, want digest %s size %d", out, want, len(pkg))
	}
	big := zipOf(t, map[string]string{"big.bin": strings.Repeat("x", 1) + string(randomish(8192))})
	if st, raw := e.send(http.MethodPost, path, "application/zip", big); st != http.StatusRequestEntityTooLarge {
		t.Errorf("a package over the limit: %d %s, want 413", st, raw)
	}
	if st, raw := e.send(http.MethodPost, path, "application/zip", []byte("not a zip at all")); st != http.StatusBadRequest || !strings.Contains(string(raw), "not a zip") {
		t.Errorf("not a zip: %d %s, want 400", st, raw)
	}
	if st, raw := e.send(http.MethodPost, path, "application/zip", zipOf(t, map[string]string{"../escape.js": "x"})); st != http.StatusBadRequest || !strings.Contains(string(raw), "leaves the package's directory") {
		t.Errorf("a ../ entry: %d %s, want 400", st, raw)
	}
	if st, raw := e.send(http.MethodPost, path, "application/zip", zipOf(t, map[string]string{"/etc/cron.d/x": "x"})); st != http.StatusBadRequest {
		t.Errorf("an absolute entry: %d %s, want 400", st, raw)
	}
	if st, raw := e.send(http.MethodPost, path, "application/zip", zipWithSymlink(t)); st != http.StatusBadRequest || !strings.Contains(string(raw), "symbolic link") {
		t.Errorf("a symlink entry: %d %s, want 400", st, raw)
	}
	if st, _ := e.send(http.MethodPost, path, "application/json", pkg); st != http.StatusBadRequest {
		t.Errorf("a package sent as JSON: %d, want 400", st)
	}
	// A Reader may not publish; a Website Contributor-like Contributor may.
	_, pid := e.identity(g, "deployer")
	tok := e.mint(pid, mgmt)
	e.assignRole(g, rbac.Reader, pid)
	if st, raw := e.asRaw(tok, http.MethodPost, path, "application/zip", pkg); st != http.StatusForbidden || !strings.Contains(string(raw), "AuthorizationFailed") {
		t.Errorf("deploy as a Reader: %d %s, want 403", st, raw)
	}
	e.assignRole(g, rbac.Contributor, pid)
	if st, raw := e.asRaw(tok, http.MethodPost, path, "application/zip", pkg); st != http.StatusOK {
		t.Errorf("deploy as a Contributor: %d %s", st, raw)
	}
	// Another site's route is 404 ResourceNotFound.
	if st, _ := e.send(http.MethodPost, g+"/providers/Microsoft.Web/sites/missing/extensions/zipdeploy?api-version="+vWeb, "application/zip", pkg); st != http.StatusNotFound {
		t.Errorf("deploy to a missing site: %d, want 404", st)
	}
}

// randomish returns n bytes that do not compress.
func randomish(n int) []byte {
	out := make([]byte, 0, n)
	seed := sha256.Sum256([]byte("seed"))
	for len(out) < n {
		seed = sha256.Sum256(seed[:])
		out = append(out, seed[:]...)
	}
	return out[:n]
}

// asRaw sends a raw body with a bearer token.
func (e *mgmtEnv) asRaw(token, method, path, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := e.HTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// mgmtFrom is startManagement for a server the test started.
func mgmtFrom(t *testing.T, env *lanyardtest.Env) *mgmtEnv {
	t.Helper()
	e := &mgmtEnv{Env: env, t: t, tenant: env.Server.Default.ID}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	e.admin(http.MethodGet, "/subscriptions?api-version="+vSub, nil, &subs)
	e.sub = subs.Value[0].SubscriptionID
	return e
}

// TestAppSettings: PUT replaces the settings, the list action returns the values, a plain GET
// only the names; names are checked; the list action needs config/list/action.
func TestAppSettings(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	app := e.functionApp(g, "fa1", nil)
	path := app + "/config/appsettings"
	type doc struct {
		ID         string             `json:"id"`
		Name       string             `json:"name"`
		Properties map[string]*string `json:"properties"`
	}
	var got doc
	e.admin(http.MethodPost, path+"/list?api-version="+vWeb, nil, &got)
	if len(got.Properties) != 0 || got.Name != "appsettings" {
		t.Errorf("settings of a new app: %+v", got)
	}
	e.admin(http.MethodPut, path+"?api-version="+vWeb, map[string]any{"properties": map[string]string{"A": "1", "B": "two=2"}}, &got)
	e.admin(http.MethodPost, path+"/list?api-version="+vWeb, nil, &got)
	if len(got.Properties) != 2 || *got.Properties["A"] != "1" || *got.Properties["B"] != "two=2" || !strings.HasSuffix(got.ID, "/config/appsettings") {
		t.Errorf("listed settings: %+v", got)
	}
	e.admin(http.MethodGet, path+"?api-version="+vWeb, nil, &got)
	if len(got.Properties) != 2 || got.Properties["A"] != nil {
		t.Errorf("a plain GET shows values: %+v", got.Properties)
	}
	// PUT replaces: B is gone.
	e.admin(http.MethodPut, path+"?api-version="+vWeb, map[string]any{"properties": map[string]string{"A": "3"}}, nil)
	got = doc{}
	e.admin(http.MethodPost, path+"/list?api-version="+vWeb, nil, &got)
	if len(got.Properties) != 1 || *got.Properties["A"] != "3" {
		t.Errorf("after a replace: %+v", got.Properties)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"a": "1", "A": "2"}, {strings.Repeat("n", 2000): "x"}} {
		if st, code := e.adminErr(http.MethodPut, path+"?api-version="+vWeb, map[string]any{"properties": bad}); st != http.StatusBadRequest {
			t.Errorf("settings %v: %d %s, want 400", bad, st, code)
		}
	}
	if st, _ := e.adminErr(http.MethodPut, path+"?api-version="+vWeb, map[string]any{"properties": map[string]any{"A": 1}}); st != http.StatusBadRequest {
		t.Errorf("a number value: %d, want 400", st)
	}
	// A Reader reads the names, not the values.
	_, pid := e.identity(g, "reader")
	tok := e.mint(pid, mgmt)
	e.assignRole(g, rbac.Reader, pid)
	if st, raw := e.as(tok, http.MethodGet, path+"?api-version="+vWeb, nil); st != http.StatusOK || strings.Contains(string(raw), `"3"`) {
		t.Errorf("GET as a Reader: %d %s", st, raw)
	}
	if st, raw := e.as(tok, http.MethodPost, path+"/list?api-version="+vWeb, nil); st != http.StatusForbidden {
		t.Errorf("list as a Reader: %d %s, want 403", st, raw)
	}
	if st, raw := e.as(tok, http.MethodPut, path+"?api-version="+vWeb, map[string]any{"properties": map[string]string{}}); st != http.StatusForbidden {
		t.Errorf("PUT as a Reader: %d %s, want 403", st, raw)
	}
	// A web app has app settings too.
	e.site(g, "web1", nil)
	e.admin(http.MethodPut, g+"/providers/Microsoft.Web/sites/web1/config/appsettings?api-version="+vWeb, map[string]any{"properties": map[string]string{"W": "1"}}, nil)
}

// hostKeys is the answer of host/default/listkeys.
type hostKeys struct {
	MasterKey    string            `json:"masterKey"`
	FunctionKeys map[string]string `json:"functionKeys"`
	SystemKeys   map[string]string `json:"systemKeys"`
}

// TestFunctionKeys: the master and default keys are made on the first read, new values are
// 40 random bytes in URL-safe base64; keys are set, generated and deleted through the ARM
// actions; listsecrets gives the trigger URL; the actions are authorized.
func TestFunctionKeys(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	app := e.functionApp(g, "fa1", nil)
	q := "?api-version=" + vWeb
	var keys hostKeys
	e.admin(http.MethodPost, app+"/host/default/listkeys"+q, nil, &keys)
	for _, v := range []string{keys.MasterKey, keys.FunctionKeys["default"]} {
		raw, err := base64.URLEncoding.DecodeString(v)
		if err != nil || len(raw) != 40 {
			t.Errorf("generated key %q: %d bytes, %v", v, len(raw), err)
		}
	}
	if keys.MasterKey == keys.FunctionKeys["default"] || keys.SystemKeys == nil {
		t.Errorf("keys %+v", keys)
	}
	var again hostKeys
	e.admin(http.MethodPost, app+"/host/default/listkeys"+q, nil, &again)
	if again.MasterKey != keys.MasterKey || again.FunctionKeys["default"] != keys.FunctionKeys["default"] {
		t.Error("the keys changed between two reads")
	}
	// Set a host key with a value, generate another, set a system key.
	var info struct {
		Name       string `json:"name"`
		Properties struct{ Name, Value string }
	}
	e.admin(http.MethodPut, app+"/host/default/functionKeys/ci"+q, map[string]any{"properties": map[string]string{"name": "ci", "value": "ci-key-0123456789abcdef"}}, &info)
	if info.Properties.Value != "ci-key-0123456789abcdef" || info.Properties.Name != "ci" {
		t.Errorf("PUT host key: %+v", info)
	}
	e.admin(http.MethodPut, app+"/host/default/functionKeys/gen"+q, map[string]any{"properties": map[string]string{}}, &info)
	if len(info.Properties.Value) != 56 {
		t.Errorf("generated host key %q", info.Properties.Value)
	}
	e.admin(http.MethodPut, app+"/host/default/systemKeys/durabletask_extension"+q, map[string]any{"properties": map[string]string{}}, nil)
	e.admin(http.MethodPut, app+"/host/default/masterKey/_master"+q, map[string]any{"properties": map[string]string{"value": "new-master-0123456789"}}, nil)
	e.admin(http.MethodPost, app+"/host/default/listkeys"+q, nil, &keys)
	if keys.FunctionKeys["ci"] != "ci-key-0123456789abcdef" || keys.FunctionKeys["gen"] == "" || keys.SystemKeys["durabletask_extension"] == "" || keys.MasterKey != "new-master-0123456789" {
		t.Errorf("after the writes: %+v", keys)
	}
	e.admin(http.MethodDelete, app+"/host/default/functionKeys/ci"+q, nil, nil)
	keys = hostKeys{}
	e.admin(http.MethodPost, app+"/host/default/listkeys"+q, nil, &keys)
	if _, ok := keys.FunctionKeys["ci"]; ok {
		t.Error("a deleted key is listed")
	}
	if st, _ := e.adminErr(http.MethodDelete, app+"/host/default/functionKeys/ci"+q, nil); st != http.StatusNotFound {
		t.Errorf("delete a key twice: %d, want 404", st)
	}
	if st, _ := e.adminErr(http.MethodDelete, app+"/host/default/masterKey/_master"+q, nil); st != http.StatusBadRequest {
		t.Errorf("delete the master key: %d, want 400", st)
	}
	if st, _ := e.adminErr(http.MethodPut, app+"/host/default/functionKeys/short"+q, map[string]any{"properties": map[string]string{"value": "short"}}); st != http.StatusBadRequest {
		t.Errorf("a short key value: %d, want 400", st)
	}
	// A function's keys: default made on the first read; listsecrets gives the trigger URL.
	var fk map[string]string
	e.admin(http.MethodPost, app+"/functions/HttpTrigger1/listkeys"+q, nil, &fk)
	if len(fk) != 1 || fk["default"] == "" {
		t.Errorf("function keys: %v", fk)
	}
	var sec struct {
		Key        string `json:"key"`
		TriggerURL string `json:"trigger_url"`
	}
	e.admin(http.MethodPost, app+"/functions/HttpTrigger1/listsecrets"+q, nil, &sec)
	if sec.Key != fk["default"] || sec.TriggerURL != "https://fa1.sites.localhost/api/HttpTrigger1?code="+fk["default"] {
		t.Errorf("listsecrets: %+v", sec)
	}
	e.admin(http.MethodPut, app+"/functions/HttpTrigger1/keys/partner"+q, map[string]any{"properties": map[string]string{"value": "partner-key-0123456789"}}, nil)
	e.admin(http.MethodPost, app+"/functions/httptrigger1/listkeys"+q, nil, &fk)
	if fk["partner"] != "partner-key-0123456789" || len(fk) != 2 {
		t.Errorf("function keys after a set (name without case): %v", fk)
	}
	e.admin(http.MethodDelete, app+"/functions/HttpTrigger1/keys/partner"+q, nil, nil)
	fk = nil
	e.admin(http.MethodPost, app+"/functions/HttpTrigger1/listkeys"+q, nil, &fk)
	if _, ok := fk["partner"]; ok {
		t.Errorf("a deleted function key is listed: %v", fk)
	}
	if st, _ := e.adminErr(http.MethodPost, app+"/functions/1bad/listkeys"+q, nil); st != http.StatusBadRequest {
		t.Errorf("a bad function name: %d, want 400", st)
	}
	// A web app has no function keys.
	e.site(g, "web1", nil)
	if st, _ := e.adminErr(http.MethodPost, g+"/providers/Microsoft.Web/sites/web1/host/default/listkeys"+q, nil); st != http.StatusBadRequest {
		t.Errorf("listkeys of a web app: %d, want 400", st)
	}
	// A Reader may not list keys; a Contributor may.
	_, pid := e.identity(g, "caller")
	tok := e.mint(pid, mgmt)
	e.assignRole(g, rbac.Reader, pid)
	for _, p := range []string{app + "/host/default/listkeys", app + "/functions/f/listkeys", app + "/functions/f/listsecrets"} {
		if st, raw := e.as(tok, http.MethodPost, p+q, nil); st != http.StatusForbidden {
			t.Errorf("%s as a Reader: %d %s, want 403", p, st, raw)
		}
	}
	if st, _ := e.as(tok, http.MethodPut, app+"/host/default/functionKeys/x"+q, map[string]any{"properties": map[string]string{}}); st != http.StatusForbidden {
		t.Errorf("a key write as a Reader: %d, want 403", st)
	}
	e.assignRole(g, rbac.Contributor, pid)
	if st, raw := e.as(tok, http.MethodPost, app+"/host/default/listkeys"+q, nil); st != http.StatusOK || !strings.Contains(string(raw), keys.MasterKey) {
		t.Errorf("listkeys as a Contributor: %d", st)
	}
}
