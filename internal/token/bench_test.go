package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/token"
)

// benchEnv is a service as in production (crypto/rand, the real clock) on a real store.
func benchEnv(b *testing.B, alg string) (*env, token.MintRequest) {
	e := newEnv(b, opts{cfg: token.Config{Alg: alg}})
	e.svc.Rand = nil
	e.svc.Now = nil
	if err := e.svc.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e, token.MintRequest{
		TenantID: tenantID, Audience: vaultAud, AppID: appID, ObjectID: objectID,
		Roles:   []string{"Secrets.Read"},
		MIResID: "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app",
	}
}

// signingInput is a typical token's header.claims, the baseline benchmarks' message.
func signingInput(b *testing.B, alg string) string {
	e, req := benchEnv(b, alg)
	tok, err := e.svc.Mint(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	return tok.Raw[:strings.LastIndexByte(tok.Raw, '.')]
}

// BenchmarkRawRS256Sign is the baseline for BenchmarkMint: hash and sign a token's signing input
// with crypto/rsa, nothing else.
func BenchmarkRawRS256Sign(b *testing.B) {
	in := []byte(signingInput(b, token.RS256))
	k := rsaKey(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(in)
		if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMint(b *testing.B) { benchMint(b, token.RS256) }

// BenchmarkRawES256Sign is the baseline for BenchmarkMintES256.
func BenchmarkRawES256Sign(b *testing.B) {
	in := []byte(signingInput(b, token.ES256))
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(in)
		if _, _, err := ecdsa.Sign(rand.Reader, k, h[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintES256(b *testing.B) { benchMint(b, token.ES256) }

func benchMint(b *testing.B, alg string) {
	e, req := benchEnv(b, alg)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.Mint(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
