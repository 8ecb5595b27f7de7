package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/admin"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/token"
)

const (
	defaultTenant = "6a3b1f0e-4c2d-4e5f-8a9b-0c1d2e3f4a5b"
	otherTenant   = "0f0e0d0c-0b0a-4909-8807-060504030201"
	principal     = "9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10"
	clientID      = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type anyTenant struct{}

func (anyTenant) Exists(context.Context, string) (bool, error) { return true, nil }

// directoryStandIn is what the server will build from the directory and the token service: here
// one known principal, whose tokens the real token service signs.
type directoryStandIn struct {
	tokens *token.Service
	calls  []string
}

func (d *directoryStandIn) MintFor(ctx context.Context, tenantID, principalID, resource string) (token.Token, error) {
	d.calls = append(d.calls, tenantID+" "+principalID+" "+resource)
	if principalID != principal {
		return token.Token{}, errs.E(errs.NotFound, "no service principal %s", principalID)
	}
	return d.tokens.Mint(ctx, token.MintRequest{TenantID: tenantID, Audience: token.Resource(resource), AppID: clientID, ObjectID: principalID})
}

type env struct {
	db  *store.DB
	dir *directoryStandIn
	h   http.Handler
	tok *token.Service
}

func newEnv(t *testing.T, asAdmin bool) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+t.TempDir()+"/l.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek, err := seal.ParseKEK(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	rec := &audit.Recorder{Store: db, Log: slog.New(slog.DiscardHandler), Now: now}
	ts := &token.Service{Store: db, KEK: kek, Tenants: anyTenant{}, BaseURL: "https://localhost:8443", Now: now,
		Config: token.Config{Alg: token.ES256}, Log: slog.New(slog.DiscardHandler)}
	if err := ts.Init(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, dir: &directoryStandIn{tokens: ts}, tok: ts}
	mux := http.NewServeMux()
	(&admin.API{Audit: db, Record: rec, Tokens: e.dir, DefaultTenant: func() string { return defaultTenant }}).Routes(mux)
	e.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asAdmin {
			r = r.WithContext(authn.WithPrincipal(r.Context(), authn.Principal{Admin: true, Actor: "admin-socket:uid=0"}))
		}
		mux.ServeHTTP(w, r)
	})
	return e
}

func (e *env) post(t *testing.T, body string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest("POST", "/admin/v1/tokens", strings.NewReader(body)))
	return w
}

func TestMintToken(t *testing.T) {
	e := newEnv(t, true)
	w := e.post(t, `{"principalId":"`+strings.ToUpper(principal)+`","resource":"https://vault.azure.net/.default"}`)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	raw, _ := got["access_token"].(string)
	c, err := e.tok.VerifyToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectID != principal || c.TenantID != defaultTenant || c.Audience != "https://vault.azure.net" {
		t.Fatalf("claims %+v", c)
	}
	delete(got, "access_token")
	want := map[string]any{
		"token_type": "Bearer", "expires_in": "3600", "expires_on": "1772370000", "not_before": "1772366400",
		"resource": "https://vault.azure.net", "client_id": clientID,
	}
	if g, _ := json.Marshal(got); string(g) != mustJSON(t, want) {
		t.Fatalf("response\n got %s\nwant %s", g, mustJSON(t, want))
	}
	if want := []string{defaultTenant + " " + principal + " https://vault.azure.net/.default"}; strings.Join(e.dir.calls, ",") != strings.Join(want, ",") {
		t.Fatalf("MintFor calls %q", e.dir.calls)
	}

	evs, err := e.db.ListAudit(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != "token.mint" || last.Target != principal || last.Result != audit.Success || last.Actor != "admin-socket:uid=0" ||
		!strings.HasPrefix(last.Detail, "resource=https://vault.azure.net/.default tenant="+defaultTenant+" uti=") {
		t.Fatalf("audit event %+v", last)
	}
	if strings.Contains(last.Detail, raw[:20]) {
		t.Fatal("the audit event carries the token")
	}
}

func TestMintTokenTenantAndFailures(t *testing.T) {
	e := newEnv(t, true)
	if w := e.post(t, `{"principalId":"`+principal+`","resource":"api://x","tenantId":"`+otherTenant+`"}`); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if e.dir.calls[0] != otherTenant+" "+principal+" api://x" {
		t.Fatalf("MintFor got %q", e.dir.calls[0])
	}
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"principalId":"nope","resource":"api://x"}`, 400, "principalId"},
		{`{"principalId":"` + principal + `"}`, 400, "resource"},
		{`{"principalId":"` + principal + `","resource":"/.default"}`, 400, "resource"},
		{`{"principalId":"` + principal + `","resource":"api://x","tenantId":"common"}`, 400, "tenantId"},
		{`{"principalId":"` + principal + `","resource":"api://x","extra":1}`, 400, "unknown field"},
		{`not json`, 400, "not valid JSON"},
		{`{"principalId":"` + otherTenant + `","resource":"api://x"}`, 404, "no service principal"},
	} {
		w := e.post(t, tc.body)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tc.body, w.Code, w.Body, tc.code, tc.msg)
		}
	}
	evs, err := e.db.ListAudit(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Action != "token.mint" || last.Result != audit.Failure || last.Target != otherTenant {
		t.Fatalf("a failed mint is audited as a failure: %+v", last)
	}
}

func TestMintTokenNeedsAdmin(t *testing.T) {
	e := newEnv(t, false)
	if w := e.post(t, `{"principalId":"`+principal+`","resource":"api://x"}`); w.Code != 401 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(e.dir.calls) != 0 {
		t.Fatal("minted for an anonymous caller")
	}
}

func TestMintTokenNotWired(t *testing.T) {
	mux := http.NewServeMux()
	(&admin.API{}).Routes(mux)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/admin/v1/tokens", strings.NewReader(`{}`))
	mux.ServeHTTP(w, r.WithContext(authn.WithPrincipal(r.Context(), authn.Principal{Admin: true})))
	if w.Code != 503 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
