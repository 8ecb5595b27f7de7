package compat

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// tokenAlg returns the alg of a JWS's header.
func tokenAlg(t *testing.T, raw string) string {
	t.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Alg
}

// apiVerifier is an API's token validation in another language: a script that reads ISSUER,
// AUDIENCE and TOKEN and prints the verified claims as JSON, or {"error": ...}.
type apiVerifier struct {
	argv        []string
	caEnv       string // the variable through which it trusts Lanyard's CA
	badAudience string // in its refusal of a token for another audience
}

// TestAPIVerifiesTokens is an API's side: PyJWT (Debian's python3-jwt, which python3-azure
// brings) and Node's jose find the signing key through the issuer's OpenID configuration and
// JWKS and validate a Lanyard token's signature, audience, issuer and expiry; the API then reads
// the roles granted on it. A token for another audience is refused. Both signing algorithms.
func TestAPIVerifiesTokens(t *testing.T) {
	t.Run("python", func(t *testing.T) {
		script, err := filepath.Abs("testdata/python-api/verify.py")
		if err != nil {
			t.Fatal(err)
		}
		testAPIVerifiesTokens(t, apiVerifier{argv: []string{requirePython(t), script}, caEnv: "SSL_CERT_FILE", badAudience: "InvalidAudience"})
	})
	t.Run("node", func(t *testing.T) {
		node := requireNode(t, "testdata/node-api", "jose")
		script, err := filepath.Abs("testdata/node-api/verify.mjs")
		if err != nil {
			t.Fatal(err)
		}
		testAPIVerifiesTokens(t, apiVerifier{argv: []string{node, script}, caEnv: "NODE_EXTRA_CA_CERTS", badAudience: `unexpected "aud" claim value`})
	})
}

func testAPIVerifiesTokens(t *testing.T, v apiVerifier) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) { testAPIVerifiesAlg(t, v, alg) })
	}
}

func testAPIVerifiesAlg(t *testing.T, v apiVerifier, alg string) {
	n := &node{env: lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"signing-alg": alg}})}
	api, uri := n.api(t)
	caller := newApp(t, n.env, "caller", nil)
	grant(t, n.env, caller, api, "Jobs.Run")
	issuer := n.env.Server.Tokens.Issuer(n.env.Server.Default.ID)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, n.env.Server.CA.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(token string) (map[string]any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, v.argv[0], v.argv[1:]...)
		cmd.Dir = filepath.Dir(v.argv[1])
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), v.caEnv + "=" + caFile,
			"ISSUER=" + issuer, "AUDIENCE=" + uri, "TOKEN=" + token}
		out, runErr := cmd.Output()
		var claims map[string]any
		if err := json.Unmarshal(out, &claims); err != nil {
			t.Fatalf("%s: %v %v: %s", filepath.Base(v.argv[0]), runErr, err, out)
		}
		return claims, runErr
	}

	claims, err := verify(mint(t, n.env, caller.ID, uri))
	if err != nil || claims["error"] != nil {
		t.Fatalf("a good token refused: %v %v", err, claims["error"])
	}
	if claims["oid"] != caller.ID || claims["aud"] != uri || claims["iss"] != issuer || !strings.HasPrefix(tokenAlg(t, mint(t, n.env, caller.ID, uri)), alg) {
		t.Errorf("claims oid=%v aud=%v iss=%v", claims["oid"], claims["aud"], claims["iss"])
	}
	roles, _ := claims["roles"].([]any)
	if !slices.ContainsFunc(roles, func(r any) bool { return r == "Jobs.Run" }) {
		t.Errorf("roles %v, want Jobs.Run", claims["roles"])
	}

	_, other := n.api(t)
	claims, err = verify(mint(t, n.env, caller.ID, other))
	if msg, _ := claims["error"].(string); err == nil || !strings.Contains(msg, v.badAudience) {
		t.Errorf("a token for another audience: %v %v, want a refusal with %q", err, claims, v.badAudience)
	}
}
