package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestEnrollStoresKeyAndCertificate(t *testing.T) {
	s := newStub(t)
	ta := startAgent(t, s, nil)
	dir := ta.cfg.StateDir
	for _, f := range []string{keyFile, certFile, nodeFile} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, m)
		}
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("the state directory has mode %o, want 700", m)
	}
	enr := ta.Enrollment()
	if enr.NodeID != "node-id-1" || enr.TenantID != "tenant-1" || !strings.HasSuffix(enr.MachineResourceID, "/machines/node1") {
		t.Errorf("enrollment %+v", enr)
	}
	// The key is the node's: ECDSA P-256, and the certificate is for it.
	raw, _ := os.ReadFile(filepath.Join(dir, keyFile))
	block, _ := pem.Decode(raw)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("the node key is a %T, want ECDSA P-256", key)
	}
	if !ta.state.certificate().Leaf.PublicKey.(*ecdsa.PublicKey).Equal(ek.Public()) {
		t.Error("the certificate is not for the stored key")
	}
	if s.enrolls.Load() != 1 {
		t.Errorf("%d enrollments", s.enrolls.Load())
	}
	if strings.Contains(ta.logs.String(), ta.joinToken) {
		t.Error("the join token is in the log")
	}

	// A restart reuses the state: no join token is read (the file is gone), no enrollment made.
	ta.stop()
	cfg := ta.cfg
	os.Remove(cfg.JoinTokenFile)
	again := runAgent(t, cfg, ta.logs, "")
	if s.enrolls.Load() != 1 {
		t.Errorf("a restart enrolled again (%d enrollments)", s.enrolls.Load())
	}
	if again.Enrollment().NodeID != enr.NodeID {
		t.Errorf("the restarted agent is node %q", again.Enrollment().NodeID)
	}
	// And its certificate works with the server.
	if _, err := again.up.token(t.Context(), tokenReq("", "https://vault.azure.net")); err != nil {
		t.Errorf("a token with the reused certificate: %v", err)
	}

	// Enroll on the enrolled directory returns the enrollment without the join token.
	got, err := Enroll(t.Context(), cfg.ServerURL, cfg.CAFile, "/nonexistent", cfg.StateDir)
	if err != nil || got.NodeID != enr.NodeID {
		t.Errorf("Enroll on an enrolled state dir: %+v, %v", got, err)
	}
}

func TestEnrollRefusesUsedJoinToken(t *testing.T) {
	s := newStub(t)
	jtFile, _ := s.joinTokenFile(t)
	if _, err := Enroll(t.Context(), s.srv.URL, s.caFile, jtFile, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := Enroll(t.Context(), s.srv.URL, s.caFile, jtFile, dir)
	if !errs.Is(err, errs.Unauthenticated) || !strings.Contains(err.Error(), "refused the join token") ||
		!strings.Contains(err.Error(), "join-token create") {
		t.Fatalf("a reused join token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFile)); err == nil {
		t.Error("a refused enrollment left a key behind")
	}
	// Without a join token at all, the agent says how to enroll.
	_, err = New(t.Context(), Config{ServerURL: s.srv.URL, CAFile: s.caFile, StateDir: t.TempDir()})
	if !errs.Is(err, errs.Unauthenticated) || !strings.Contains(err.Error(), "--join-token-file") {
		t.Errorf("no join token, no state: %v", err)
	}
}

func TestExpiredStateSaysEnrollAgain(t *testing.T) {
	s := newStub(t)
	s.certLife = time.Hour
	jtFile, _ := s.joinTokenFile(t)
	dir := t.TempDir()
	if _, err := Enroll(t.Context(), s.srv.URL, s.caFile, jtFile, dir); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	quiet := slog.New(slog.DiscardHandler)
	_, err := New(t.Context(), Config{ServerURL: s.srv.URL, CAFile: s.caFile, StateDir: dir, Now: later, Log: quiet})
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "enroll again") {
		t.Fatalf("an expired state dir: %v", err)
	}
	// The used join token does not revive it, and the error says both things.
	_, err = New(t.Context(), Config{ServerURL: s.srv.URL, CAFile: s.caFile, StateDir: dir, JoinTokenFile: jtFile, Now: later, Log: quiet})
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "refused the join token") {
		t.Fatalf("an expired state dir with a used join token: %v", err)
	}
	// A new join token does.
	fresh, _ := s.joinTokenFile(t)
	a, err := New(t.Context(), Config{ServerURL: s.srv.URL, CAFile: s.caFile, StateDir: dir, JoinTokenFile: fresh, Log: quiet})
	if err != nil {
		t.Fatalf("enrolling again with a new join token: %v", err)
	}
	a.Close()
}

func TestRenewWithHeldCertificate(t *testing.T) {
	s := newStub(t)
	ta := startAgent(t, s, nil)
	before := ta.state.certificate()
	beforeKey, _ := os.ReadFile(filepath.Join(ta.cfg.StateDir, keyFile))
	if at := ta.state.renewAt(); !at.After(before.Leaf.NotBefore) || !at.Before(before.Leaf.NotAfter) {
		t.Errorf("renewal at %v, outside the certificate's life", at)
	}
	if err := ta.state.renew(t.Context(), ta.up, ta.roots); err != nil {
		t.Fatal(err)
	}
	after := ta.state.certificate()
	afterKey, _ := os.ReadFile(filepath.Join(ta.cfg.StateDir, keyFile))
	if after.Leaf.SerialNumber.Cmp(before.Leaf.SerialNumber) == 0 || string(afterKey) == string(beforeKey) {
		t.Error("renewal kept the certificate or the key")
	}
	if after.Leaf.Subject.CommonName != "node:node1" || s.renewals.Load() != 1 {
		t.Errorf("renewed certificate CN %q, %d renewals", after.Leaf.Subject.CommonName, s.renewals.Load())
	}
	if m := mode(t, filepath.Join(ta.cfg.StateDir, keyFile)); m != 0o600 {
		t.Errorf("renewed key mode %o", m)
	}
	// The stored pair loads, and the server takes the new certificate.
	st, err := loadState(ta.cfg.StateDir, time.Now, nil)
	if err != nil || st.certificate().Leaf.SerialNumber.Cmp(after.Leaf.SerialNumber) != 0 {
		t.Fatalf("reloading after renewal: %v", err)
	}
	if _, err := ta.up.token(t.Context(), tokenReq("", "https://vault.azure.net")); err != nil {
		t.Errorf("a token after renewal: %v", err)
	}
}

func TestInterruptedRenewalIsFinished(t *testing.T) {
	s := newStub(t)
	ta := startAgent(t, s, nil)
	dir := ta.cfg.StateDir
	// Crash after the new key was written but before the certificate replaced the old one.
	key, csr, err := newKeyAndCSR(ta.cfg.Rand, "node1")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ta.up.renew(t.Context(), csr)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := encodeKey(key)
	os.WriteFile(filepath.Join(dir, certFile+".new"), []byte(resp.Certificate), 0o600)
	os.WriteFile(filepath.Join(dir, keyFile), keyPEM, 0o600)
	st, err := loadState(dir, time.Now, nil)
	if err != nil {
		t.Fatalf("loading a half-renewed state: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, certFile+".new")); err == nil {
		t.Error("the pending certificate is still beside the current one")
	}
	if string(st.certificate().Certificate[0]) == string(ta.state.certificate().Certificate[0]) {
		t.Error("the old certificate was kept with the new key")
	}
}
