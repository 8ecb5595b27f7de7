package compat

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make the test's schema

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// The rules a faster vault read must keep (issue 17): a decision reflects every change made before
// the request, on any server; a read's audit record is written before the answer.

// freshPostgres returns a DSN of a new, empty schema on LANYARD_TEST_POSTGRES_DSN's server, or
// skips t.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("LANYARD_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("set LANYARD_TEST_POSTGRES_DSN to run against PostgreSQL")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "lanyard_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if admin, err := sql.Open("pgx", base); err == nil {
			_, _ = admin.Exec(`DROP SCHEMA ` + name + ` CASCADE`)
			admin.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// readSecret GETs a secret with a bearer token through hc and returns the status and body.
func readSecret(t *testing.T, hc *http.Client, vaultURL, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, vaultURL+"/secrets/conn?api-version=7.4", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestVaultPolicyRemovalAcrossServers: two servers share one PostgreSQL database; both have read
// the vault (and keep it). A policy removed through one is seen by the very next read on the
// other, and so is the policy granted again, in both directions.
func TestVaultPolicyRemovalAcrossServers(t *testing.T) {
	dsn := freshPostgres(t)
	a := newVaultEnv(t, lanyardtest.Options{Flags: map[string]string{"store": dsn}})
	// The second server answers for the same public URL (as replicas behind one name do).
	b := lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"store": dsn, "public-url": a.env.URL}})
	bAddr := strings.TrimPrefix(b.Config.Listen, "https://")
	viaB := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: a.env.CAPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, bAddr)
		},
	}, Timeout: 30 * time.Second}

	mi := a.identity("reader")
	vaultID := a.createVault("kv-replicas", map[string]any{"accessPolicies": []any{a.policy(mi, "get")}})
	a.adminSetSecret("kv-replicas", "conn", "Server=db;Password=hunter2")
	token := a.mint(mi, a.resource)
	vaultURL := a.vaultURL("kv-replicas")
	for name, hc := range map[string]*http.Client{"A": a.http, "B": viaB} {
		if st, body := readSecret(t, hc, vaultURL, token); st != 200 || !strings.Contains(body, "hunter2") {
			t.Fatalf("read on server %s with the policy: %d %s", name, st, body)
		}
	}
	// Removed through A: B's very next read is refused.
	a.accessPolicies(vaultID, "remove", a.policy(mi))
	if st, body := readSecret(t, viaB, vaultURL, token); st != http.StatusForbidden || strings.Contains(body, "hunter2") {
		t.Fatalf("read on B right after the policy was removed through A: %d %s", st, body)
	}
	// Granted again through B (its admin socket): A's very next read succeeds.
	bEnv := &vaultEnv{t: t, env: b, sub: a.sub, tenant: a.tenant, port: a.port, resource: a.resource, http: viaB}
	bEnv.accessPolicies(vaultID, "add", a.policy(mi, "get"))
	if st, _ := readSecret(t, a.http, vaultURL, token); st != 200 {
		t.Fatalf("read on A right after the policy was granted through B: %d", st)
	}
	if st, _ := readSecret(t, viaB, vaultURL, token); st != 200 {
		t.Fatalf("read on B after the grant: %d", st)
	}
	// Removed through B: A's very next read is refused.
	bEnv.accessPolicies(vaultID, "remove", a.policy(mi))
	if st, _ := readSecret(t, a.http, vaultURL, token); st != http.StatusForbidden {
		t.Fatalf("read on A right after the policy was removed through B: %d", st)
	}
}

// TestVaultReadRefusedWithoutAudit: when the audit record of a read cannot be written, the read
// is refused (503) and the value is not sent; once audit records can be written again, reads
// succeed.
func TestVaultReadRefusedWithoutAudit(t *testing.T) {
	e := newVaultEnv(t, lanyardtest.Options{})
	mi := e.identity("reader")
	e.createVault("kv-audit", map[string]any{"accessPolicies": []any{e.policy(mi, "get")}})
	e.adminSetSecret("kv-audit", "conn", "Server=db;Password=hunter2")
	token := e.mint(mi, e.resource)
	vaultURL := e.vaultURL("kv-audit")
	if st, body := readSecret(t, e.http, vaultURL, token); st != 200 || !strings.Contains(body, "hunter2") {
		t.Fatalf("read: %d %s", st, body)
	}
	// The audit table refuses rows, as a full disk or a broken database would: set from outside,
	// through a connection of the test's own.
	raw, err := sql.Open("sqlite", filepath.Join(e.env.DataDir, "lanyard.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit store broken'); END`); err != nil {
		t.Fatal(err)
	}
	// On SQLite the server appends audit events to its journal (store/auditjournal.go) and
	// folds them into the table in the background: reads are answered while their events are in
	// the journal, until the first fold fails; from then on every read is refused, since the
	// journal does not run ahead of a store that refuses its events. Without the journal (and on
	// PostgreSQL) the very first read is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := readSecret(t, e.http, vaultURL, token)
		if st == http.StatusServiceUnavailable {
			if strings.Contains(body, "hunter2") {
				t.Fatalf("a refused read carried the value: %s", body)
			}
			break
		}
		if st != 200 || time.Now().After(deadline) {
			t.Fatalf("read after the audit table broke: %d %s (want 200 while the journal takes the event, then 503 within 10 s)", st, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		if st, body := readSecret(t, e.http, vaultURL, token); st != http.StatusServiceUnavailable || strings.Contains(body, "hunter2") {
			t.Fatalf("read while its audit record cannot be written: %d %s", st, body)
		}
	}
	if _, err := raw.Exec(`DROP TRIGGER audit_broken`); err != nil {
		t.Fatal(err)
	}
	if st, body := readSecret(t, e.http, vaultURL, token); st != 200 || !strings.Contains(body, "hunter2") {
		t.Fatalf("read once audit records can be written again: %d %s", st, body)
	}
}
