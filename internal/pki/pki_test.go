package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// memStore is a pki.Store over a variable, as the SQL store behaves.
type memStore struct {
	mu      sync.Mutex
	rec     *CARecord
	creates int
	// beforeCreate, if set, runs at the start of CreateCA (to let "another server" win).
	beforeCreate func()
}

func (m *memStore) GetCA(ctx context.Context) (CARecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec == nil {
		return CARecord{}, errs.E(errs.NotFound, "no CA")
	}
	return *m.rec, nil
}

func (m *memStore) CreateCA(ctx context.Context, ca CARecord) error {
	if f := m.beforeCreate; f != nil {
		m.beforeCreate = nil
		f()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec != nil {
		return errs.E(errs.Conflict, "a CA exists")
	}
	m.creates++
	m.rec = &ca
	return nil
}

var _ Store = (*memStore)(nil)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func newKEK(t testing.TB) *seal.KEK {
	t.Helper()
	raw := make([]byte, seal.KeySize)
	rand.Read(raw)
	k, err := seal.ParseKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestCA(t testing.TB, now func() time.Time) (*CA, *memStore, *seal.KEK) {
	t.Helper()
	st := &memStore{}
	kek := newKEK(t)
	ca, err := LoadOrCreateCA(t.Context(), st, kek, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ca, st, kek
}

func TestCreateAndReloadCA(t *testing.T) {
	ca, st, kek := newTestCA(t, nil)
	c := ca.Certificate()
	if !c.IsCA || c.Subject.CommonName != CACommonName || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA certificate: IsCA %v, CN %q, key %v", c.IsCA, c.Subject.CommonName, c.PublicKeyAlgorithm)
	}
	if life := c.NotAfter.Sub(c.NotBefore); life < CALifetime {
		t.Errorf("CA lifetime %v, want at least %v", life, CALifetime)
	}
	if bytes.Contains(st.rec.SealedKey, []byte("PRIVATE")) || st.rec.KEKID != kek.ID() {
		t.Errorf("stored record: KEKID %q, want %q", st.rec.KEKID, kek.ID())
	}
	if !bytes.HasPrefix(ca.CertPEM(), []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("CertPEM = %q", ca.CertPEM())
	}

	again, err := LoadOrCreateCA(t.Context(), st, kek, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificate().Raw, c.Raw) || st.creates != 1 {
		t.Fatalf("second LoadOrCreateCA gave another CA (%d creates)", st.creates)
	}
	// The reloaded CA's key works: what it issues verifies under the first CA's pool.
	verifyServing(t, again, ca.Pool(), "localhost")

	_, err = LoadOrCreateCA(t.Context(), st, newKEK(t), nil, nil)
	if !errors.Is(err, seal.ErrWrongKEK) || !strings.Contains(err.Error(), kek.ID()) {
		t.Fatalf("LoadOrCreateCA with another KEK: %v, want ErrWrongKEK naming %s", err, kek.ID())
	}
}

func TestCreateCARace(t *testing.T) {
	st := &memStore{}
	kek := newKEK(t)
	var winner *CA
	st.beforeCreate = func() {
		// Another server stores its CA between our GetCA and our CreateCA.
		var err error
		winner, err = LoadOrCreateCA(t.Context(), st, kek, nil, nil)
		if err != nil {
			t.Error(err)
		}
	}
	ca, err := LoadOrCreateCA(t.Context(), st, kek, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.Certificate().Raw, winner.Certificate().Raw) {
		t.Fatal("the loser of the race did not adopt the winner's CA")
	}
}

func TestCorruptStoredCA(t *testing.T) {
	_, st, kek := newTestCA(t, nil)
	st.rec.SealedKey[len(st.rec.SealedKey)-1] ^= 1
	if _, err := LoadOrCreateCA(t.Context(), st, kek, nil, nil); !errors.Is(err, seal.ErrCorrupt) {
		t.Errorf("a tampered CA key: %v, want ErrCorrupt", err)
	}
}

func verifyServing(t *testing.T, ca *CA, pool *x509.CertPool, name string) {
	t.Helper()
	cert, err := ca.IssueServing(nil, "vault.localhost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
		t.Fatalf("serving certificate for %s: %v", name, err)
	}
}

func TestIssueServingNames(t *testing.T) {
	ca, _, _ := newTestCA(t, nil)
	cert, err := ca.IssueServing([]string{"lanyard.example.com:8443", "10.1.2.3", "[fd00::1]:443", "LOCALHOST", ""}, "Vault.Example.com:8443", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	wantDNS := []string{"lanyard.example.com", "localhost", "vault.example.com", "*.vault.example.com"}
	if strings.Join(leaf.DNSNames, ",") != strings.Join(wantDNS, ",") {
		t.Errorf("DNS names %v, want %v", leaf.DNSNames, wantDNS)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got, want := strings.Join(ips, ","), "10.1.2.3,fd00::1,127.0.0.1,::1"; got != want {
		t.Errorf("IP addresses %s, want %s", got, want)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || leaf.IsCA {
		t.Errorf("ExtKeyUsage %v, IsCA %v", leaf.ExtKeyUsage, leaf.IsCA)
	}
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], ca.Certificate().Raw) {
		t.Error("the chain does not end with the CA certificate")
	}
	for _, name := range []string{"lanyard.example.com", "myvault.vault.example.com", "vault.example.com", "10.1.2.3", "::1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	if err := leaf.VerifyHostname("a.b.vault.example.com"); err == nil {
		t.Error("the wildcard covers two labels")
	}
	if _, err := ca.IssueServing(nil, "10.0.0.1", time.Hour); !errs.Is(err, errs.Invalid) {
		t.Errorf("an IP vault domain: %v, want Invalid", err)
	}
	if _, err := ca.IssueServing(nil, "vault.localhost", 0); !errs.Is(err, errs.Invalid) {
		t.Errorf("a zero lifetime: %v, want Invalid", err)
	}
}

func TestIssueNeverOutlivesCA(t *testing.T) {
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	ca, _, _ := newTestCA(t, clk.Now)
	clk.Set(ca.Certificate().NotAfter.Add(-time.Hour))
	cert, err := ca.IssueServing(nil, "", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Errorf("leaf NotAfter %v, CA NotAfter %v", cert.Leaf.NotAfter, ca.Certificate().NotAfter)
	}
	clk.Set(ca.Certificate().NotAfter.Add(time.Second))
	if _, err := ca.IssueServing(nil, "", time.Hour); err == nil {
		t.Error("an expired CA issued a certificate")
	}
}

// serve starts an HTTPS server on loopback with cfg, answering with the client certificate's
// common name (or "-"), and returns its port.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cn := "-"
			if len(r.TLS.PeerCertificates) > 0 {
				cn = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			io.WriteString(w, r.Host+" "+cn)
		}),
		ErrorLog: log.New(io.Discard, "", 0), // failed handshakes are what some tests want
	}
	srv.SetKeepAlivesEnabled(false)
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// client returns an HTTPS client that trusts pool and connects every host name to 127.0.0.1.
func client(pool *x509.CertPool, certs ...tls.Certificate) *http.Client {
	dialer := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		DisableKeepAlives: true,
	}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func newServing(t *testing.T, ca *CA, opts ServingOptions) *ServingCerts {
	t.Helper()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s, err := NewServingCerts(ca, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTLSHandshake(t *testing.T) {
	ca, _, _ := newTestCA(t, nil)
	s := newServing(t, ca, ServingOptions{VaultDomain: "vault.localhost:8443", Lifetime: time.Hour})
	port := serve(t, s.TLSConfig())
	c := client(ca.Pool())
	for _, host := range []string{"localhost", "127.0.0.1", "myvault.vault.localhost", "vault.localhost"} {
		url := "https://" + net.JoinHostPort(host, port) + "/"
		body, err := get(c, url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			continue
		}
		if want := net.JoinHostPort(host, port) + " -"; body != want {
			t.Errorf("GET %s = %q, want %q", url, body, want)
		}
	}
	if _, err := get(c, "https://other.example:"+port+"/"); err == nil {
		t.Error("a name not on the certificate verified")
	}
	if _, err := get(client(x509.NewCertPool()), "https://localhost:"+port+"/"); err == nil {
		t.Error("a client that does not trust the CA connected")
	}

	// TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	if !strings.Contains(err.Error(), "version") {
		t.Errorf("TLS 1.1 handshake failed with %v, want a protocol version error", err)
	}
	conn, err = tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a TLS 1.2 handshake: %v", err)
	}
	conn.Close()
}

func TestClientCertificate(t *testing.T) {
	ca, _, _ := newTestCA(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "asks-to-be-admin"},
		DNSNames: []string{"localhost"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignClientCSR(csr, "node:7f3a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if leaf.Subject.CommonName != "node:7f3a" || len(leaf.DNSNames) != 0 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("client certificate: CN %q, DNS %v, EKU %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.ExtKeyUsage)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err == nil {
		t.Error("client certificate verifies for server auth")
	}

	// Presented over TLS, the server sees it.
	s := newServing(t, ca, ServingOptions{Lifetime: time.Hour})
	port := serve(t, s.TLSConfig())
	body, err := get(client(ca.Pool(), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}), "https://localhost:"+port+"/")
	if err != nil || !strings.HasSuffix(body, " node:7f3a") {
		t.Errorf("mTLS GET = %q, %v", body, err)
	}

	bad := bytes.Clone(csr)
	bad[len(bad)-3] ^= 0xff // inside the signature
	if _, err := ca.SignClientCSR(bad, "node:7f3a", time.Hour); !errs.Is(err, errs.Invalid) {
		t.Errorf("a CSR with a bad signature: %v, want Invalid", err)
	}
	if _, err := ca.SignClientCSR([]byte("junk"), "node:7f3a", time.Hour); !errs.Is(err, errs.Invalid) {
		t.Errorf("a malformed CSR: %v, want Invalid", err)
	}
	if _, err := ca.SignClientCSR(csr, "", time.Hour); !errs.Is(err, errs.Invalid) {
		t.Errorf("an empty common name: %v, want Invalid", err)
	}
}

func TestRenewal(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	ca, _, _ := newTestCA(t, clk.Now)
	tick := make(chan time.Time) // unbuffered: a send returns once Run has taken the tick
	stopped := make(chan struct{})
	s := newServing(t, ca, ServingOptions{
		Lifetime:  3 * time.Hour,
		NewTicker: func(time.Duration) (<-chan time.Time, func()) { return tick, func() { close(stopped) } },
	})
	port := serve(t, s.TLSConfig())
	c := client(ca.Pool())
	c.Transport.(*http.Transport).TLSClientConfig.Time = clk.Now
	serialSeen := func() string {
		t.Helper()
		resp, err := c.Get("https://localhost:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	first := s.Current()
	if want := start.Add(2 * time.Hour); !s.RenewAt().Equal(want) {
		t.Fatalf("RenewAt = %v, want %v", s.RenewAt(), want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	// step sends a tick and waits until Run has handled it (the second send is taken only
	// after the first tick's check returned).
	step := func() { tick <- clk.Now(); tick <- clk.Now() }

	clk.Set(start.Add(2*time.Hour - time.Second))
	step()
	if s.Current() != first {
		t.Fatal("renewed before two thirds of the lifetime")
	}
	before := serialSeen()

	clk.Set(start.Add(2 * time.Hour))
	step()
	second := s.Current()
	if second == first {
		t.Fatal("not renewed at two thirds of the lifetime")
	}
	if after := serialSeen(); after == before || after != second.Leaf.SerialNumber.String() {
		t.Errorf("the server still serves serial %s after renewal (new %s)", after, second.Leaf.SerialNumber)
	}
	if want := start.Add(4 * time.Hour); !s.RenewAt().Equal(want) {
		t.Errorf("RenewAt = %v, want %v", s.RenewAt(), want)
	}
	step()
	if s.Current() != second {
		t.Error("renewed again right after renewing")
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	<-stopped
}
