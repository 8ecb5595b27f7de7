package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/store/storetest"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// postgresEnv names the PostgreSQL server the tests may use: any DSN whose user may create
// schemas in its database (.ci/start-postgres.sh starts one and prints it). Each test works in a
// schema of its own, dropped at its end.
const postgresEnv = "LANYARD_TEST_POSTGRES_DSN"

var ctx = context.Background()

// dialects are the databases the tests run on: each returns a DSN for a new, empty database, or
// skips t.
var dialects = []struct {
	name  string
	fresh func(t *testing.T) string
}{
	{"sqlite", freshSQLite},
	{"postgres", freshPostgres},
}

func freshSQLite(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "lanyard.db")
}

func freshPostgres(t *testing.T) string {
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("set %s to run against PostgreSQL (.ci/start-postgres.sh prints one)", postgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	defer admin.Close()
	name := "lanyard_test_" + strings.ToLower(rand.Text()[:12]) // base32: a valid identifier
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.fresh(t) // skip early if the dialect is not available
			storetest.Run(t, func(t *testing.T) *store.DB { return open(t, d.fresh(t)) })
		})
	}
}

func TestMigrations(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.fresh(t)
			latest := store.LatestVersion(d.name)
			if latest < 1 {
				t.Fatalf("no migrations for %s", d.name)
			}
			db := open(t, dsn)
			if db.Dialect() != d.name {
				t.Errorf("Dialect() = %q, want %q", db.Dialect(), d.name)
			}
			v, err := db.SchemaVersion(ctx)
			if err != nil || v != latest {
				t.Fatalf("SchemaVersion of a new database = %d, %v; want %d", v, err, latest)
			}
			n, err := db.QueryIntForTest(ctx, `SELECT COUNT(*) FROM schema_version`)
			if err != nil || n != latest {
				t.Fatalf("schema_version has %d rows (%v), want one per migration, %d", n, err, latest)
			}
			if err := db.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			want := tenant.Tenant{ID: "t1", Name: "kept"}
			if err := db.CreateTenant(ctx, want); err != nil {
				t.Fatal(err)
			}
			db.Close()

			// Reopening applies nothing and keeps the data.
			db = open(t, dsn)
			n, err = db.QueryIntForTest(ctx, `SELECT COUNT(*) FROM schema_version`)
			if err != nil || n != latest {
				t.Fatalf("after reopening, schema_version has %d rows (%v), want %d", n, err, latest)
			}
			if got, err := db.GetTenant(ctx, "t1"); err != nil || got.Name != "kept" {
				t.Fatalf("after reopening, GetTenant = %+v, %v", got, err)
			}
		})
	}
}

// TestConcurrentOpen is several servers starting at once on a new database: every Open succeeds
// and each migration is applied once.
func TestConcurrentOpen(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.fresh(t)
			var wg sync.WaitGroup
			errList := make([]error, 6)
			for i := range errList {
				wg.Go(func() {
					db, err := store.Open(ctx, dsn)
					if err == nil {
						db.Close()
					}
					errList[i] = err
				})
			}
			wg.Wait()
			for i, err := range errList {
				if err != nil {
					t.Errorf("Open %d: %v", i, err)
				}
			}
			db := open(t, dsn)
			n, err := db.QueryIntForTest(ctx, `SELECT COUNT(*) FROM schema_version`)
			if latest := store.LatestVersion(d.name); err != nil || n != latest {
				t.Fatalf("schema_version has %d rows (%v), want %d", n, err, latest)
			}
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.fresh(t)
			db := open(t, dsn)
			latest := store.LatestVersion(d.name)
			future := latest + 6
			if err := db.ExecForTest(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`, future, "from_the_future", 0); err != nil {
				t.Fatal(err)
			}
			db.Close()

			db, err := store.Open(ctx, dsn)
			if err == nil {
				db.Close()
				t.Fatal("Open of a database with a newer schema succeeded")
			}
			if !errs.Is(err, errs.Invalid) {
				t.Errorf("error %q is %v, want Invalid", err, errs.KindOf(err))
			}
			want := fmt.Sprintf("store: database schema version %d is newer than this lanyard knows (%d); upgrade lanyard", future, latest)
			if errs.Message(err) != want {
				t.Errorf("error message %q, want %q", errs.Message(err), want)
			}
		})
	}
}

func TestBadDSN(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"", "store: empty DSN (use sqlite:PATH or postgres://...)"},
		{"mysql://lanyard@db/lanyard", `store: unsupported DSN scheme "mysql" (use sqlite:PATH or postgres://...)`},
		{"/var/lib/lanyard/lanyard.db", "store: DSN has no scheme (use sqlite:PATH or postgres://...)"},
		{"sqlite:", "store: sqlite DSN has no path (use sqlite:PATH)"},
		{"sqlite::memory:", `store: sqlite DSN must name a file path, not ":memory:"`},
		{"sqlite:/tmp/x.db?mode=ro", "store: sqlite path must not contain '?' (Lanyard sets the connection options itself)"},
		{"postgres://lanyard:hunter2@db:notaport/lanyard", "store: cannot parse the PostgreSQL DSN"},
	} {
		db, err := store.Open(ctx, tc.dsn)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", tc.dsn)
			continue
		}
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("Open(%q): %q is %v, want Invalid", tc.dsn, err, errs.KindOf(err))
		}
		if got := errs.Message(err); got != tc.want {
			t.Errorf("Open(%q): message %q, want %q", tc.dsn, got, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): error %q shows the password", tc.dsn, err)
		}
	}
}

func TestPostgresUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens, the connection is refused at once.
	_, err := store.Open(ctx, "postgres://lanyard:hunter2@127.0.0.1:1/lanyard?sslmode=disable&connect_timeout=5")
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Open of an unreachable PostgreSQL = %v (%v), want Unavailable", err, errs.KindOf(err))
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestSQLiteFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "lanyard")
	path := filepath.Join(dir, "lanyard.db")
	db := open(t, "sqlite:"+path)
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: "t", Name: "T"}); err != nil {
		t.Fatal(err)
	}
	wantMode(t, dir, 0o700)
	wantMode(t, path, 0o600)
	if _, err := os.Stat(path + "-wal"); err == nil {
		wantMode(t, path+"-wal", 0o600)
	}
	db.Close()

	// A database file made by someone else with a laxer mode is restricted.
	lax := filepath.Join(t.TempDir(), "lax.db")
	if err := os.WriteFile(lax, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(lax, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, "sqlite:"+lax)
	wantMode(t, lax, 0o600)
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %#o, want %#o", path, got, want)
	}
}

// TestConformanceAuditJournal runs the suite on SQLite with the audit journal (auditjournal.go),
// as servers run it: the audit tests read back through the fold.
func TestConformanceAuditJournal(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.DB {
		db, err := store.OpenWith(ctx, freshSQLite(t), store.Options{AuditJournal: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
