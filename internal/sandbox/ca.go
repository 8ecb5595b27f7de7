package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The sandbox CA's files in the agent's state directory (the key mode 0600).
const (
	caCertFile = "sandbox-ca.pem"
	caKeyFile  = "sandbox-ca.key"
)

// The certificates' lifetimes: the CA's is long (apps' trust stores hold it), the relay's leaf
// is made anew at each start and renewed before it ends.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 30 * 24 * time.Hour
)

// CA is the sandbox CA: a root of its own, name-constrained to Azure's names (Names), so that
// even a store that trusts it trusts it for nothing else, and the leaf certificate the relay
// presents for every one of them.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	now  func() time.Time
	rand io.Reader

	mu   sync.Mutex
	leaf *tls.Certificate
}

// LoadCA reads the sandbox CA from dir, or makes one there (the key mode 0600) when there is
// none.
func LoadCA(dir string, now func() time.Time, rnd io.Reader) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	keyPEM, kerr := os.ReadFile(filepath.Join(dir, caKeyFile))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(kerr, fs.ErrNotExist) {
		return newCA(dir, now, rnd)
	}
	if err != nil || kerr != nil {
		return nil, fmt.Errorf("the sandbox CA in %s: %w", dir, errors.Join(err, kerr))
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("the sandbox CA in %s is not PEM: delete %s and %s to make a new one", dir, caCertFile, caKeyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the sandbox CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the sandbox CA key: %w", err)
	}
	if now().After(cert.NotAfter.Add(-24 * time.Hour)) {
		return newCA(dir, now, rnd)
	}
	return &CA{cert: cert, key: key, pem: certPEM, now: now, rand: rnd}, nil
}

func newCA(dir string, now func() time.Time, rnd io.Reader) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber(rnd)
	if err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Lanyard sandbox CA (Azure names, trusted in sandboxes only)"},
		NotBefore:             t.Add(-time.Hour),
		NotAfter:              t.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// Only Azure's names: a DNS constraint "vault.azure.net" also permits its sub-domains.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         Names(),
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, caCertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, pem: certPEM, now: now, rand: rnd}, nil
}

func serialNumber(rnd io.Reader) (*big.Int, error) {
	return rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 126))
}

// CertPEM is the CA's certificate, for the sandboxes' trust stores.
func (c *CA) CertPEM() []byte { return c.pem }

// GetCertificate is a tls.Config.GetCertificate: the relay's leaf for every Azure name (renewed
// when a third of its life is left). A name that is not Azure's gets no certificate.
func (c *CA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName != "" {
		if api, _ := Match(hello.ServerName); api == NotAzure {
			return nil, fmt.Errorf("the sandbox relay serves Azure's names only, not %q", hello.ServerName)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaf != nil && c.now().Before(c.leaf.Leaf.NotAfter.Add(-leafLifetime/3)) {
		return c.leaf, nil
	}
	leaf, err := c.issue()
	if err != nil {
		return nil, err
	}
	c.leaf = leaf
	return leaf, nil
}

// issue makes the relay's leaf: every Azure name, and *.vault.azure.net.
func (c *CA) issue() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.rand)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber(c.rand)
	if err != nil {
		return nil, err
	}
	t := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "graph.microsoft.com"},
		DNSNames:     append(Names(), "*"+VaultSuffix),
		NotBefore:    t.Add(-time.Hour),
		NotAfter:     t.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
