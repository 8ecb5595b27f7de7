package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// keyAD is the associated data a signing key's private key is sealed with.
func keyAD(kid string) seal.AD {
	return seal.AD{Table: "signing_keys", ID: kid, Purpose: "private-key"}
}

// Thumbprint returns the kid and x5t of a certificate: base64url of its DER's SHA-1.
func Thumbprint(certDER []byte) string {
	sum := sha1.Sum(certDER)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// certSubject names every signing key certificate.
const certSubject = "Lanyard token signing key"

// keyMaterial is a loaded key: parsed, with everything the hot path and the documents need
// computed once.
type keyMaterial struct {
	kid    string
	alg    string
	rsa    *rsa.PrivateKey   // RS256
	ec     *ecdsa.PrivateKey // ES256
	cert   []byte            // DER, as stored
	header []byte            // base64url of the protected header, then "."
	jwk    jwk               // without issuer
}

// jwk is one entry of a JWKS document, in the order Entra writes its fields.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

// generate makes a private key for alg.
func (s *Service) generate(alg string) (crypto.Signer, error) {
	if s.generateKey != nil {
		return s.generateKey(alg)
	}
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown signing algorithm %q", alg)
}

// newKey creates a key for alg: private key, self-signed certificate, sealed PKCS #8. The caller
// sets the record's ActivateAt, RetireAt and DropAt.
func (s *Service) newKey(alg string, now time.Time) (KeyRecord, error) {
	if s.KEK == nil {
		return KeyRecord{}, errs.E(errs.Internal, "token service has no key-encryption key")
	}
	priv, err := s.generate(alg)
	if err != nil {
		return KeyRecord{}, errs.Wrap(errs.Internal, err, "generate signing key")
	}
	serial, err := randomSerial(s.rand())
	if err != nil {
		return KeyRecord{}, errs.Wrap(errs.Internal, err, "generate certificate serial")
	}
	cfg := s.cfg()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: certSubject},
		NotBefore:             now,
		NotAfter:              now.Add(cfg.PrePublish + cfg.RotationPeriod + cfg.TokenLifetime + 365*24*time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(s.rand(), tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return KeyRecord{}, errs.Wrap(errs.Internal, err, "self-sign signing key certificate")
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return KeyRecord{}, errs.Wrap(errs.Internal, err, "encode signing key")
	}
	kid := Thumbprint(der)
	sealed, err := s.KEK.Seal(s.rand(), pkcs8, keyAD(kid))
	clear(pkcs8)
	if err != nil {
		return KeyRecord{}, errs.Wrap(errs.Internal, err, "seal signing key")
	}
	return KeyRecord{
		ID: kid, Alg: alg, CertDER: der, SealedKey: sealed, KEKID: s.KEK.ID(),
		CreatedAt: now, ActivateAt: now,
	}, nil
}

func randomSerial(r io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // positive, 16 bytes long
	return new(big.Int).SetBytes(b[:]), nil
}

// load opens and parses a stored key and checks that it is what its record says.
func (s *Service) load(rec KeyRecord) (*keyMaterial, error) {
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: certificate: %w", rec.ID, err)
	}
	if Thumbprint(rec.CertDER) != rec.ID {
		return nil, fmt.Errorf("signing key %s: id is not the certificate's thumbprint", rec.ID)
	}
	if s.KEK == nil {
		return nil, fmt.Errorf("signing key %s: token service has no key-encryption key", rec.ID)
	}
	pkcs8, err := s.KEK.Open(rec.SealedKey, keyAD(rec.ID))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: open: %w", rec.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse: %w", rec.ID, err)
	}
	m := &keyMaterial{kid: rec.ID, alg: rec.Alg, cert: rec.CertDER}
	m.jwk = jwk{Kty: "RSA", Use: "sig", Kid: rec.ID, X5t: rec.ID, X5c: []string{base64.StdEncoding.EncodeToString(rec.CertDER)}}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if rec.Alg != RS256 || k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("signing key %s: an RSA-%d key cannot be %s", rec.ID, k.N.BitLen(), rec.Alg)
		}
		if !k.PublicKey.Equal(cert.PublicKey) {
			return nil, fmt.Errorf("signing key %s: private key does not match its certificate", rec.ID)
		}
		m.rsa = k
		m.jwk.N = base64.RawURLEncoding.EncodeToString(k.N.Bytes())
		m.jwk.E = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PrivateKey:
		if rec.Alg != ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s: an ECDSA %s key cannot be %s", rec.ID, k.Curve.Params().Name, rec.Alg)
		}
		if !k.PublicKey.Equal(cert.PublicKey) {
			return nil, fmt.Errorf("signing key %s: private key does not match its certificate", rec.ID)
		}
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		m.ec = k
		m.jwk.Kty, m.jwk.Crv = "EC", "P-256"
		m.jwk.X = base64.RawURLEncoding.EncodeToString(pub[1:33])
		m.jwk.Y = base64.RawURLEncoding.EncodeToString(pub[33:])
	default:
		return nil, fmt.Errorf("signing key %s: unsupported key type %T", rec.ID, priv)
	}
	hdr, err := json.Marshal(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
		Kid string `json:"kid"`
	}{"JWT", rec.Alg, rec.ID, rec.ID})
	if err != nil {
		return nil, err
	}
	m.header = append(base64.RawURLEncoding.AppendEncode(nil, hdr), '.')
	return m, nil
}

// sameAs reports whether m was loaded from rec, so a reload can keep it.
func (m *keyMaterial) sameAs(rec KeyRecord) bool {
	return m.kid == rec.ID && m.alg == rec.Alg && bytes.Equal(m.cert, rec.CertDER)
}

// sigLen is the length of a signature made by m.
func (m *keyMaterial) sigLen() int {
	if m.rsa != nil {
		return m.rsa.Size()
	}
	return 64
}

// sign signs a JWS signing input. ES256 signatures are r || s, 32 bytes each (RFC 7518 §3.4).
func (m *keyMaterial) sign(rnd io.Reader, input []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	if m.rsa != nil {
		return rsa.SignPKCS1v15(nil, m.rsa, crypto.SHA256, h[:])
	}
	r, s, err := ecdsa.Sign(rnd, m.ec, h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}
