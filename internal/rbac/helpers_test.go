package rbac_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

var ctx = context.Background()

const (
	tenantID    = "11111111-0000-4000-8000-000000000001"
	otherTenant = "11111111-0000-4000-8000-000000000002"
	subID       = "22222222-0000-4000-8000-000000000001"
	otherSub    = "22222222-0000-4000-8000-000000000002" // belongs to otherTenant
	unknownSub  = "22222222-0000-4000-8000-0000000000ff"
	sub         = "/subscriptions/" + subID
	groupA      = sub + "/resourceGroups/GroupA"
	groupB      = sub + "/resourceGroups/GroupB"
	vaultInA    = groupA + "/providers/Microsoft.KeyVault/vaults/vault1"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)

// env is a real SQLite store with two tenants, a subscription in each, and RBAC over it.
type env struct {
	db    *store.DB
	path  string // the SQLite file
	svc   *rbac.Service
	audit *recorder
	n     int // principals made so far
}

func newEnv(t testing.TB) *env {
	t.Helper()
	path := t.TempDir() + "/r.db"
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, id := range []string{tenantID, otherTenant} {
		if err := db.CreateTenant(ctx, tenant.Tenant{ID: id, Name: id, Default: id == tenantID, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	e := &env{db: db, path: path, audit: rec}
	e.svc = &rbac.Service{
		Store:         db,
		Principals:    rbac.PrincipalExistsFunc(principals{db}.PrincipalExists),
		Subscriptions: subscriptions{subID: tenantID, otherSub: otherTenant},
		Auth:          testAuth{},
		Audit:         rec,
		Now:           func() time.Time { return t0 },
		DefaultTenant: func() string { return tenantID },
		Shape:         httpx.ARMShape("https://localhost:8443/"),
	}
	return e
}

// principal makes a managed identity's service principal in tenant and returns its object id.
func (e *env) principal(t testing.TB, tenant string) string {
	t.Helper()
	e.n++
	id := fmt.Sprintf("33333333-0000-4000-8000-%012d", e.n)
	_, err := e.db.CreateServicePrincipal(ctx, directory.ServicePrincipal{
		TenantID: tenant, ID: id, AppID: fmt.Sprintf("44444444-0000-4000-8000-%012d", e.n),
		Type: directory.TypeManagedIdentity, DisplayName: "mi", Created: t0,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// assign gives principal the role at scope directly in the store.
func (e *env) assign(t testing.TB, principal, role, scope string) string {
	t.Helper()
	e.n++
	id := fmt.Sprintf("55555555-0000-4000-8000-%012d", e.n)
	err := e.db.CreateRoleAssignment(ctx, rbac.Assignment{
		TenantID: tenantID, ID: id, Scope: scope, RoleDefinitionID: role, PrincipalID: principal,
		PrincipalType: rbac.PrincipalTypeServicePrincipal, Created: t0, CreatedBy: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// principals answers PrincipalExists from the directory's store, as the directory service will.
type principals struct{ db *store.DB }

func (p principals) PrincipalExists(ctx context.Context, tenantID, id string) (bool, error) {
	_, err := p.db.GetServicePrincipal(ctx, tenantID, directory.Key{ID: id})
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return err == nil, err
}

// subscriptions maps subscription ids to tenants (resources will own subscriptions).
type subscriptions map[string]string

func (s subscriptions) SubscriptionTenant(_ context.Context, id string) (string, error) {
	t, ok := s[id]
	if !ok {
		return "", errs.E(errs.NotFound, "no subscription %s", id)
	}
	return t, nil
}

// testAuth stands in for token verification, which is not what these tests are about:
// "Bearer admin" is the admin socket's administrator, "Bearer {oid}" a service principal of
// the first tenant, "Bearer other:{oid}" one of the other tenant. It passes a principal already
// in the context through, as authn.Bearer does.
type testAuth struct{}

func (testAuth) Authenticate(r *http.Request) (authn.Principal, error) {
	if p, ok := authn.From(r.Context()); ok {
		return p, nil
	}
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	switch {
	case h == "":
		return authn.Principal{}, errs.E(errs.Unauthenticated, "Access token is empty.")
	case !ok:
		return authn.Principal{}, errs.E(errs.Unauthenticated, "Authorization header must be 'Bearer <token>'.")
	case raw == "admin":
		return authn.Principal{Admin: true, Actor: "admin-socket:uid=0"}, nil
	}
	tid := tenantID
	if oid, ok := strings.CutPrefix(raw, "other:"); ok {
		tid, raw = otherTenant, oid
	}
	return authn.Principal{Actor: "sp:" + raw, TenantID: tid, ObjectID: raw}, nil
}

// recorder keeps audit events in memory.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(_ context.Context, ev audit.Event) (audit.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return ev, nil
}

func (r *recorder) find(action, result string) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, ev := range r.events {
		if ev.Action == action && ev.Result == result {
			out = append(out, ev)
		}
	}
	return out
}

// client calls the RBAC routes over a real HTTP server.
type client struct {
	t      *testing.T
	base   string
	token  string
	header map[string]string
}

func (e *env) server(t *testing.T) string {
	mux := http.NewServeMux()
	e.svc.Routes(mux)
	// What the management API's router will do for resource scopes and for ids in any case:
	// hand what MatchPath accepts to Handler (which answers ARM's 404 for anything else).
	mux.Handle("/", e.svc.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c client) do(method, path, body string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// armError returns the code and message of an ARM error body.
func (r response) armError(t *testing.T) (code, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("status %d, body %q is not an ARM error (%v)", r.status, r.body, err)
	}
	return e.Error.Code, e.Error.Message
}

// wantError checks an ARM error response.
func (r response) wantError(t *testing.T, what string, status int, code string) string {
	t.Helper()
	got, msg := r.armError(t)
	if r.status != status || got != code {
		t.Errorf("%s: %d %s (%s), want %d %s", what, r.status, got, msg, status, code)
	}
	return msg
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
}
