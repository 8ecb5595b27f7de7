package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/store"
)

// indexCount counts the indexes of table, its primary key's included on PostgreSQL (SQLite's
// INTEGER PRIMARY KEY is the table's own B-tree, not an index).
func indexCount(t *testing.T, db *store.DB, dialect, table string) int {
	t.Helper()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`
	if dialect == "postgres" {
		q = `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?`
	}
	n, err := db.QueryIntForTest(ctx, q, table)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditEventsOneBTree: appending an audit event (every vault read) inserts into
// audit_events' own B-tree only (migration 0017); the filters' indexes are audit_keys'.
func TestAuditEventsOneBTree(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := open(t, d.fresh(t))
			pk := 0
			if d.name == "postgres" {
				pk = 1
			}
			if n := indexCount(t, db, d.name, "audit_events"); n != pk {
				t.Errorf("audit_events has %d indexes, want %d (its primary key's only)", n, pk)
			}
			if n := indexCount(t, db, d.name, "audit_keys"); n != pk+4 {
				t.Errorf("audit_keys has %d indexes, want %d", n, pk+4)
			}
		})
	}
}

// TestAuditKeysMigration: migration 0017 folds the events that exist when it runs, so that the
// filters find them through audit_keys before any fold has run.
func TestAuditKeysMigration(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.fresh(t)
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
			for i := range 30 {
				_, err := db.AppendAudit(ctx, func(prevSeq int64, prevHash string) (audit.Event, error) {
					e := audit.Event{Seq: prevSeq + 1, PrevHash: prevHash, Time: t0.Add(time.Duration(i) * time.Second),
						Actor: fmt.Sprintf("sp:%d", i%3), Action: "vault.secret.get", Target: "/t", Result: audit.Success}
					sum := sha256.Sum256(fmt.Appendf(nil, "%d|%s", e.Seq, prevHash))
					e.Hash = hex.EncodeToString(sum[:])
					return e, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			// Back to version 16: no audit_keys, 0016's indexes on audit_events.
			action, target := `action`, `target`
			if d.name == "postgres" {
				action, target = `(action COLLATE "C")`, `(target COLLATE "C")`
			}
			for _, q := range append([]string{
				`DROP TABLE audit_keys`,
				`CREATE INDEX audit_events_actor ON audit_events (actor, seq)`,
				`CREATE INDEX audit_events_action ON audit_events (` + action + `, seq)`,
				`CREATE INDEX audit_events_target ON audit_events (` + target + `, seq)`,
				`CREATE INDEX audit_events_time ON audit_events (time, seq)`,
				`DELETE FROM schema_version WHERE version >= 17`,
			}, undoLater(d.name)...) {
				if err := db.ExecForTest(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db.Close()
			db = open(t, dsn)
			if n, err := db.QueryIntForTest(ctx, `SELECT COUNT(*) FROM audit_keys`); err != nil || n != 30 {
				t.Fatalf("audit_keys has %d rows after the migration (%v), want 30", n, err)
			}
			evs, err := db.QueryAudit(ctx, audit.Query{Actor: "sp:1", Newest: true, Limit: 100})
			if err != nil || len(evs) != 10 || evs[0].Seq != 29 || evs[9].Seq != 2 {
				t.Fatalf("QueryAudit(sp:1) after the migration: %d events, %v", len(evs), err)
			}
			if n, err := db.FoldAuditKeys(ctx, 100); err != nil || n != 0 {
				t.Errorf("FoldAuditKeys after the migration's backfill: %d, %v; want nothing to fold", n, err)
			}
		})
	}
}

// undoLater returns the statements that take migrations 0018 and later back out, for a test that
// runs an earlier migration again.
func undoLater(dialect string) []string {
	return append(undoMintGeneration(dialect), `DROP TABLE sandbox_ca`)
}

// undoMintGeneration returns the statements that take migration 0018 back out.
func undoMintGeneration(dialect string) []string {
	if dialect == "postgres" {
		return []string{`DROP FUNCTION mint_generation_raise() CASCADE`, `DROP TABLE mint_generation`}
	}
	var qs []string
	for _, table := range []string{"nodes", "resources", "resources_identity_links", "directory_service_principals",
		"directory_identifier_uris", "directory_app_role_assignments"} {
		for _, ev := range []string{"added", "changed", "removed"} {
			qs = append(qs, `DROP TRIGGER mint_generation_`+table+`_`+ev)
		}
	}
	return append(qs, `DROP TABLE mint_generation`)
}
