package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// loopbackNames are on every serving certificate, so that the server is reachable on the host
// under the names a user types.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// StripPort returns hostport without a trailing ":port", if it has one; bare IPv6 addresses and
// bracketed ones are handled.
func StripPort(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// IssueServing issues a serving certificate (a fresh ECDSA P-256 key) for hosts (names, or IP
// addresses, each with or without a port), the loopback names, vaultDomain and
// *.vaultDomain (any port on vaultDomain is dropped), valid for lifetime (but never beyond the
// CA). The returned chain holds the leaf and the root.
func (c *CA) IssueServing(hosts []string, vaultDomain string, lifetime time.Duration) (*tls.Certificate, error) {
	var dns []string
	var ips []net.IP
	add := func(h string) {
		h = strings.TrimSuffix(strings.ToLower(StripPort(strings.TrimSpace(h))), ".")
		if h == "" {
			return
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			ip = ip.Unmap().WithZone("")
			if !slices.ContainsFunc(ips, func(x net.IP) bool { return x.Equal(ip.AsSlice()) }) {
				ips = append(ips, ip.AsSlice())
			}
			return
		}
		if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	for _, h := range hosts {
		add(h)
	}
	for _, h := range loopbackNames {
		add(h)
	}
	if vd := strings.TrimSuffix(strings.ToLower(StripPort(strings.TrimSpace(vaultDomain))), "."); vd != "" {
		if _, err := netip.ParseAddr(vd); err == nil {
			return nil, errs.E(errs.Invalid, "the vault domain must be a DNS name, not the IP address %s", vd)
		}
		add(vd)
		add("*." + vd)
	}
	return c.issue(dns, ips, lifetime)
}

// IssueNames issues a serving certificate for exactly the DNS names given (no loopback name, no
// vault domain): the sandbox CA's, whose name constraint permits Azure's names alone.
func (c *CA) IssueNames(names []string, lifetime time.Duration) (*tls.Certificate, error) {
	if len(names) == 0 {
		return nil, errs.E(errs.Invalid, "a certificate needs at least one name")
	}
	return c.issue(names, nil, lifetime)
}

func (c *CA) issue(dns []string, ips []net.IP, lifetime time.Duration) (*tls.Certificate, error) {
	notBefore, notAfter, err := c.validity(lifetime)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.rand)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "generating a serving key")
	}
	serial, err := newSerial(c.rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: dns[0], Organization: []string{"Lanyard"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "signing a serving certificate")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "parsing a new serving certificate")
	}
	return &tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// SignClientCSR signs a client certificate (ExtKeyUsage ClientAuth) for the public key of the
// PKCS#10 request csrDER, after checking the request's signature. The subject is commonName
// alone: whatever names the request asks for are ignored. It returns the certificate's DER.
func (c *CA) SignClientCSR(csrDER []byte, commonName string, lifetime time.Duration) ([]byte, error) {
	if commonName == "" {
		return nil, errs.E(errs.Invalid, "a client certificate needs a common name")
	}
	csr, usage, err := checkCSR(csrDER)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := c.validity(lifetime)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial(c.rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "signing a client certificate")
	}
	return der, nil
}

// checkCSR parses a PKCS#10 request, checks its signature and its key, and returns the key
// usage a certificate for that key gets.
func checkCSR(csrDER []byte) (*x509.CertificateRequest, x509.KeyUsage, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, 0, errs.Wrap(errs.Invalid, err, "the certificate request does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, 0, errs.Wrap(errs.Invalid, err, "the certificate request's signature does not verify")
	}
	usage := x509.KeyUsageDigitalSignature
	switch pub := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
			return nil, 0, errs.E(errs.Invalid, "the certificate request's ECDSA key must be on P-256 or P-384")
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, 0, errs.E(errs.Invalid, "the certificate request's RSA key must have at least 2048 bits, got %d", pub.N.BitLen())
		}
		usage |= x509.KeyUsageKeyEncipherment
	default:
		return nil, 0, errs.E(errs.Invalid, "the certificate request's key type %T is not supported", pub)
	}
	return csr, usage, nil
}

// SignServingCSR signs a serving certificate (ExtKeyUsage ServerAuth) for the public key of the
// PKCS#10 request csrDER, for dnsNames (the names the request asks for are ignored). It returns
// the certificate's DER. The agent's front door holds such a certificate for the host names of
// the sites placed on its node; its key never leaves the node.
func (c *CA) SignServingCSR(csrDER []byte, dnsNames []string, lifetime time.Duration) ([]byte, error) {
	if len(dnsNames) == 0 {
		return nil, errs.E(errs.Invalid, "a serving certificate needs at least one name")
	}
	csr, usage, err := checkCSR(csrDER)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := c.validity(lifetime)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial(c.rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: dnsNames[0], Organization: []string{"Lanyard"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "signing a serving certificate")
	}
	return der, nil
}
