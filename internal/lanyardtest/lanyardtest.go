// Package lanyardtest starts a whole Lanyard control plane in-process, on loopback, on a temporary
// SQLite store, for end-to-end tests that walk a real flow over real HTTPS with real clients.
package lanyardtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/config"
	"github.com/lanyardhq/lanyard/internal/server"
)

// Env is a running control plane.
type Env struct {
	Server  *server.Server
	URL     string         // https://localhost:PORT
	HTTP    *http.Client   // trusts the server's CA
	CAPool  *x509.CertPool // the server's root
	Admin   *client.Client // administrator, through the admin socket
	DataDir string
	Config  config.Config

	log  *slog.Logger
	opts Options
	stop func() error
}

// Options adjust the server a test starts.
type Options struct {
	Now   func() time.Time // default time.Now
	Rand  io.Reader        // default crypto/rand
	Flags map[string]string
	Log   io.Writer // default: discarded unless LANYARD_TEST_LOG=1
	// Listen is the IP address the HTTPS listener binds (a free port is chosen); default
	// 127.0.0.1, and then the public URL names localhost, else the address itself.
	Listen string
	// Listener, when set, is the HTTPS listener itself (Listen is then ignored), for a test
	// that opened it elsewhere, in a network namespace of its own, say.
	Listener net.Listener
	// Configure, when set, adjusts the configuration before the server opens.
	Configure func(*config.Config)
}

// NoAuditJournal is a Configure for several servers on one SQLite file: the audit journal needs
// its database to itself (store/auditjournal.go), so each of them commits its audit events.
func NoAuditJournal(c *config.Config) { c.SQLite.AuditJournal = false }

// Start starts a server for the duration of t.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dir, err := os.MkdirTemp("", "lyt") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	host, urlHost := "127.0.0.1", "localhost"
	if o.Listen != "" {
		host, urlHost = o.Listen, o.Listen
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			t.Fatal(err)
		}
	} else if a := ln.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
		urlHost = a.IP.String()
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fs := pflag.NewFlagSet("lanyardtest", pflag.ContinueOnError)
	config.AddFlags(fs)
	set := map[string]string{
		"data-dir":   dir,
		"listen":     ln.Addr().String(),
		"public-url": fmt.Sprintf("https://%s", net.JoinHostPort(urlHost, strconv.Itoa(port))),
	}
	for k, v := range o.Flags {
		set[k] = v
	}
	for k, v := range set {
		if err := fs.Set(k, v); err != nil {
			t.Fatalf("flag %s: %v", k, err)
		}
	}
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i*7 + 1)
	}
	cfg, err := config.Load(fs, []string{"LANYARD_KEK=" + base64.StdEncoding.EncodeToString(kek)}, config.ModeDev)
	if err != nil {
		t.Fatal(err)
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
		if os.Getenv("LANYARD_TEST_LOG") == "1" {
			logw = os.Stderr
		}
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &Env{DataDir: dir, Config: cfg, URL: cfg.PublicURL, log: log, opts: o}
	e.start(t, ln)
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("server stopped with: %v", err)
		}
	})
	srv := e.Server
	pool := x509.NewCertPool()
	pool.AddCert(srv.CA.Certificate())
	e.CAPool = pool
	e.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	e.Admin = client.AdminSocket(filepath.Join(dir, "admin.sock"))
	return e
}

// start opens the server on the Env's data directory and serves it on ln and the admin socket.
func (e *Env) start(t testing.TB, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Open(ctx, server.Options{Config: e.Config, Log: e.log, Now: e.opts.Now, Rand: e.opts.Rand})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	adminLn, err := server.ListenAdminSocket(filepath.Join(e.DataDir, "admin.sock"))
	if err != nil {
		cancel()
		ln.Close()
		srv.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, adminLn) }()
	e.Server = srv
	e.stop = func() error {
		cancel()
		err := <-served
		srv.Close()
		return err
	}
}

// Stop stops the server (in-flight requests finish, the store is closed); Restart starts it
// again. Stopping a stopped server does nothing.
func (e *Env) Stop() error {
	if e.stop == nil {
		return nil
	}
	stop := e.stop
	e.stop = nil
	return stop()
}

// Restart starts a stopped server again on the same address, data directory and configuration.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may take a moment to be free
		if ln, err = net.Listen("tcp", e.Config.Listen); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.start(t, ln)
}

// PostgresEnv names the PostgreSQL server tests may use (as in the store's conformance suite):
// a DSN whose user may create schemas.
const PostgresEnv = "LANYARD_TEST_POSTGRES_DSN"

// PostgresDSN returns the DSN of a new, empty schema on the server PostgresEnv names, dropped
// when t ends, or skips t when it is not set. Several servers given the same DSN share one store.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("set %s to run against PostgreSQL (.ci/start-postgres.sh prints one)", PostgresEnv)
	}
	exec := func(stmt string) error {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(context.Background(), stmt)
		return err
	}
	name := "lanyard_test_" + strings.ToLower(rand.Text()[:12]) // base32: a valid identifier
	if err := exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
