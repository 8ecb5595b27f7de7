package token_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden compares got with testdata/name.golden, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// indent pretty-prints JSON, keeping its field order.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestGoldenDocuments pins what clients see: both discovery documents and both key sets of a
// fresh installation, with the committed test key, a fixed clock and fixed randomness.
func TestGoldenDocuments(t *testing.T) {
	e := newEnv(t, opts{})
	for _, c := range []struct{ name, path string }{
		{"discovery-v1", "/" + tenantID + "/.well-known/openid-configuration"},
		{"discovery-v2", "/" + tenantID + "/v2.0/.well-known/openid-configuration"},
		{"jwks-v1", "/" + tenantID + "/discovery/keys"},
		{"jwks-v2", "/" + tenantID + "/discovery/v2.0/keys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := e.get(t, c.path)
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json; charset=utf-8" || cc != "public, max-age=300" {
				t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
			}
			golden(t, c.name, indent(t, w.Body.Bytes()))
		})
	}
}

// TestGoldenToken pins a minted token's header and claims.
func TestGoldenToken(t *testing.T) {
	e := newEnv(t, opts{})
	e.svc.Rand = newRand(2) // uti does not depend on how much randomness sealing took
	tok := e.mint(t, vaultAud)
	parts := strings.Split(tok.Raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok.Raw)
	}
	var out bytes.Buffer
	for i, name := range []string{"header", "claims"} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(name + ":\n")
		out.Write(indent(t, b))
	}
	golden(t, "token", out.Bytes())

	// RS256 signatures are deterministic: the whole token is fixed too, and it verifies.
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&rsaKey(t, 0).PublicKey, crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if header(t, tok.Raw)["kid"] != tok.KeyID {
		t.Errorf("Token.KeyID %q is not the header's kid", tok.KeyID)
	}
}
