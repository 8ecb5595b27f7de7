package frontdoor

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	tenantA  = "11111111-1111-1111-1111-111111111111"
	tenantB  = "22222222-2222-2222-2222-222222222222"
	apiID    = "aaaaaaaa-0000-0000-0000-000000000001" // the API's client id
	callerID = "cccccccc-0000-0000-0000-000000000002" // the caller's appid
	callerOI = "dddddddd-0000-0000-0000-000000000003" // the caller's oid
)

// issuerKeys is a token service for the tests: an RSA key published in a JWKS per tenant (the
// same key for both tenants, as Lanyard's token service shares its keys), behind a real HTTP
// server that JWKS reads.
type issuerKeys struct {
	srv   *httptest.Server
	key   *rsa.PrivateKey
	other *rsa.PrivateKey // not published
	jwks  *JWKS
}

func newIssuer(t testing.TB) *issuerKeys {
	t.Helper()
	k := &issuerKeys{}
	var err error
	if k.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer": k.issuer(r.PathValue("tenant")), "jwks_uri": "https://public.example/" + r.PathValue("tenant") + "/discovery/keys",
		})
	})
	mux.HandleFunc("GET /{tenant}/discovery/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	k.srv = httptest.NewServer(mux)
	t.Cleanup(k.srv.Close)
	k.jwks = &JWKS{BaseURL: k.srv.URL}
	return k
}

func (k *issuerKeys) issuer(tenant string) string { return k.srv.URL + "/" + tenant + "/" }

// token signs claims (the defaults of a managed identity's token for the API, changed by edit).
func (k *issuerKeys) token(t testing.TB, edit func(c map[string]any), signer ...*rsa.PrivateKey) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{
		"aud": apiID, "iss": k.issuer(tenantA), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"appid": callerID, "oid": callerOI, "sub": callerOI, "tid": tenantA, "roles": []string{"DoAll", "Read"}, "ver": "1.0",
		"idtyp": "app",
	}
	if edit != nil {
		edit(c)
	}
	key := k.key
	if len(signer) > 0 {
		key = signer[0]
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func authSite(a *app, auth Auth) Site {
	if auth.Tenant == "" {
		auth.Tenant = tenantA
	}
	if auth.ClientID == "" {
		auth.ClientID = apiID
	}
	return Site{Name: "api", HostName: "api.sites.localhost", Backend: a.backend(), Auth: &auth}
}

// decodePrincipal reads the X-MS-CLIENT-PRINCIPAL the app saw.
func decodePrincipal(t *testing.T, s seen) (principal, bool) {
	t.Helper()
	v := s.Header["X-Ms-Client-Principal"]
	if len(v) == 0 {
		return principal{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(v[0])
	if err != nil {
		t.Fatalf("X-MS-CLIENT-PRINCIPAL is not standard base64: %v", err)
	}
	var p principal
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p, true
}

func (p principal) values(typ string) []string {
	var out []string
	for _, c := range p.Claims {
		if c.Typ == typ {
			out = append(out, c.Val)
		}
	}
	return out
}

func TestEasyAuthValidToken(t *testing.T) {
	k, a := newIssuer(t), newApp(t, "api")
	_, base := door(t, Config{Keys: k.jwks}, authSite(a, Auth{RequireAuthentication: true, Action: ActionReturn401}))
	tok := k.token(t, nil)
	code, _, body := get(t, base, "api.sites.localhost", "/api", map[string]string{
		"Authorization": "Bearer " + tok, "X-MS-CLIENT-PRINCIPAL": "eyJhdXRoX3R5cCI6ImZha2UifQ==", "X-MS-CLIENT-PRINCIPAL-NAME": "admin",
	})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	s := decodeSeen(t, body)
	p, ok := decodePrincipal(t, s)
	if !ok || p.AuthTyp != "aad" || p.RoleTyp != roleType || p.NameTyp != nameType {
		t.Fatalf("principal: %+v", p)
	}
	if got := p.values("roles"); strings.Join(got, ",") != "DoAll,Read" {
		t.Errorf("roles claims: %q", got)
	}
	if got := p.values("http://schemas.microsoft.com/identity/claims/objectidentifier"); len(got) != 1 || got[0] != callerOI {
		t.Errorf("oid claim: %q", got)
	}
	if got := p.values("http://schemas.microsoft.com/identity/claims/tenantid"); len(got) != 1 || got[0] != tenantA {
		t.Errorf("tid claim: %q", got)
	}
	if got := p.values("exp"); len(got) != 1 || strings.ContainsAny(got[0], ".e") {
		t.Errorf("exp claim: %q", got)
	}
	for h, want := range map[string]string{"X-Ms-Client-Principal-Id": callerOI, "X-Ms-Client-Principal-Name": callerID, "X-Ms-Client-Principal-Idp": "aad"} {
		if got := s.Header[h]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// Presented again: served from the verified cache, same answer.
	if code, _, _ := get(t, base, "api.sites.localhost", "/api", map[string]string{"Authorization": "Bearer " + tok}); code != 200 {
		t.Errorf("second call: %d", code)
	}
	// /.auth/me for the caller.
	code, _, body = get(t, base, "api.sites.localhost", "/.auth/me", map[string]string{"Authorization": "Bearer " + tok})
	var me []struct {
		Provider string  `json:"provider_name"`
		UserID   string  `json:"user_id"`
		Claims   []claim `json:"user_claims"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &me) != nil || len(me) != 1 || me[0].Provider != "aad" || len(me[0].Claims) == 0 {
		t.Errorf("/.auth/me: %d %s", code, body)
	}
	if code, h, _ := get(t, base, "api.sites.localhost", "/.auth/me", nil); code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("/.auth/me without a token: %d", code)
	}
}

func TestEasyAuthRefusals(t *testing.T) {
	k, a := newIssuer(t), newApp(t, "api")
	_, base := door(t, Config{Keys: k.jwks}, authSite(a, Auth{RequireAuthentication: true, Action: ActionReturn401}))
	tamper := func(raw string) string {
		parts := strings.Split(raw, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), "Read", "Root", 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}
	cases := []struct {
		name, auth, desc string
	}{
		{"no token", "", ""},
		{"not bearer", "Basic dXNlcjpwYXNz", "not one Bearer token"},
		{"garbage", "Bearer abc.def.ghi", "malformed"},
		{"expired", "Bearer " + k.token(t, func(c map[string]any) { c["exp"] = time.Now().Add(-6 * time.Minute).Unix() }), "expired"},
		{"not yet valid", "Bearer " + k.token(t, func(c map[string]any) { c["nbf"] = time.Now().Add(10 * time.Minute).Unix() }), "not valid yet"},
		{"other audience", "Bearer " + k.token(t, func(c map[string]any) { c["aud"] = "https://vault.azure.net" }), "audience"},
		{"other tenant", "Bearer " + k.token(t, func(c map[string]any) { c["iss"] = k.issuer(tenantB); c["tid"] = tenantB }), "tenant"},
		{"bad signature", "Bearer " + k.token(t, nil, k.other), "signature"},
		{"altered payload", "Bearer " + tamper(k.token(t, nil)), "signature"},
		{"no exp", "Bearer " + k.token(t, func(c map[string]any) { delete(c, "exp") }), "malformed"},
	}
	for _, tc := range cases {
		before := a.calls.Load()
		h := map[string]string{}
		if tc.auth != "" {
			h["Authorization"] = tc.auth
		}
		code, hdr, body := get(t, base, "api.sites.localhost", "/api", h)
		ch := hdr.Get("WWW-Authenticate")
		if code != 401 || !strings.HasPrefix(ch, `Bearer realm="api.sites.localhost"`) || !strings.Contains(body, tc.desc) {
			t.Errorf("%s: %d %q %q", tc.name, code, ch, body)
		}
		if tc.desc != "" && !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s: challenge %q has no error", tc.name, ch)
		}
		if a.calls.Load() != before {
			t.Errorf("%s: the app was called", tc.name)
		}
	}
	// Within the clock skew, an expired token is still accepted (5 minutes, as IdentityModel).
	tok := k.token(t, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })
	if code, _, body := get(t, base, "api.sites.localhost", "/api", map[string]string{"Authorization": "Bearer " + tok}); code != 200 {
		t.Errorf("expired within the skew: %d %s", code, body)
	}
}

func TestEasyAuthPolicies(t *testing.T) {
	k, a := newIssuer(t), newApp(t, "api")
	f, base := door(t, Config{Keys: k.jwks})
	tok := k.token(t, nil)
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	run := func(name string, auth Auth, h map[string]string, path string, want int) seen {
		t.Helper()
		f.SetSite(authSite(a, auth))
		f.SetState("api", Running)
		before := a.calls.Load()
		code, _, body := get(t, base, "api.sites.localhost", path, h)
		if code != want {
			t.Errorf("%s: %d %s, want %d", name, code, body, want)
		}
		if called := a.calls.Load() != before; called != (want == 200) {
			t.Errorf("%s: app called %v", name, called)
		}
		if want == 200 {
			return decodeSeen(t, body)
		}
		return seen{}
	}
	run("allowed application", Auth{RequireAuthentication: true, AllowedApplications: []string{"x", strings.ToUpper(callerID)}}, bearer, "/", 200)
	run("application not allowed", Auth{RequireAuthentication: true, AllowedApplications: []string{"x"}}, bearer, "/", 403)
	run("identity allowed", Auth{RequireAuthentication: true, AllowedIdentities: []string{callerOI}}, bearer, "/", 200)
	run("identity not allowed", Auth{RequireAuthentication: true, AllowedIdentities: []string{"y"}}, bearer, "/", 403)
	run("both, identity fails", Auth{RequireAuthentication: true, AllowedApplications: []string{callerID}, AllowedIdentities: []string{"y"}}, bearer, "/", 403)
	run("Return403 without a token", Auth{RequireAuthentication: true, Action: ActionReturn403}, nil, "/", 403)
	s := run("AllowAnonymous without a token", Auth{RequireAuthentication: true, Action: ActionAllowAnonymous},
		map[string]string{"X-MS-CLIENT-PRINCIPAL": "e30=", "x-ms-client-principal-id": "spoof"}, "/", 200)
	if _, ok := decodePrincipal(t, s); ok || len(s.Header["X-Ms-Client-Principal-Id"]) != 0 {
		t.Errorf("an anonymous request reached the app with principal headers: %v", s.Header)
	}
	s = run("AllowAnonymous with a token", Auth{RequireAuthentication: true, Action: ActionAllowAnonymous}, bearer, "/", 200)
	if _, ok := decodePrincipal(t, s); !ok {
		t.Error("an authenticated request under AllowAnonymous has no principal")
	}
	run("not required", Auth{}, nil, "/", 200)
	run("excluded path", Auth{RequireAuthentication: true, ExcludedPaths: []string{"/health", "/public/*"}}, nil, "/health", 200)
	run("excluded prefix", Auth{RequireAuthentication: true, ExcludedPaths: []string{"/health", "/public/*"}}, nil, "/public/a/b", 200)
	run("not excluded", Auth{RequireAuthentication: true, ExcludedPaths: []string{"/health"}}, nil, "/healthz", 401)
	run("allowed audience", Auth{RequireAuthentication: true, ClientID: "other", AllowedAudiences: []string{apiID}}, bearer, "/", 200)
	run("https required", Auth{RequireAuthentication: true, RequireHTTPS: true}, bearer, "/", 403)
	run("login route", Auth{RequireAuthentication: true}, nil, "/.auth/login/aad", 404)
}

// TestEasyAuthKeysUnavailable: when the tenant's keys cannot be read, a token is neither
// accepted nor blamed: 503, and the app is not called.
func TestEasyAuthKeysUnavailable(t *testing.T) {
	k, a := newIssuer(t), newApp(t, "api")
	tok := k.token(t, nil)
	k.srv.Close()
	_, base := door(t, Config{Keys: k.jwks}, authSite(a, Auth{RequireAuthentication: true}))
	if code, _, body := get(t, base, "api.sites.localhost", "/", map[string]string{"Authorization": "Bearer " + tok}); code != 503 || a.calls.Load() != 0 {
		t.Errorf("%d %s", code, body)
	}
}

// TestJWKSRefreshesOnUnknownKey: a key published after the first fetch is found at once when a
// token names it, but a flood of unknown kids fetches at most once per MissEvery.
func TestJWKSRefreshesOnUnknownKey(t *testing.T) {
	fetches := 0
	var published []jose.JSONWebKey
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "iss", "jwks_uri": srv.URL + "/t/discovery/keys"})
	})
	mux.HandleFunc("GET /t/discovery/keys", func(w http.ResponseWriter, r *http.Request) {
		fetches++
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: published})
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	j := &JWKS{BaseURL: srv.URL, Now: func() time.Time { return now }}
	if _, _, err := j.Key(t.Context(), "t", "k2"); err == nil {
		t.Fatal("an unpublished key was found")
	}
	published = append(published, jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k2", Use: "sig"})
	if _, _, err := j.Key(t.Context(), "t", "k2"); err == nil {
		t.Fatal("refetched within MissEvery")
	}
	now = now.Add(DefaultKeyMiss + time.Second)
	if _, k, err := j.Key(t.Context(), "t", "k2"); err != nil || k.KeyID != "k2" {
		t.Fatalf("the new key: %v", err)
	}
	n := fetches
	for range 100 {
		_, _, _ = j.Key(t.Context(), "t", "nope")
	}
	if fetches > n+1 {
		t.Errorf("100 unknown kids fetched the JWKS %d times", fetches-n)
	}
}
