package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// CAKeyAD is the associated data the CA's private key is sealed with.
var CAKeyAD = seal.AD{Table: "ca", ID: "root", Purpose: "private-key"}

const (
	// CACommonName is the subject common name of every Lanyard root.
	CACommonName = "Lanyard Root CA"
	// CALifetime is how long a new root is valid.
	CALifetime = 10 * 365 * 24 * time.Hour
	// backdate is how far before "now" certificates start, to absorb clock skew between hosts.
	backdate = 5 * time.Minute
)

// CA is the installation's certificate authority.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	now     func() time.Time
	rand    io.Reader
}

// SandboxCAKeyAD is the associated data the sandbox CA's private key is sealed with.
var SandboxCAKeyAD = seal.AD{Table: "sandbox_ca", ID: "sandbox", Purpose: "private-key"}

// SandboxCACommonName is the subject common name of every sandbox CA.
const SandboxCACommonName = "Lanyard sandbox CA (Azure names, trusted in sandboxes only)"

// SandboxStore is what the sandbox CA needs from storage (as Store is the root's).
type SandboxStore interface {
	// GetSandboxCA returns errs.NotFound when no sandbox CA exists yet.
	GetSandboxCA(ctx context.Context) (CARecord, error)
	// CreateSandboxCA inserts the sandbox CA; errs.Conflict if one exists.
	CreateSandboxCA(ctx context.Context, ca CARecord) error
}

// root says which of the installation's two roots is loaded or made.
type root struct {
	what      string
	get       func(context.Context) (CARecord, error)
	create    func(context.Context, CARecord) error
	ad        seal.AD
	cn        string
	org       []string
	usage     x509.KeyUsage
	permitted []string // a critical DNS name constraint; none for Lanyard's root
}

// LoadOrCreateCA returns the installation's CA: the one in st, whose private key it opens with
// kek, or, when there is none yet, a new one (ECDSA P-256, self-signed, valid for CALifetime)
// that it stores sealed under kek. When another server stores its CA first, that one is read
// back and returned. now and rand are kept for the certificates the CA issues later; nil means
// time.Now and crypto/rand.
func LoadOrCreateCA(ctx context.Context, st Store, kek *seal.KEK, now func() time.Time, rand io.Reader) (*CA, error) {
	return loadOrCreate(ctx, root{what: "CA", get: st.GetCA, create: st.CreateCA, ad: CAKeyAD, cn: CACommonName,
		org: []string{"Lanyard"}, usage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}, kek, now, rand)
}

// LoadOrCreateSandboxCA returns the installation's sandbox CA, loaded or made as LoadOrCreateCA
// does the root: a second root, whose certificates are valid for names alone (a critical DNS
// name constraint; a name also permits its sub-domains), so that even a trust store that holds
// it trusts it for nothing else. Sandboxes' trust stores hold it; hosts' do not (issue 12).
func LoadOrCreateSandboxCA(ctx context.Context, st SandboxStore, kek *seal.KEK, names []string, now func() time.Time, rand io.Reader) (*CA, error) {
	if len(names) == 0 {
		return nil, errs.E(errs.Invalid, "a sandbox CA needs the names it may certify")
	}
	return loadOrCreate(ctx, root{what: "sandbox CA", get: st.GetSandboxCA, create: st.CreateSandboxCA, ad: SandboxCAKeyAD,
		cn: SandboxCACommonName, usage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, permitted: names}, kek, now, rand)
}

func loadOrCreate(ctx context.Context, rt root, kek *seal.KEK, now func() time.Time, rand io.Reader) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	rec, err := rt.get(ctx)
	if err == nil {
		return openCA(rec, rt, kek, now, rand)
	}
	if !errs.Is(err, errs.NotFound) {
		return nil, fmt.Errorf("reading the %s: %w", rt.what, err)
	}
	ca, rec, err := newCA(rt, kek, now, rand)
	if err != nil {
		return nil, err
	}
	err = rt.create(ctx, rec)
	if errs.Is(err, errs.Conflict) {
		// Another server created the CA between our read and our write: use theirs.
		if rec, err = rt.get(ctx); err != nil {
			return nil, fmt.Errorf("reading the %s another server created: %w", rt.what, err)
		}
		return openCA(rec, rt, kek, now, rand)
	}
	if err != nil {
		return nil, fmt.Errorf("storing the new %s: %w", rt.what, err)
	}
	return ca, nil
}

func newCA(rt root, kek *seal.KEK, now func() time.Time, rand io.Reader) (*CA, CARecord, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, CARecord{}, errs.Wrap(errs.Internal, err, "generating the "+rt.what+" key")
	}
	serial, err := newSerial(rand)
	if err != nil {
		return nil, CARecord{}, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{CommonName: rt.cn, Organization: rt.org},
		NotBefore:                   t.Add(-backdate),
		NotAfter:                    t.Add(CALifetime),
		IsCA:                        true,
		BasicConstraintsValid:       true,
		MaxPathLenZero:              true,
		KeyUsage:                    rt.usage,
		PermittedDNSDomainsCritical: len(rt.permitted) > 0,
		PermittedDNSDomains:         rt.permitted,
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, CARecord{}, errs.Wrap(errs.Internal, err, "creating the "+rt.what+" certificate")
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, CARecord{}, errs.Wrap(errs.Internal, err, "encoding the "+rt.what+" key")
	}
	defer clear(pkcs8)
	sealed, err := kek.Seal(rand, pkcs8, rt.ad)
	if err != nil {
		return nil, CARecord{}, fmt.Errorf("sealing the %s key: %w", rt.what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, CARecord{}, errs.Wrap(errs.Internal, err, "parsing the new "+rt.what+" certificate")
	}
	rec := CARecord{CertDER: der, SealedKey: sealed, KEKID: kek.ID(), Created: t}
	return assemble(cert, key, now, rand), rec, nil
}

func openCA(rec CARecord, rt root, kek *seal.KEK, now func() time.Time, rand io.Reader) (*CA, error) {
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "the stored "+rt.what+" certificate does not parse")
	}
	pkcs8, err := kek.Open(rec.SealedKey, rt.ad)
	if errors.Is(err, seal.ErrWrongKEK) {
		id, _ := seal.BlobKEKID(rec.SealedKey)
		return nil, &errs.Error{Kind: errs.Internal, Err: err, Msg: fmt.Sprintf(
			"the %s key is sealed under key-encryption key %s but this server has key %s: use the key this installation was created with", rt.what, id, kek.ID())}
	}
	if err != nil {
		return nil, fmt.Errorf("opening the %s key: %w", rt.what, err)
	}
	defer clear(pkcs8)
	parsed, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "the stored "+rt.what+" key does not parse")
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errs.E(errs.Internal, "the stored %s key is a %T, want ECDSA", rt.what, parsed)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errs.E(errs.Internal, "the stored %s key does not match the stored %s certificate", rt.what, rt.what)
	}
	return assemble(cert, key, now, rand), nil
}

func assemble(cert *x509.Certificate, key *ecdsa.PrivateKey, now func() time.Time, rand io.Reader) *CA {
	return &CA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		key:     key,
		now:     now,
		rand:    rand,
	}
}

// Certificate returns the root certificate. The caller must not modify it.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM returns the root certificate, PEM-encoded (what `lanyard ca export` prints and what
// workloads get in SSL_CERT_FILE).
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.certPEM...) }

// Pool returns a new pool holding only the root.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// newSerial returns a random positive 128-bit serial number.
func newSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "generating a serial number")
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // never zero, never negative, always 16 bytes
	return new(big.Int).SetBytes(b), nil
}

// validity returns the NotBefore and NotAfter of a certificate issued now for lifetime, never
// outliving the CA.
func (c *CA) validity(lifetime time.Duration) (time.Time, time.Time, error) {
	if lifetime <= 0 {
		return time.Time{}, time.Time{}, errs.E(errs.Invalid, "a certificate lifetime must be positive, got %s", lifetime)
	}
	t := c.now()
	notAfter := t.Add(lifetime)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	if !notAfter.After(t) {
		return time.Time{}, time.Time{}, errs.E(errs.Internal, "the CA expired at %s", c.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return t.Add(-backdate), notAfter, nil
}
