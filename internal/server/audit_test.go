package server_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestAuditKeysFoldedInBackground: the server folds new audit events' filter keys into
// audit_keys by itself (about once a second), off the request path.
func TestAuditKeysFoldedInBackground(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ev, err := env.Server.Audit.Record(context.Background(), audit.Event{Actor: "tester", Action: "thing.do", Target: "t", Result: audit.Success})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(env.DataDir, "lanyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mark sql.NullInt64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := raw.QueryRow(`SELECT MAX(seq) FROM audit_keys`).Scan(&mark); err != nil {
			t.Fatal(err)
		}
		if mark.Int64 >= ev.Seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit_keys folded up to %d, not event %d, after 10s", mark.Int64, ev.Seq)
		}
	}
}
