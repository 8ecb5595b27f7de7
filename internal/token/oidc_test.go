package token_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lanyardhq/lanyard/internal/token"
)

// provider is go-oidc pointed at the tenant's v1 issuer, served over TLS.
func provider(t *testing.T, e *env) (context.Context, *oidc.Provider) {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), e.srv.Client())
	p, err := oidc.NewProvider(ctx, e.svc.Issuer(tenantID))
	if err != nil {
		t.Fatal(err)
	}
	return ctx, p
}

func TestOIDCVerifiesMintedToken(t *testing.T) {
	e := newEnv(t, opts{tls: true})
	ctx, p := provider(t, e)
	tok := e.mint(t, vaultAud)

	idt, err := p.Verifier(&oidc.Config{ClientID: vaultAud, Now: e.clock.Now}).Verify(ctx, tok.Raw)
	if err != nil {
		t.Fatalf("go-oidc rejects a minted token: %v", err)
	}
	var c struct {
		Roles []string `json:"roles"`
		OID   string   `json:"oid"`
		TID   string   `json:"tid"`
		AppID string   `json:"appid"`
		Ver   string   `json:"ver"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if idt.Issuer != e.srv.URL+"/"+tenantID+"/" || idt.Subject != objectID || c.OID != objectID || c.TID != tenantID ||
		c.AppID != appID || c.Ver != "1.0" || !slices.Equal(c.Roles, []string{"Secrets.Read"}) {
		t.Errorf("claims: iss=%s sub=%s %+v", idt.Issuer, idt.Subject, c)
	}
	if !idt.Expiry.Equal(tok.ExpiresAt) || !idt.IssuedAt.Equal(tok.IssuedAt) || tok.ExpiresAt.Sub(tok.IssuedAt) != time.Hour {
		t.Errorf("times: token %v..%v, verified %v..%v", tok.IssuedAt, tok.ExpiresAt, idt.IssuedAt, idt.Expiry)
	}
	// Still valid one second before expiry.
	at := tok.ExpiresAt.Add(-time.Second)
	if _, err := p.Verifier(&oidc.Config{ClientID: vaultAud, Now: func() time.Time { return at }}).Verify(ctx, tok.Raw); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
}

func TestOIDCRejects(t *testing.T) {
	e := newEnv(t, opts{tls: true})
	ctx, p := provider(t, e)
	tok := e.mint(t, vaultAud)
	verifier := p.Verifier(&oidc.Config{ClientID: vaultAud, Now: e.clock.Now})
	parts := strings.Split(tok.Raw, ".")
	hdr := header(t, tok.Raw)
	kid := hdr["kid"].(string)

	foreign := rsaKey(t, 9) // never handed to the service
	pub := &rsaKey(t, 0).PublicKey
	pkix, _ := x509.MarshalPKIXPublicKey(pub)
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)

	cases := []struct {
		name, raw string
		cfg       *oidc.Config
	}{
		{name: "another audience", raw: tok.Raw, cfg: &oidc.Config{ClientID: "https://graph.microsoft.com", Now: e.clock.Now}},
		{name: "expired", raw: tok.Raw, cfg: &oidc.Config{ClientID: vaultAud, Now: func() time.Time { return tok.ExpiresAt.Add(time.Second) }}},
		{name: "key not in JWKS", raw: rs256(t, foreign, map[string]any{"typ": "JWT", "alg": "RS256", "kid": "not-published", "x5t": "not-published"}, parts[1])},
		{name: "key not in JWKS under a published kid", raw: rs256(t, foreign, hdr, parts[1])},
		{name: "alg none", raw: enc(t, map[string]any{"typ": "JWT", "alg": "none"}) + "." + parts[1] + "."},
		{name: "alg none with kid", raw: enc(t, map[string]any{"typ": "JWT", "alg": "none", "kid": kid}) + "." + parts[1] + "."},
		{name: "HS256 keyed with the PEM public key", raw: hs256(t, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}), kid, parts[1])},
		{name: "HS256 keyed with the PKCS1 PEM public key", raw: hs256(t, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}), kid, parts[1])},
		{name: "HS256 keyed with the DER public key", raw: hs256(t, pkix, kid, parts[1])},
		{name: "HS256 keyed with the PKCS1 DER public key", raw: hs256(t, pkcs1, kid, parts[1])},
		{name: "tampered claims", raw: parts[0] + "." + enc(t, map[string]any{"aud": vaultAud, "iss": e.svc.Issuer(tenantID), "exp": tok.ExpiresAt.Unix(), "roles": []string{"Admin"}}) + "." + parts[2]},
	}
	// The HMAC confusion must fail on the key, not only on the algorithm allow-list.
	lax := &oidc.Config{ClientID: vaultAud, Now: e.clock.Now, SupportedSigningAlgs: []string{"RS256", "HS256"}}
	for _, c := range cases[6:10] {
		cases = append(cases, struct {
			name, raw string
			cfg       *oidc.Config
		}{c.name + " (verifier allowing HS256)", c.raw, lax})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := verifier
			if c.cfg != nil {
				v = p.Verifier(c.cfg)
			}
			_, err := v.Verify(ctx, c.raw)
			t.Log(err)
			if err == nil {
				t.Fatal("go-oidc accepted it")
			}
			if c.name == "expired" {
				var te *oidc.TokenExpiredError
				if !errors.As(err, &te) {
					t.Errorf("want TokenExpiredError, got %v", err)
				}
			}
		})
	}
}

func TestOIDCES256(t *testing.T) {
	e := newEnv(t, opts{tls: true, cfg: token.Config{Alg: token.ES256}})
	ctx, p := provider(t, e)
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Algs, []string{"ES256"}) {
		t.Fatalf("discovery algs %v", doc.Algs)
	}
	tok := e.mint(t, vaultAud)
	if h := header(t, tok.Raw); h["alg"] != "ES256" {
		t.Fatalf("header %v", h)
	}
	if sig, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Raw, ".")[2]); len(sig) != 64 {
		t.Fatalf("ES256 signature is %d bytes, want r||s of 64", len(sig))
	}
	if _, err := p.Verifier(&oidc.Config{ClientID: vaultAud, Now: e.clock.Now}).Verify(ctx, tok.Raw); err != nil {
		t.Fatalf("go-oidc rejects an ES256 token: %v", err)
	}
	// A verifier that accepts RS256 only refuses it.
	if _, err := p.Verifier(&oidc.Config{ClientID: vaultAud, Now: e.clock.Now, SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, tok.Raw); err == nil {
		t.Fatal("an RS256-only verifier accepted an ES256 token")
	}
}

func enc(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func rs256(t *testing.T, k *rsa.PrivateKey, hdr map[string]any, claims string) string {
	in := enc(t, hdr) + "." + claims
	h := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hs256(t *testing.T, key []byte, kid, claims string) string {
	in := enc(t, map[string]any{"typ": "JWT", "alg": "HS256", "kid": kid}) + "." + claims
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
