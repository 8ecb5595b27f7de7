package token_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/token"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	tenantID = "6a3b1f0e-4c2d-4e5f-8a9b-0c1d2e3f4a5b"
	appID    = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
	objectID = "9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10"
	vaultAud = "https://vault.azure.net"
	baseURL  = "https://localhost:8443"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// detRand is a deterministic reader, safe for concurrent use.
type detRand struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func newRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return &detRand{r: mrand.NewChaCha8(s)}
}

func (d *detRand) Read(p []byte) (int, error) { d.mu.Lock(); defer d.mu.Unlock(); return d.r.Read(p) }

// tenants is a fixed set of tenant ids.
type tenants map[string]bool

func (t tenants) Exists(_ context.Context, id string) (bool, error) { return t[id], nil }

// The RSA keys tests sign with: the committed test key first, then keys generated once per test
// binary (RSA generation is slow under the race detector).
var rsaPool struct {
	sync.Mutex
	keys []*rsa.PrivateKey
}

func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	rsaPool.Lock()
	defer rsaPool.Unlock()
	if len(rsaPool.keys) == 0 {
		b, err := os.ReadFile("testdata/test-rsa.key.txt")
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		rsaPool.keys = append(rsaPool.keys, k.(*rsa.PrivateKey))
	}
	for len(rsaPool.keys) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaPool.keys = append(rsaPool.keys, k)
	}
	return rsaPool.keys[i]
}

// keyGen hands a service the pool's RSA keys in order (the committed one first) and fresh P-256
// keys.
func keyGen(t testing.TB) func(alg string) (crypto.Signer, error) {
	var mu sync.Mutex
	next := 0
	return func(alg string) (crypto.Signer, error) {
		if alg == token.ES256 {
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		return rsaKey(t, i), nil
	}
}

func testKEK(t testing.TB, b byte) *seal.KEK {
	k, err := seal.ParseKEK(bytes.Repeat([]byte{b}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB) *store.DB {
	db, err := store.Open(context.Background(), "sqlite:"+t.TempDir()+"/l.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// env is a token service on a real SQLite store, with a fixed clock and randomness, and its
// routes on a mux (and, with TLS, on an httptest server whose URL is the base URL).
type env struct {
	svc   *token.Service
	clock *clock
	db    *store.DB
	mux   *http.ServeMux
	srv   *httptest.Server // nil without TLS
}

type opts struct {
	cfg    token.Config
	tls    bool
	db     *store.DB // share a store (another replica)
	noInit bool
}

func newEnv(t testing.TB, o opts) *env {
	t.Helper()
	e := &env{clock: &clock{t: t0}, db: o.db, mux: http.NewServeMux()}
	if e.db == nil {
		e.db = openStore(t)
	}
	e.svc = &token.Service{
		Store:   e.db,
		KEK:     testKEK(t, 7),
		Tenants: tenants{tenantID: true},
		BaseURL: baseURL,
		Config:  o.cfg,
		Now:     e.clock.Now,
		Rand:    newRand(1),
		Log:     slog.New(slog.DiscardHandler),
	}
	token.SetKeyGenerator(e.svc, keyGen(t))
	e.svc.Routes(e.mux)
	if o.tls {
		e.srv = httptest.NewTLSServer(e.mux)
		t.Cleanup(e.srv.Close)
		e.svc.BaseURL = e.srv.URL
	}
	if !o.noInit {
		if err := e.svc.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// tick does what Run does once.
func (e *env) tick(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if err := e.svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Reload(ctx); err != nil {
		t.Fatal(err)
	}
}

func (e *env) mint(t testing.TB, aud string) token.Token {
	t.Helper()
	tok, err := e.svc.Mint(context.Background(), token.MintRequest{
		TenantID: tenantID, Audience: aud, AppID: appID, ObjectID: objectID,
		Roles: []string{"Secrets.Read"}, MIResID: "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app",
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get serves one request through the mux.
func (e *env) get(t testing.TB, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w
}

// jwks returns the tenant's v1 key set as served.
func (e *env) jwks(t testing.TB) jose.JSONWebKeySet {
	t.Helper()
	w := e.get(t, "/"+tenantID+"/discovery/keys")
	if w.Code != 200 {
		t.Fatalf("JWKS: %d %s", w.Code, w.Body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil { // go-jose checks x5t against x5c
		t.Fatalf("JWKS does not parse: %v\n%s", err, w.Body)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// header decodes a token's protected header.
func header(t testing.TB, raw string) map[string]any {
	t.Helper()
	var h map[string]any
	decodePart(t, strings.Split(raw, ".")[0], &h)
	return h
}

func decodePart(t testing.TB, part string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// states renders KeyStates compactly.
func states(s *token.Service) string {
	m := s.KeyStates()
	return fmt.Sprintf("pending=%d active=%d retired=%d gone=%d", m["pending"], m["active"], m["retired"], m["gone"])
}
