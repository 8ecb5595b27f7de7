package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
)

// bin is the lanyard binary built once for the tests in this package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lanyard-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "lanyard")
	// `lanyard dev` records itself in the per-user runtime directory: the tests' own, so that they
	// neither replace nor find the record of a `lanyard dev` the developer runs.
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_RUNTIME_DIR", run)
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// shortDir returns a fresh directory with a short path (unix socket paths are limited to 108 bytes).
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ly")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// devProc is a running `lanyard dev`.
type devProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	dir    string
	port   int
	admin  *client.Client
	waited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startDev starts `lanyard dev` on dir and waits until its admin socket answers.
func startDev(t testing.TB, dir string, port int) *devProc {
	t.Helper()
	return startDevCmd(t, exec.Command(bin, "dev", "--data-dir", dir, "--port", fmt.Sprint(port)), dir, port)
}

// startDevCmd starts cmd, a `lanyard dev` whose data directory is dir, and waits until its admin
// socket answers and its banner is out.
func startDevCmd(t testing.TB, cmd *exec.Cmd, dir string, port int) *devProc {
	t.Helper()
	p := &devProc{dir: dir, port: port, out: &syncBuffer{}, waited: make(chan error, 1), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waited <- p.cmd.Wait() }()
	p.admin = client.AdminSocket(filepath.Join(dir, "admin.sock"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Ready: the admin socket answers and the banner, printed once the dev agent is up, is out.
		if _, err := p.admin.ListTenants(context.Background()); err == nil && strings.Contains(p.out.String(), "curl --cacert") {
			return p
		}
		select {
		case err := <-p.waited:
			t.Fatalf("lanyard dev exited early: %v\n%s", err, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			t.Fatalf("lanyard dev did not become ready:\n%s", p.out.String())
		}
	}
}

func (p *devProc) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("lanyard dev did not stop on SIGTERM:\n%s", p.out.String())
	}
}

// TestCrashSafety writes tenants and signing-key rotations as fast as the server acknowledges them,
// SIGKILLs the server in the middle of the stream, restarts it, and checks that every acknowledged
// write is there and the audit chain verifies.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary several times")
	}
	dir := shortDir(t)
	port := freePort(t)
	p := startDev(t, dir, port)
	ctx := context.Background()

	var (
		mu        sync.Mutex
		tenants   []string
		rotations int
	)
	stopWriting := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			if i%7 == 6 {
				if _, err := p.admin.RotateSigningKey(ctx, true); err != nil {
					return
				}
				mu.Lock()
				rotations++
				mu.Unlock()
				continue
			}
			tn, err := p.admin.CreateTenant(ctx, fmt.Sprintf("crash-%d", i))
			if err != nil {
				return // the server is gone
			}
			mu.Lock()
			tenants = append(tenants, tn.ID)
			mu.Unlock()
		}
	}()
	// Kill once a good number of writes have been acknowledged, while more are in flight.
	for {
		mu.Lock()
		n, r := len(tenants), rotations
		mu.Unlock()
		if n >= 40 && r >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.waited
	close(stopWriting)
	<-done

	mu.Lock()
	acked, ackedRotations := append([]string(nil), tenants...), rotations
	mu.Unlock()

	p2 := startDev(t, dir, port)
	defer p2.stop(t)
	got, err := p2.admin.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tn := range got {
		have[tn.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("tenant %s was acknowledged before the kill but is gone after restart", id)
		}
	}
	keys, err := p2.admin.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < ackedRotations+1 {
		t.Errorf("%d signing keys after restart, want at least %d (1 + %d acknowledged rotations)", len(keys), ackedRotations+1, ackedRotations)
	}
	out, err := exec.Command(bin, "audit", "verify", "--admin-socket", filepath.Join(dir, "admin.sock")).CombinedOutput()
	if err != nil {
		t.Fatalf("lanyard audit verify after the crash: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"ok": true`) {
		t.Fatalf("audit verify did not report ok:\n%s", out)
	}
	t.Logf("%d tenants and %d rotations acknowledged before SIGKILL; all present; audit chain verified", len(acked), ackedRotations)
}

// TestConfigErrors: bad configuration exits non-zero with one line that names the problem.
func TestConfigErrors(t *testing.T) {
	dir := shortDir(t)
	cfgFile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(cfgFile, []byte("listen: \":9443\"\ntoken:\n  lifetyme: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(dir, "kek-unreadable")
	if err := os.WriteFile(kek, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"server", "--config", cfgFile}, "lifetyme"},
		{"bad DSN", []string{"dev", "--data-dir", dir, "--store", "mysql://x"}, "mysql"},
		{"unreadable KEK", []string{"server", "--data-dir", dir, "--kek-file", filepath.Join(dir, "no-such-kek")}, "no-such-kek"},
		{"KEK a directory", []string{"server", "--data-dir", dir, "--kek-file", dir}, dir},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("want a non-zero exit, got %v\nstderr: %s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line on stderr, got %d:\n%s", len(lines), stderr.String())
			}
			if !strings.Contains(lines[0], c.want) {
				t.Fatalf("stderr %q does not name %q", lines[0], c.want)
			}
		})
	}
}

// TestDevRestartReuses: a second start on the same directory keeps the tenant and the CA.
func TestDevRestartReuses(t *testing.T) {
	dir := shortDir(t)
	port := freePort(t)
	p := startDev(t, dir, port)
	t1, _ := p.admin.ListTenants(context.Background())
	ca1, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "admin.sock")); err == nil {
		// a stale socket is fine: the next start replaces it
		t.Log("admin socket file left behind after SIGTERM")
	}
	p = startDev(t, dir, port)
	defer p.stop(t)
	t2, _ := p.admin.ListTenants(context.Background())
	ca2, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if len(t1) != 1 || len(t2) != 1 || t1[0].ID != t2[0].ID {
		t.Fatalf("default tenant changed across restart: %v then %v", t1, t2)
	}
	if len(ca1) == 0 || !bytes.Equal(ca1, ca2) {
		t.Fatal("CA certificate changed across restart")
	}
	for _, want := range []string{t2[0].ID, "/discovery/keys", "curl --cacert"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("dev banner does not show %q:\n%s", want, p.out.String())
		}
	}
	// The KEK file is private.
	fi, err := os.Stat(filepath.Join(dir, "kek"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek file: %v, mode %v", err, fi.Mode())
	}
}

// TestDevAfterDatabaseDeleted: deleting the database (a clean start that keeps the KEK and the
// agent's files) makes the next start enroll the dev agent again instead of keeping an
// enrollment of a node the new database does not know.
func TestDevAfterDatabaseDeleted(t *testing.T) {
	dir := shortDir(t)
	port := freePort(t)
	p := startDev(t, dir, port)
	p.stop(t)
	dbs, _ := filepath.Glob(filepath.Join(dir, "lanyard.db*"))
	if len(dbs) == 0 {
		t.Fatal("no database file to delete")
	}
	for _, f := range dbs {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	p = startDev(t, dir, port)
	defer p.stop(t)
	nodes, err := p.admin.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agent", "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	var enr struct {
		NodeID string `json:"nodeId"`
	}
	if err := json.Unmarshal(raw, &enr); err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != enr.NodeID {
		t.Fatalf("the server knows nodes %+v; the dev agent is enrolled as %q", nodes, enr.NodeID)
	}
	if !strings.Contains(p.out.String(), "enrolling again") {
		t.Errorf("no word of enrolling again in the log:\n%s", p.out.String())
	}
}

// BenchmarkDevStartToReady measures the time from starting `lanyard dev` on an existing data
// directory to a 200 from /readyz over HTTPS, beside the time to start and finish `lanyard version`
// (the cost of starting the process at all) in the same run.
func BenchmarkDevStartToReady(b *testing.B) {
	dir := shortDir(b)
	port := freePort(b)
	p := startDev(b, dir, port)
	p.stop(b)
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	url := fmt.Sprintf("https://localhost:%d/readyz", port)
	b.Run("version", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("dev-ready", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command(bin, "dev", "--data-dir", dir, "--port", fmt.Sprint(port))
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for {
				resp, err := hc.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
			b.StopTimer()
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			b.StartTimer()
		}
	})
}

// TestRotateKEK: with the server stopped, rotate-kek rewraps everything under a new key; the server
// then starts with the new key only, keeps its data (a secret's value among them), a secret
// backup taken before the rotation restores after it, and the rotation is in the audit chain.
func TestRotateKEK(t *testing.T) {
	dir := shortDir(t)
	port := freePort(t)
	p := startDev(t, dir, port)
	ctx := context.Background()
	tenants, err := p.admin.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--admin-socket", filepath.Join(dir, "admin.sock"))...).CombinedOutput()
		if err != nil {
			t.Fatalf("lanyard %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	backup := filepath.Join(dir, "db.bak")
	cli("group", "create", "--name", "rg", "--location", "local")
	cli("keyvault", "create", "--name", "kvrot", "--resource-group", "rg")
	cli("keyvault", "secret", "set", "--vault-name", "kvrot", "--name", "db", "--value", "before-rotation", "-o", "none")
	cli("keyvault", "secret", "backup", "--vault-name", "kvrot", "--name", "db", "--file", backup)
	// Refused while the server runs.
	newKEK := filepath.Join(dir, "kek2")
	out, err := exec.Command(bin, "server", "rotate-kek", "--data-dir", dir, "--kek-file", filepath.Join(dir, "kek"), "--new-kek-file", newKEK).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stop it") {
		t.Fatalf("rotate-kek with the server running: %v\n%s", err, out)
	}
	p.stop(t)
	out, err = exec.Command(bin, "server", "rotate-kek", "--data-dir", dir, "--kek-file", filepath.Join(dir, "kek"), "--new-kek-file", newKEK).CombinedOutput()
	if err != nil {
		t.Fatalf("rotate-kek: %v\n%s", err, out)
	}
	// The CA key, the sandbox CA key, the first signing key, the secret's version, the tenant's
	// backup key and the audit checkpoint key.
	if !strings.Contains(string(out), "rewrapped 6 sealed value(s)") {
		t.Fatalf("rotate-kek output:\n%s", out)
	}
	// The old key no longer opens the data.
	cmd := exec.Command(bin, "dev", "--data-dir", dir, "--port", fmt.Sprint(port))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "does not match") {
		t.Fatalf("start with the old KEK: %v\n%s", err, out)
	}
	// A second run finds nothing left to do.
	out, err = exec.Command(bin, "server", "rotate-kek", "--data-dir", dir, "--kek-file", filepath.Join(dir, "kek"), "--new-kek-file", newKEK).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rewrapped 0 sealed value(s)") {
		t.Fatalf("second rotate-kek: %v\n%s", err, out)
	}
	if err := os.Rename(newKEK, filepath.Join(dir, "kek")); err != nil {
		t.Fatal(err)
	}
	p = startDev(t, dir, port)
	defer p.stop(t)
	after, err := p.admin.ListTenants(ctx)
	if err != nil || len(after) != len(tenants) || after[0].ID != tenants[0].ID {
		t.Fatalf("tenants after KEK rotation: %v %v", after, err)
	}
	if v := cli("keyvault", "secret", "show", "--vault-name", "kvrot", "--name", "db", "--query", "value", "-o", "tsv"); strings.TrimSpace(v) != "before-rotation" {
		t.Fatalf("the secret after KEK rotation: %q", v)
	}
	cli("keyvault", "secret", "delete", "--vault-name", "kvrot", "--name", "db", "-o", "none")
	cli("keyvault", "secret", "purge", "--vault-name", "kvrot", "--name", "db")
	cli("keyvault", "secret", "restore", "--vault-name", "kvrot", "--file", backup, "-o", "none")
	if v := cli("keyvault", "secret", "show", "--vault-name", "kvrot", "--name", "db", "--query", "value", "-o", "tsv"); strings.TrimSpace(v) != "before-rotation" {
		t.Fatalf("the secret restored from a backup taken before the KEK rotation: %q", v)
	}
	evs, err := p.admin.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var rotated bool
	for _, e := range evs {
		rotated = rotated || (e.Action == "kek.rotate" && e.Result == "success")
	}
	if !rotated {
		t.Fatalf("no kek.rotate event in the audit log: %+v", evs)
	}
	out, err = exec.Command(bin, "audit", "verify", "--admin-socket", filepath.Join(dir, "admin.sock")).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}
