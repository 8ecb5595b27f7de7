package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// The files of the state directory.
const (
	keyFile    = "node.key"      // PKCS#8 ECDSA P-256, PEM, 0600
	certFile   = "node.crt"      // the client certificate and its issuers, PEM, 0600
	nodeFile   = "node.json"     // Enrollment, 0600
	bundleFile = "ca-bundle.pem" // system roots + Lanyard's CA, for apps
	logDir     = "logs"          // one bounded log per app
)

// Enrollment is what the node learnt when it enrolled.
type Enrollment struct {
	NodeID            string    `json:"nodeId"`
	NodeName          string    `json:"nodeName"`
	MachineResourceID string    `json:"machineResourceId"`
	TenantID          string    `json:"tenantId"`
	ServerURL         string    `json:"serverUrl"`
	NotAfter          time.Time `json:"-"` // of the current client certificate
}

// nodeState is the node's enrollment and current client certificate, kept in dir.
type nodeState struct {
	dir  string
	enr  Enrollment
	cur  atomic.Pointer[tls.Certificate] // Leaf set
	now  func() time.Time
	rand io.Reader
}

// certificate returns the current client certificate (nil before enrollment).
func (s *nodeState) certificate() *tls.Certificate { return s.cur.Load() }

// errNotEnrolled says that the state directory holds no enrollment.
var errNotEnrolled = errs.E(errs.NotFound, "the state directory holds no enrollment")

// ReadEnrollment returns the enrollment kept in stateDir; an errs.NotFound error when there is
// none.
func ReadEnrollment(stateDir string) (Enrollment, error) {
	var e Enrollment
	raw, err := os.ReadFile(filepath.Join(stateDir, nodeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return e, errNotEnrolled
	}
	if err != nil {
		return e, errs.Wrap(errs.Internal, err, "reading the node's enrollment")
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, errs.Wrap(errs.Internal, err, fmt.Sprintf("%s does not parse: enroll the node again with a new join token", filepath.Join(stateDir, nodeFile)))
	}
	return e, nil
}

// ForgetEnrollment removes the enrollment, key and certificate from stateDir, so that the next
// start enrolls again (with a join token).
func ForgetEnrollment(stateDir string) error {
	for _, f := range []string{nodeFile, certFile, certFile + ".new", keyFile} {
		if err := os.Remove(filepath.Join(stateDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return errs.Wrap(errs.Internal, err, "removing the node's enrollment")
		}
	}
	return nil
}

// loadState reads the enrollment in dir. It finishes a renewal that was interrupted between
// writing the new key and the new certificate. An expired certificate is returned with the
// state; the caller decides.
func loadState(dir string, now func() time.Time, rand io.Reader) (*nodeState, error) {
	enr, err := ReadEnrollment(dir)
	if err != nil {
		return nil, err
	}
	s := &nodeState{dir: dir, now: now, rand: rand, enr: enr}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "reading the node's key")
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "reading the node's certificate")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// A renewal wrote the key but not the certificate: the new certificate is beside it.
		if pending, perr := os.ReadFile(filepath.Join(dir, certFile+".new")); perr == nil {
			if c, cerr := tls.X509KeyPair(pending, keyPEM); cerr == nil {
				if err := os.Rename(filepath.Join(dir, certFile+".new"), filepath.Join(dir, certFile)); err != nil {
					return nil, errs.Wrap(errs.Internal, err, "finishing an interrupted renewal")
				}
				cert, err = c, nil
			}
		}
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, fmt.Sprintf("the node's key and certificate in %s do not match: enroll the node again with a new join token", dir))
	}
	s.cur.Store(&cert)
	s.enr.NotAfter = cert.Leaf.NotAfter
	return s, nil
}

// Enroll makes sure stateDir holds an enrollment with serverURL: when it already holds one whose
// certificate is still valid, that one is returned and the join token is not read; otherwise a
// new key is made, its CSR is sent with the join token read from joinTokenFile, and the key and
// certificate are stored (0600, in a 0700 directory). The node's name is the host name.
func Enroll(ctx context.Context, serverURL, caFile, joinTokenFile, stateDir string) (Enrollment, error) {
	cfg := Config{ServerURL: serverURL, CAFile: caFile, JoinTokenFile: joinTokenFile, StateDir: stateDir}.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Enrollment{}, err
	}
	roots, _, err := readCA(cfg.CAFile)
	if err != nil {
		return Enrollment{}, err
	}
	s, err := openState(ctx, cfg, roots, slog.Default())
	if err != nil {
		return Enrollment{}, err
	}
	return s.enrollment(), nil
}

func (s *nodeState) enrollment() Enrollment {
	e := s.enr
	e.NotAfter = s.certificate().Leaf.NotAfter
	return e
}

// openState loads the enrollment in cfg.StateDir, or enrolls with cfg.JoinTokenFile when there
// is none or its certificate expired.
func openState(ctx context.Context, cfg Config, roots *x509.CertPool, log *slog.Logger) (*nodeState, error) {
	now, rand := cfg.Now, cfg.Rand
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "creating the state directory")
	}
	if err := os.Chmod(cfg.StateDir, 0o700); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "restricting the state directory to its owner")
	}
	s, err := loadState(cfg.StateDir, now, rand)
	switch {
	case err == nil && now().Before(s.certificate().Leaf.NotAfter):
		if s.enr.ServerURL != cfg.ServerURL {
			log.Warn("the state directory was enrolled with another server URL; using it with the configured one",
				slog.String("enrolled", s.enr.ServerURL), slog.String("configured", cfg.ServerURL))
		}
		return s, nil
	case err == nil && cfg.JoinTokenFile == "":
		return nil, errs.E(errs.Unauthenticated,
			"the node certificate in %s expired at %s: enroll again with a new join token (`lanyard node join-token create --name %s`, then --join-token-file)",
			cfg.StateDir, s.certificate().Leaf.NotAfter.UTC().Format(time.RFC3339), s.enr.NodeName)
	case err == nil:
		expired := s.certificate().Leaf.NotAfter
		log.Warn("the node certificate expired; enrolling again with the join token file", slog.Time("expired", expired))
		s, err = enroll(ctx, cfg, roots)
		if err != nil {
			return nil, fmt.Errorf("the node certificate in %s expired at %s and enrolling again failed (a join token works once: create a new one): %w",
				cfg.StateDir, expired.UTC().Format(time.RFC3339), err)
		}
		return s, nil
	case errors.Is(err, errNotEnrolled) && cfg.JoinTokenFile == "":
		return nil, errs.E(errs.Unauthenticated, "the node is not enrolled (%s holds no enrollment): start the agent with --join-token-file (`lanyard node join-token create`)", cfg.StateDir)
	case errors.Is(err, errNotEnrolled):
		return enroll(ctx, cfg, roots)
	}
	return nil, err
}

// enroll makes the node's key, sends its CSR with the join token and stores the result.
func enroll(ctx context.Context, cfg Config, roots *x509.CertPool) (*nodeState, error) {
	name := cfg.NodeName
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "reading the host name (set node_name)")
		}
		name = h
	}
	raw, err := os.ReadFile(cfg.JoinTokenFile)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "reading the join token file "+cfg.JoinTokenFile)
	}
	joinToken := agentapi.Secret(strings.TrimSpace(string(raw)))
	clear(raw)
	if joinToken == "" {
		return nil, errs.E(errs.Invalid, "the join token file %s is empty", cfg.JoinTokenFile)
	}
	key, csr, err := newKeyAndCSR(cfg.Rand, name)
	if err != nil {
		return nil, err
	}
	up := newUpstream(cfg.servers(), roots, func() *tls.Certificate { return nil })
	resp, err := up.enroll(ctx, agentapi.EnrollRequest{JoinToken: joinToken, CSR: csr, NodeName: name})
	var ue *upstreamError
	switch {
	case errors.As(err, &ue) && (ue.Status == 401 || ue.Status == 403):
		return nil, &errs.Error{Kind: errs.Unauthenticated, Err: err, Msg: fmt.Sprintf(
			"the control plane refused the join token (%s): a join token works once and expires; create a new one with `lanyard node join-token create --name %s`", ue.Message, name)}
	case err != nil:
		return nil, &errs.Error{Kind: errs.Unavailable, Err: err, Msg: "enrolling with " + cfg.ServerURL + " failed: " + err.Error()}
	}
	if resp.NodeName != "" {
		name = resp.NodeName
	}
	s := &nodeState{dir: cfg.StateDir, now: cfg.Now, rand: cfg.Rand, enr: Enrollment{
		NodeID: resp.NodeID, NodeName: name, MachineResourceID: resp.MachineResourceID, TenantID: resp.TenantID, ServerURL: cfg.ServerURL,
	}}
	cert, err := s.accept(key, resp.Certificate, roots)
	if err != nil {
		return nil, err
	}
	if err := s.store(key, resp.Certificate); err != nil {
		return nil, err
	}
	enr, _ := json.MarshalIndent(s.enr, "", "  ")
	if err := writeFileAtomic(filepath.Join(s.dir, nodeFile), enr, 0o600); err != nil {
		return nil, err
	}
	s.cur.Store(cert)
	return s, nil
}

// newKeyAndCSR makes an ECDSA P-256 key and a CSR for it with common name cn.
func newKeyAndCSR(rand io.Reader, cn string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "generating the node key")
	}
	csr, err := x509.CreateCertificateRequest(rand, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "making the certificate request")
	}
	return key, csr, nil
}

// accept checks a certificate chain the server issued for key: it parses, it is for key, it is
// a client certificate, it chains to roots and it is valid now.
func (s *nodeState) accept(key *ecdsa.PrivateKey, chainPEM string, roots *x509.CertPool) (*tls.Certificate, error) {
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair([]byte(chainPEM), keyPEM)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "the certificate the control plane issued does not match the node key")
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	_, err = cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "the certificate the control plane issued does not verify under the CA file")
	}
	return &cert, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encoding the node key")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// store writes key and certificate so that a crash at any point leaves a usable pair: the new
// certificate goes beside the old one first, then the key replaces the old key, then the
// certificate replaces the old certificate (loadState finishes the last step if needed).
func (s *nodeState) store(key *ecdsa.PrivateKey, chainPEM string) error {
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	pending := filepath.Join(s.dir, certFile+".new")
	if err := writeFileAtomic(pending, []byte(chainPEM), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, keyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.Rename(pending, filepath.Join(s.dir, certFile)); err != nil {
		return errs.Wrap(errs.Internal, err, "storing the node certificate")
	}
	return nil
}

// renew gets a certificate for a new key with the certificate the node holds, stores both and
// makes them current.
func (s *nodeState) renew(ctx context.Context, up *upstream, roots *x509.CertPool) error {
	key, csr, err := newKeyAndCSR(s.rand, s.enr.NodeName)
	if err != nil {
		return err
	}
	resp, err := up.renew(ctx, csr)
	if err != nil {
		return err
	}
	cert, err := s.accept(key, resp.Certificate, roots)
	if err != nil {
		return err
	}
	if err := s.store(key, resp.Certificate); err != nil {
		return err
	}
	s.cur.Store(cert)
	up.reconnect()
	return nil
}

// renewAt is the half-life of the current certificate.
func (s *nodeState) renewAt() time.Time {
	leaf := s.certificate().Leaf
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
}

// readCA reads the CA file: a pool for TLS and the PEM for the apps' bundle.
func readCA(path string) (*x509.CertPool, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Invalid, err, "reading the CA file "+path)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, nil, errs.E(errs.Invalid, "the CA file %s holds no PEM certificate (`lanyard ca export` prints one)", path)
	}
	return pool, bytes.TrimSpace(raw), nil
}

// writeFileAtomic writes data to path through a temporary file in the same directory, with perm.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return errs.Wrap(errs.Internal, err, "writing "+path)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return errs.Wrap(errs.Internal, err, "writing "+path)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return errs.Wrap(errs.Internal, err, "writing "+path)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errs.Wrap(errs.Internal, err, "writing "+path)
	}
	if err := f.Close(); err != nil {
		return errs.Wrap(errs.Internal, err, "writing "+path)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return errs.Wrap(errs.Internal, err, "writing "+path)
	}
	return nil
}
