package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"
)

// FuzzSignClientCSR: the certificate request an agent sends at enrollment and renewal is outside
// input. Whatever the bytes, SignClientCSR does not panic; what it signs carries the request's own
// public key (whose proof of possession it checked), the common name the server chose, client
// authentication only, and no CA power.
func FuzzSignClientCSR(f *testing.F) {
	ca, _, _ := newTestCA(f, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	good, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "node:evil"}, DNSNames: []string{"lanyard.example.com"},
	}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		out, err := ca.SignClientCSR(der, "node:1234", time.Hour)
		if err != nil {
			return
		}
		csr, cerr := x509.ParseCertificateRequest(der)
		if cerr != nil || csr.CheckSignature() != nil {
			t.Fatalf("signed a request that does not parse or whose signature does not check")
		}
		cert, err := x509.ParseCertificate(out)
		if err != nil {
			t.Fatalf("signed certificate does not parse: %v", err)
		}
		if !bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
			t.Fatal("the certificate's key is not the request's")
		}
		if cert.Subject.CommonName != "node:1234" || cert.IsCA || len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.URIs) != 0 {
			t.Fatalf("the certificate took the request's names or powers: CN %q CA %v SANs %v", cert.Subject.CommonName, cert.IsCA, cert.DNSNames)
		}
		if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
			t.Fatalf("extended key usage %v", cert.ExtKeyUsage)
		}
	})
}
