package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d sqlite migrations, %d postgres: each migration needs both", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != pg[i].version || lite[i].name != pg[i].name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i+1, lite[i].version, lite[i].name, pg[i].version, pg[i].name)
		}
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`SELECT '?', "?x", ? FROM t WHERE d = 'it''s ?' AND e = ?`, `SELECT '?', "?x", $1 FROM t WHERE d = 'it''s ?' AND e = $2`},
	} {
		if got := postgresDialect.rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := postgresDialect.rebind(tc.in); got != tc.want { // cached
			t.Errorf("rebind(%q) again = %q, want %q", tc.in, got, tc.want)
		}
		if got := sqliteDialect.rebind(tc.in); got != tc.in {
			t.Errorf("sqlite rebind(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}

// TestSealedColumnsRegistered checks that every sealed_* column of the schema is in
// sealedColumns, so that KEK rotation covers it, and that every entry names a real column.
func TestSealedColumnsRegistered(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "lanyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.sql.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_schema AS m, pragma_table_info(m.name) AS p
		WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	columns := map[string][]string{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		columns[table] = append(columns[table], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	registered := map[[2]string]bool{}
	for _, sc := range sealedColumns {
		registered[[2]string{sc.Table, sc.Blob}] = true
		for _, c := range []string{sc.IDColumn, sc.Blob, sc.KEK} {
			if !slices.Contains(columns[sc.Table], c) {
				t.Errorf("sealedColumns names %s.%s, which the schema lacks", sc.Table, c)
			}
		}
	}
	for table, cols := range columns {
		for _, c := range cols {
			if len(c) > len("sealed_") && c[:len("sealed_")] == "sealed_" && !registered[[2]string{table, c}] {
				t.Errorf("%s.%s holds sealed values but is not in sealedColumns: KEK rotation would miss it", table, c)
			}
		}
	}
}

func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "lanyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.sql.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestSQLiteSynchronous: the durability setting reaches every connection; a bad one is refused.
func TestSQLiteSynchronous(t *testing.T) {
	ctx := context.Background()
	for setting, want := range map[string]string{"": "1", "normal": "1", "full": "2", "FULL": "2"} {
		db, err := OpenWith(ctx, "sqlite:"+filepath.Join(t.TempDir(), "lanyard.db"), Options{SQLiteSynchronous: setting})
		if err != nil {
			t.Fatal(err)
		}
		// Several connections at once: each runs the pragmas.
		conns := make([]*sql.Conn, 3)
		for i := range conns {
			if conns[i], err = db.sql.Conn(ctx); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := conns[i].QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("synchronous %q: connection %d has PRAGMA synchronous = %s, want %s", setting, i, got, want)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		db.Close()
	}
	if _, err := OpenWith(ctx, "sqlite:"+filepath.Join(t.TempDir(), "lanyard.db"), Options{SQLiteSynchronous: "off"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("synchronous off: %v, want Invalid", err)
	}
}
