package token_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/token"
)

var b64 = base64.RawURLEncoding

// parts splits a compact JWS.
func parts(t testing.TB, raw string) (header, payload, sig string) {
	t.Helper()
	p := strings.Split(raw, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d parts", len(p))
	}
	return p[0], p[1], p[2]
}

// claimsOf decodes a token's payload, keeping numbers exact.
func claimsOf(t testing.TB, raw string) map[string]any {
	t.Helper()
	_, payload, _ := parts(t, raw)
	b, err := b64.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signJWS builds a compact JWS from a header and claims (JSON text or values), signed for alg
// with key: RS256 and ES256 as Mint signs, HS256 with a []byte secret, "none" unsigned.
func signJWS(t testing.TB, alg string, key any, header, claims any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return b64.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b64.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	h := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case token.RS256:
		var err error
		if sig, err = rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, h[:]); err != nil {
			t.Fatal(err)
		}
	case token.ES256:
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "HS256":
		mac := hmac.New(sha256.New, key.([]byte))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "none":
		sig = []byte("x")
	}
	return input + "." + b64.EncodeToString(sig)
}

// resign returns tok with its claims changed by mutate and signed again, with the same header,
// by the committed test key (the first key every test service gets).
func resign(t testing.TB, tok string, mutate func(map[string]any)) string {
	t.Helper()
	hdr, _, _ := parts(t, tok)
	h, err := b64.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, tok)
	mutate(c)
	return signJWS(t, token.RS256, rsaKey(t, 0), string(h), c)
}

func TestVerifyTokenValid(t *testing.T) {
	e := newEnv(t, opts{})
	tok := e.mint(t, vaultAud)
	got, err := e.svc.VerifyToken(tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	want := authn.Claims{
		Issuer:    baseURL + "/" + tenantID + "/",
		Audience:  vaultAud,
		TenantID:  tenantID,
		AppID:     appID,
		ObjectID:  objectID,
		Roles:     []string{"Secrets.Read"},
		MIResID:   "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app",
		ID:        tok.ID,
		IssuedAt:  t0,
		NotBefore: t0,
		ExpiresAt: t0.Add(time.Hour),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("claims:\n got %+v\nwant %+v", got, want)
	}
	// The test key re-signs what Mint wrote into a token that verifies: the forgeries below fail
	// for the reason they test, not because of how they are built.
	if _, err := e.svc.VerifyToken(resign(t, tok.Raw, func(map[string]any) {})); err != nil {
		t.Fatalf("re-signed token: %v", err)
	}
}

func TestVerifyTokenES256(t *testing.T) {
	e := newEnv(t, opts{cfg: token.Config{Alg: token.ES256}})
	tok := e.mint(t, vaultAud)
	c, err := e.svc.VerifyToken(tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != tok.ID || c.Audience != vaultAud {
		t.Fatalf("claims %+v", c)
	}
	// An RS256 header on an ES256 key's kid.
	hdr := `{"typ":"JWT","alg":"RS256","kid":"` + tok.KeyID + `"}`
	forged := signJWS(t, token.RS256, rsaKey(t, 0), hdr, claimsOf(t, tok.Raw))
	expectReject(t, e.svc, forged, "the token says RS256 but its key")
}

func TestVerifyTokenWindow(t *testing.T) {
	e := newEnv(t, opts{})
	tok := e.mint(t, vaultAud)

	e.clock.Set(t0.Add(time.Hour - time.Second))
	if _, err := e.svc.VerifyToken(tok.Raw); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	e.clock.Set(t0.Add(time.Hour))
	expectReject(t, e.svc, tok.Raw, "Lifetime validation failed, the token is expired.")

	// Minted in the future: accepted up to NotBeforeSkew ahead of the verifier's clock.
	e.clock.Set(t0.Add(token.NotBeforeSkew))
	early := e.mint(t, vaultAud)
	e.clock.Set(t0.Add(token.NotBeforeSkew + time.Second))
	tooEarly := e.mint(t, vaultAud)
	e.clock.Set(t0)
	if _, err := e.svc.VerifyToken(early.Raw); err != nil {
		t.Fatalf("nbf at the skew: %v", err)
	}
	expectReject(t, e.svc, tooEarly.Raw, "Lifetime validation failed, the token is not yet valid.")
}

func TestVerifyTokenRejects(t *testing.T) {
	e := newEnv(t, opts{})
	tok := e.mint(t, vaultAud)
	raw := tok.Raw
	hdr, payload, sig := parts(t, raw)
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey(t, 0).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := claimsOf(t, raw)
	kid := tok.KeyID
	withHeader := func(h string) string { return signJWS(t, token.RS256, rsaKey(t, 0), h, claims) }
	const otherTenant = "0f0e0d0c-0b0a-4909-8807-060504030201"

	for _, tc := range []struct {
		name, raw, want string
	}{
		{"wrong issuer: another tenant's", resign(t, raw, func(c map[string]any) { c["iss"] = baseURL + "/" + otherTenant + "/" }), "Issuer validation failed."},
		{"wrong issuer: v2", resign(t, raw, func(c map[string]any) { c["iss"] = baseURL + "/" + tenantID + "/v2.0" }), "Issuer validation failed."},
		{"wrong issuer: upper-case tid", resign(t, raw, func(c map[string]any) {
			c["tid"] = strings.ToUpper(tenantID)
			c["iss"] = baseURL + "/" + strings.ToUpper(tenantID) + "/"
		}), "Issuer validation failed."},
		{"tid not a GUID", resign(t, raw, func(c map[string]any) { c["tid"] = "common" }), "not a GUID"},
		{"tampered payload", hdr + "." + b64.EncodeToString([]byte(strings.Replace(string(mustDecode(t, payload)), "Secrets.Read", "Secrets.Write", 1))) + "." + sig, "Signature validation failed."},
		{"tampered signature", hdr + "." + payload + "." + flip(sig, len(sig)/2), "Signature validation failed."},
		{"signature of another token", hdr + "." + payload + "." + lastPart(e.mint(t, vaultAud).Raw), "Signature validation failed."},
		{"truncated signature", hdr + "." + payload + "." + sig[:len(sig)-4], "Signature validation failed."},
		{"non-canonical signature encoding", hdr + "." + payload + "." + sig[:len(sig)-1] + nonCanonical(sig[len(sig)-1]), "not a compact JWS"},
		{"line break in signature", hdr + "." + payload + "." + sig[:10] + "\n" + sig[10:], "not a compact JWS"},
		{"padding", raw + "==", "not a compact JWS"},
		{"unknown kid", withHeader(`{"typ":"JWT","alg":"RS256","kid":"nope"}`), `signing key "nope" is not one`},
		{"no kid", withHeader(`{"typ":"JWT","alg":"RS256"}`), "no kid"},
		{"alg none", withHeader(`{"typ":"JWT","alg":"none","kid":"` + kid + `"}`), "alg none"},
		{"alg None", withHeader(`{"typ":"JWT","alg":"None","kid":"` + kid + `"}`), "alg none"},
		{"no alg", withHeader(`{"typ":"JWT","kid":"` + kid + `"}`), "alg none"},
		{"alg not a string", withHeader(`{"typ":"JWT","alg":256,"kid":"` + kid + `"}`), "alg is not a string"},
		{"HS256 with the RSA public key as secret", signJWS(t, "HS256", pubPEM, `{"typ":"JWT","alg":"HS256","kid":"`+kid+`"}`, claims), "symmetric algorithm HS256"},
		{"HS256 with the public key DER as secret", signJWS(t, "HS256", pubDER, `{"typ":"JWT","alg":"HS256","kid":"`+kid+`"}`, claims), "symmetric algorithm HS256"},
		{"PS256", withHeader(`{"typ":"JWT","alg":"PS256","kid":"` + kid + `"}`), "algorithm PS256 is not supported"},
		{"ES256 token with an RS256 key's kid", signJWS(t, token.ES256, ecKey, `{"typ":"JWT","alg":"ES256","kid":"`+kid+`"}`, claims), "the token says ES256 but its key"},
		{"crit", withHeader(`{"typ":"JWT","alg":"RS256","kid":"` + kid + `","crit":["exp"]}`), "crit"},
		{"jku", withHeader(`{"typ":"JWT","alg":"RS256","kid":"` + kid + `","jku":"https://evil/keys"}`), "names its own key"},
		{"x5u", withHeader(`{"typ":"JWT","alg":"RS256","kid":"` + kid + `","x5u":"https://evil/cert"}`), "names its own key"},
		{"jwk", withHeader(`{"typ":"JWT","alg":"RS256","kid":"` + kid + `","jwk":{"kty":"RSA"}}`), "names its own key"},
		{"header not an object", withHeader(`["RS256"]`), "header is not a JSON object"},
		{"header null", withHeader(`null`), "header is not a JSON object"},
		{"4 parts", raw + "." + sig, "not a compact JWS"},
		{"2 parts", hdr + "." + payload, "not a compact JWS"},
		{"empty", "", "not a compact JWS"},
		{"empty signature", hdr + "." + payload + ".", "not a compact JWS"},
		{"empty payload", hdr + ".." + sig, "not a compact JWS"},
		{"oversized", hdr + "." + strings.Repeat("A", token.MaxTokenSize) + "." + sig, "larger than 16384 bytes"},
		{"oversized but signed", resign(t, raw, func(c map[string]any) { c["roles"] = []string{strings.Repeat("r", token.MaxTokenSize)} }), "larger than 16384 bytes"},
		{"garbage base64", "!!!!.@@@@.####", "not a compact JWS"},
		{"garbage base64 in the header", "a" + "." + payload + "." + sig, "not a compact JWS"},
		{"bearer prefix", "Bearer " + raw, "not a compact JWS"},
		{"aud array of two", resign(t, raw, func(c map[string]any) { c["aud"] = []string{vaultAud, "https://graph.microsoft.com"} }), "audience"},
		{"aud empty", resign(t, raw, func(c map[string]any) { c["aud"] = "" }), "audience"},
		{"aud missing", resign(t, raw, func(c map[string]any) { delete(c, "aud") }), "audience"},
		{"aud a number", resign(t, raw, func(c map[string]any) { c["aud"] = 1 }), "audience"},
		{"exp missing", resign(t, raw, func(c map[string]any) { delete(c, "exp") }), "no exp claim"},
		{"iss missing", resign(t, raw, func(c map[string]any) { delete(c, "iss") }), "no iss claim"},
		{"exp a string", resign(t, raw, func(c map[string]any) { c["exp"] = "9999999999" }), "payload is not a JSON object"},
		{"exp null", resign(t, raw, func(c map[string]any) { c["exp"] = nil }), "no exp claim"},
		{"exp exponent", resign(t, raw, func(c map[string]any) { c["exp"] = json.Number("1e10") }), "payload is not a JSON object"},
		{"exp fractional", resign(t, raw, func(c map[string]any) { c["exp"] = json.Number("9999999999.5") }), "payload is not a JSON object"},
		{"roles not strings", resign(t, raw, func(c map[string]any) { c["roles"] = []int{1} }), "payload is not a JSON object"},
		{"payload an array", signJWS(t, token.RS256, rsaKey(t, 0), string(mustDecode(t, hdr)), `[1]`), "payload is not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) { expectReject(t, e.svc, tc.raw, tc.want) })
	}

	t.Run("aud array of one", func(t *testing.T) {
		c, err := e.svc.VerifyToken(resign(t, raw, func(c map[string]any) { c["aud"] = []string{vaultAud} }))
		if err != nil || c.Audience != vaultAud {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
	t.Run("header in another order", func(t *testing.T) {
		if _, err := e.svc.VerifyToken(withHeader(`{"kid":"` + kid + `","alg":"RS256"}`)); err != nil {
			t.Fatal(err)
		}
	})
}

// expectReject checks that raw is refused as Unauthenticated with a message containing want,
// and that the message does not repeat the token.
func expectReject(t *testing.T, s *token.Service, raw, want string) {
	t.Helper()
	c, err := s.VerifyToken(raw)
	if err == nil {
		t.Fatalf("accepted: %+v", c)
	}
	if !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("kind %v, want unauthenticated: %v", errs.KindOf(err), err)
	}
	if msg := errs.Message(err); !strings.Contains(msg, want) {
		t.Fatalf("message %q does not say %q", msg, want)
	}
	for _, part := range strings.Split(raw, ".") {
		if len(part) >= 16 && strings.Contains(err.Error(), part) {
			t.Fatalf("the error repeats the token: %v", err)
		}
	}
}

func TestVerifyTokenKeyStates(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, opts{})
	old := e.mint(t, vaultAud)

	// A scheduled successor is published (pending) before it signs: a token signed by it verifies.
	if _, err := e.svc.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	var pendingKID string
	for _, k := range e.jwks(t).Keys {
		if k.KeyID != old.KeyID {
			pendingKID = k.KeyID
		}
	}
	if pendingKID == "" {
		t.Fatal("no pending key in JWKS")
	}
	hdr := `{"typ":"JWT","alg":"RS256","x5t":"` + pendingKID + `","kid":"` + pendingKID + `"}`
	byPending := signJWS(t, token.RS256, rsaKey(t, 1), hdr, claimsOf(t, old.Raw))
	if _, err := e.svc.VerifyToken(byPending); err != nil {
		t.Fatalf("token signed by the pending key: %v", err)
	}

	// An immediate rotation retires the old key: its tokens still verify.
	if _, err := e.svc.Rotate(ctx, true); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if got := e.mint(t, vaultAud); got.KeyID == old.KeyID {
		t.Fatal("the old key still signs")
	}
	if _, err := e.svc.VerifyToken(old.Raw); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}

	// Once the old key is gone, its tokens name a key that is not published.
	e.clock.Advance(token.DefaultTokenLifetime + token.DropSkew + time.Second)
	e.tick(t)
	expectReject(t, e.svc, old.Raw, "is not one of the keys this issuer publishes")
}

func TestVerifyTokenThroughBearer(t *testing.T) {
	e := newEnv(t, opts{})
	b := &authn.Bearer{Verifier: e.svc, Audiences: []string{vaultAud + "/"}}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+e.mint(t, vaultAud).Raw)
	p, err := b.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if p.ObjectID != objectID || p.AppID != appID || p.TenantID != tenantID || !p.HasRole("Secrets.Read") {
		t.Fatalf("principal %+v", p)
	}
	r.Header.Set("Authorization", "Bearer "+e.mint(t, "https://graph.microsoft.com").Raw)
	if _, err := b.Authenticate(r); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("token for another API: %v", err)
	}
}

func mustDecode(t testing.TB, part string) []byte {
	t.Helper()
	b, err := b64.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lastPart(raw string) string { return raw[strings.LastIndexByte(raw, '.')+1:] }

// flip changes the base64url character at i to another one.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// nonCanonical returns another spelling of the last character of an unpadded base64url string
// whose final group carries unused bits: the same bits that matter, a non-zero unused one.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}
