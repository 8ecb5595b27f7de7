package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

const (
	tenantID  = "7e3f5a10-2b4c-4d6e-8f90-a1b2c3d4e5f6"
	tenant2ID = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	publicURL = "https://lanyard.test:8443"
	graphURI  = "https://graph.microsoft.com"

	// principalHeader tells testAuth who calls: "admin", or "{objectId}" optionally followed by
	// ";" and comma-separated application permissions. No header: no credentials.
	principalHeader = "X-Test-Principal"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897321, time.UTC)

// testAuth stands in for the bearer authenticator: the principal is named by a test header,
// token callers act in the tenant of the X-Test-Tenant header (default tenantID).
type testAuth struct{}

func (testAuth) Authenticate(r *http.Request) (authn.Principal, error) {
	h := r.Header.Get(principalHeader)
	switch {
	case h == "":
		return authn.Principal{}, errs.E(errs.Unauthenticated, "Access token is empty.")
	case h == "admin":
		return authn.Principal{Admin: true, Actor: "admin-socket:uid=0"}, nil
	}
	oid, perms, _ := strings.Cut(h, ";")
	tid := r.Header.Get("X-Test-Tenant")
	if tid == "" {
		tid = tenantID
	}
	p := authn.Principal{Actor: "sp:" + oid, TenantID: tid, ObjectID: oid, AppID: "client-of-" + oid}
	if perms != "" {
		p.Roles = strings.Split(perms, ",")
	}
	return p, nil
}

type env struct {
	t   testing.TB
	db  *store.DB
	svc *directory.Service
	srv *httptest.Server
}

// newEnv starts the directory API on a new SQLite store with one tenant (tenantID, with its
// built-ins) and a second, empty one; its clock is fixed and its randomness seeded.
func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+t.TempDir()+"/d.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, id := range []string{tenantID, tenant2ID} {
		if err := db.CreateTenant(ctx, tenant.Tenant{ID: id, Name: id, Default: id == tenantID, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return t0 }
	svc := &directory.Service{
		Store: db, Auth: testAuth{}, Now: now, Rand: rand.NewChaCha8([32]byte{1, 2, 3}),
		Audit:     &audit.Recorder{Store: db, Log: slog.New(slog.DiscardHandler), Now: now},
		PublicURL: publicURL, VaultDomain: "vault.lanyard.test",
		DefaultTenant: func() string { return tenantID },
	}
	if err := svc.EnsureBuiltins(ctx, tenantID); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, svc: svc, srv: httptest.NewServer(svc.Handler())}
	t.Cleanup(e.srv.Close)
	return e
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// code returns the Graph error code of an error answer.
func (r response) code(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r response) message(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["message"].(string)
	return c
}

// call sends a request (spaces in path are sent as %20) as who ("" for nobody, "admin", or "{oid};perm,perm"). body is JSON
// encoded unless it is a []byte.
func (e *env) call(method, path, who string, body any, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+strings.ReplaceAll(path, " ", "%20"), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if who != "" {
		req.Header.Set(principalHeader, who)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// must sends a request as administrator and fails the test unless it answers want.
func (e *env) must(want int, method, path string, body any) map[string]any {
	e.t.Helper()
	r := e.call(method, path, "admin", body)
	if r.status != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(e.t)
}

// app registers an application (with body's extra properties) and its service principal; it
// returns the service principal.
func (e *env) app(name string, body map[string]any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["displayName"] = name
	a := e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", body)
	return e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": a["appId"]})
}

// graphSP is the built-in directory service principal.
func (e *env) graphSP() map[string]any {
	e.t.Helper()
	return e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals(appId='"+directory.DirectoryAppID+"')", nil)
}

// roleID returns the id of the app role value of service principal sp.
func roleID(t testing.TB, sp map[string]any, value string) string {
	t.Helper()
	for _, r := range sp["appRoles"].([]any) {
		if r := r.(map[string]any); r["value"] == value {
			return r["id"].(string)
		}
	}
	t.Fatalf("service principal %v has no app role %s", sp["displayName"], value)
	return ""
}

// grant gives principal the app role value of resource, as administrator.
func (e *env) grant(principal, resource map[string]any, value string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals/"+resource["id"].(string)+"/appRoleAssignedTo", map[string]any{
		"principalId": principal["id"], "resourceId": resource["id"], "appRoleId": roleID(e.t, resource, value),
	})
}

// values returns the "value" array of a collection answer.
func values(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	vs, ok := m["value"].([]any)
	if !ok {
		t.Fatalf("answer has no value array: %v", m)
	}
	out := make([]map[string]any, len(vs))
	for i, v := range vs {
		out[i] = v.(map[string]any)
	}
	return out
}

func ids(t testing.TB, m map[string]any) []string {
	t.Helper()
	var out []string
	for _, v := range values(t, m) {
		out = append(out, v["id"].(string))
	}
	return out
}

var doAllRole = map[string]any{
	"id": "8f2ab1c4-1c9f-4a36-9d8c-3f0f5b3a0b11", "value": "DoAll", "displayName": "Do all", "description": "Do everything",
	"allowedMemberTypes": []string{"Application"}, "isEnabled": true,
}
