package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/token"
)

// mintedForBench mints one typical token with a production-like service and returns it with the
// service and the public key that verifies it.
func mintedForBench(b *testing.B, alg string) (*token.Service, string, crypto.PublicKey) {
	e, req := benchEnv(b, alg)
	tok, err := e.svc.Mint(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	pub, _, ok := e.svc.VerificationKey(tok.KeyID)
	if !ok {
		b.Fatal("the signing key is not published")
	}
	return e.svc, tok.Raw, pub
}

// BenchmarkRawRS256Verify is the baseline for BenchmarkVerifyToken: hash a token's signing input
// and check its signature with crypto/rsa, nothing else.
func BenchmarkRawRS256Verify(b *testing.B) {
	_, raw, pub := mintedForBench(b, token.RS256)
	dot := strings.LastIndexByte(raw, '.')
	in, sig := []byte(raw[:dot]), mustDecode(b, raw[dot+1:])
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(in)
		if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) { benchVerify(b, token.RS256) }

// BenchmarkRawES256Verify is the baseline for BenchmarkVerifyTokenES256.
func BenchmarkRawES256Verify(b *testing.B) {
	_, raw, pub := mintedForBench(b, token.ES256)
	dot := strings.LastIndexByte(raw, '.')
	in, sig := []byte(raw[:dot]), mustDecode(b, raw[dot+1:])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(in)
		if !ecdsa.Verify(pub.(*ecdsa.PublicKey), h[:], r, s) {
			b.Fatal("signature does not verify")
		}
	}
}

func BenchmarkVerifyTokenES256(b *testing.B) { benchVerify(b, token.ES256) }

func benchVerify(b *testing.B, alg string) {
	svc, raw, _ := mintedForBench(b, alg)
	b.Run("first-sight", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			token.ForgetVerified(svc)
			if _, err := svc.VerifyToken(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seen-before", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.VerifyToken(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
