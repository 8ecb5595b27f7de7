package server_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/pflag"

	"github.com/lanyardhq/lanyard/internal/config"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/server"
	"github.com/lanyardhq/lanyard/internal/token"
)

const (
	testApp = "11111111-2222-3333-4444-555555555555"
	testOID = "66666666-7777-8888-9999-000000000000"
)

// TestOIDCOverServerTLS: go-oidc, pointed at the default tenant's v1 issuer over the server's own
// TLS with its CA, verifies a token the server minted.
func TestOIDCOverServerTLS(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := oidc.ClientContext(context.Background(), env.HTTP)
	tid := env.Server.Default.ID
	issuer := env.Server.Tokens.Issuer(tid)
	if want := env.URL + "/" + tid + "/"; issuer != want {
		t.Fatalf("issuer %q, want %q", issuer, want)
	}
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc rejects the discovery document: %v", err)
	}
	tok, err := env.Server.Tokens.Mint(ctx, token.MintRequest{
		TenantID: tid, Audience: "https://vault.azure.net", AppID: testApp, ObjectID: testOID, Roles: []string{"DoAll"},
	})
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "https://vault.azure.net"}).Verify(ctx, tok.Raw)
	if err != nil {
		t.Fatalf("go-oidc rejects a minted token: %v", err)
	}
	var claims struct {
		AppID string   `json:"appid"`
		OID   string   `json:"oid"`
		TID   string   `json:"tid"`
		Roles []string `json:"roles"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.AppID != testApp || claims.OID != testOID || claims.TID != tid || len(claims.Roles) != 1 || claims.Roles[0] != "DoAll" {
		t.Fatalf("claims %+v", claims)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "https://graph.microsoft.com"}).Verify(ctx, tok.Raw); err == nil {
		t.Fatal("a token for another audience verified")
	}
	// An unknown tenant has no documents.
	resp, err := env.HTTP.Get(env.URL + "/00000000-0000-0000-0000-000000000001/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 4 {
		t.Fatalf("discovery of an unknown tenant: %d", resp.StatusCode)
	}
}

// TestHealthReadyMetrics checks the operational endpoints and that the access log never carries
// the Authorization header.
func TestHealthReadyMetrics(t *testing.T) {
	logs := &syncBuffer{}
	env := lanyardtest.Start(t, lanyardtest.Options{Log: logs})
	if _, err := env.Server.Tokens.Mint(context.Background(), token.MintRequest{
		TenantID: env.Server.Default.ID, Audience: "api://x", AppID: testApp, ObjectID: testOID,
	}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer very-secret-token-value")
		resp, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if resp.Header.Get("x-ms-request-id") == "" {
			t.Errorf("%s: no request id header", path)
		}
		if path == "/metrics" {
			for _, want := range []string{
				"lanyard_tokens_minted_total 1", `lanyard_signing_keys{state="active"} 1`,
				`lanyard_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
				"lanyard_http_request_duration_seconds_bucket",
			} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		}
	}
	if !strings.Contains(logs.String(), "route=\"GET /readyz\"") {
		t.Errorf("no access line for /readyz in the log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "very-secret-token-value") {
		t.Fatal("the access log carries the Authorization header")
	}
}

// TestAdminOnlyOnSocket: the admin API refuses callers on the HTTPS listener (no administrator
// there yet) and serves them on the admin socket.
func TestAdminOnlyOnSocket(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	for _, path := range []string{"/admin/v1/tenants", "/admin/v1/signing-keys", "/admin/v1/audit", "/admin/v1/ca"} {
		resp, err := env.HTTP.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s over HTTPS without credentials: %d, want 401", path, resp.StatusCode)
		}
	}
	resp, err := env.HTTP.Post(env.URL+"/admin/v1/tenants", "application/json", strings.NewReader(`{"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST tenant over HTTPS: %d", resp.StatusCode)
	}
	ctx := context.Background()
	tn, err := env.Admin.CreateTenant(ctx, "Second")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.CreateTenant(ctx, ""); err == nil || !strings.Contains(err.Error(), "tenant name") {
		t.Fatalf("empty tenant name: %v", err)
	}
	// The new tenant has its own issuer and documents.
	resp, err = env.HTTP.Get(env.URL + "/" + tn.ID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"issuer":"`+env.URL+"/"+tn.ID+`/v2.0"`) {
		t.Fatalf("v2 discovery of a new tenant: %d %s", resp.StatusCode, body)
	}
	evs, err := env.Admin.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action+":"+e.Actor)
	}
	joined := strings.Join(actions, ",")
	for _, want := range []string{"signing-key.create:system", "tenant.create:system", "tenant.create:admin-socket:uid="} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit lacks %q: %s", want, joined)
		}
	}
}

// TestSigningKeyNotInStoreFiles: the private key of a signing key cannot be found in the SQLite
// file or its WAL, in any of the encodings it could leak in.
func TestSigningKeyNotInStoreFiles(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	if _, err := env.Server.Tokens.Rotate(ctx, true); err != nil { // a second key, written after the WAL started
		t.Fatal(err)
	}
	recs, err := env.Server.DB.ListSigningKeys(ctx)
	if err != nil || len(recs) < 2 {
		t.Fatalf("keys: %v %d", err, len(recs))
	}
	var files [][]byte
	for _, name := range []string{"lanyard.db", "lanyard.db-wal"} {
		b, err := os.ReadFile(filepath.Join(env.DataDir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files = append(files, b)
	}
	if len(files[1]) == 0 {
		t.Fatal("the WAL is empty: the test would not search it")
	}
	for _, r := range recs {
		der, err := env.Server.KEK.Open(r.SealedKey, seal.AD{Table: "signing_keys", ID: r.ID, Purpose: "private-key"})
		if err != nil {
			t.Fatal(err)
		}
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		rk := key.(*rsa.PrivateKey)
		needles := map[string][]byte{
			"PKCS#8 DER":       der,
			"PKCS#1 DER":       x509.MarshalPKCS1PrivateKey(rk),
			"private exponent": rk.D.Bytes(),
			"prime p":          rk.Primes[0].Bytes(),
			"base64 PKCS#8":    []byte(base64.StdEncoding.EncodeToString(der)),
		}
		for fi, f := range files {
			for what, n := range needles {
				if bytes.Contains(f, n) {
					t.Errorf("key %s: %s found in store file %d", r.ID, what, fi)
				}
				if len(n) > 64 && bytes.Contains(f, n[:64]) {
					t.Errorf("key %s: 64 bytes of its %s found in store file %d", r.ID, what, fi)
				}
			}
		}
	}
}

// TestWrongKEKRefusesAndWritesNothing: a server opened with another KEK stops before writing.
func TestWrongKEKRefusesAndWritesNothing(t *testing.T) {
	// Two opens of one SQLite file at once: neither with the audit journal, which needs the
	// database to itself.
	env := lanyardtest.Start(t, lanyardtest.Options{Configure: lanyardtest.NoAuditJournal})
	ctx := context.Background()
	before, err := env.Server.DB.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	tenants, _ := env.Server.DB.ListTenants(ctx)

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	config.AddFlags(fs)
	_ = fs.Set("data-dir", env.DataDir)
	other := make([]byte, 32)
	other[0] = 9
	cfg, err := config.Load(fs, []string{"LANYARD_KEK=" + base64.StdEncoding.EncodeToString(other)}, config.ModeDev)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SQLite.AuditJournal = false
	_, err = server.Open(ctx, server.Options{Config: cfg, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("open with the wrong KEK: %v", err)
	}
	after, _ := env.Server.DB.ListAudit(ctx, 0, 1000)
	tenants2, _ := env.Server.DB.ListTenants(ctx)
	keys, _ := env.Server.DB.ListSigningKeys(ctx)
	if len(after) != len(before) || len(tenants2) != len(tenants) || len(keys) != 1 {
		t.Fatalf("the refused open wrote: audit %d→%d, tenants %d→%d, keys %d", len(before), len(after), len(tenants), len(tenants2), len(keys))
	}
}

// syncBuffer is a log buffer the server writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProfilingOnAdminSocketOnly: /debug/pprof answers administrators on the admin socket and
// is not found on the HTTPS listener.
func TestProfilingOnAdminSocketOnly(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		resp, err := env.Admin.Send(ctx, http.MethodGet, path, nil, nil)
		if err != nil || resp.Status != http.StatusOK || len(resp.Body) == 0 {
			t.Errorf("GET %s on the admin socket: %v %+v", path, err, resp)
		}
		r, err := env.HTTP.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("goroutine")) {
			t.Errorf("GET %s over HTTPS: %d %.80s, want 404", path, r.StatusCode, body)
		}
	}
	if resp, err := env.Admin.Send(ctx, http.MethodGet, "/debug/pprof/heap?debug=1", nil, nil); err == nil && !bytes.Contains(resp.Body, []byte("heap profile")) {
		t.Errorf("the heap profile: %.80s", resp.Body)
	}
}
