package audit_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
)

// foldCounts records what each FoldAuditKeys folded.
type foldCounts struct {
	audit.KeyStore
	folded []int
}

func (f *foldCounts) FoldAuditKeys(ctx context.Context, limit int) (int, error) {
	n, err := f.KeyStore.FoldAuditKeys(ctx, limit)
	f.folded = append(f.folded, n)
	return n, err
}

func keyRows(t *testing.T, raw *sql.DB) int {
	t.Helper()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM audit_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFolderCatchesUp: one Fold folds batch after batch until the keys have caught up with the
// chain; Run folds what is appended later, in the background, and stops with its context.
func TestFolderCatchesUp(t *testing.T) {
	db, raw := chain(t, 12)
	fc := &foldCounts{KeyStore: db}
	f := &audit.Folder{Store: fc, Batch: 5}
	if err := f.Fold(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fc.folded, []int{5, 5, 2}) || keyRows(t, raw) != 12 {
		t.Fatalf("Fold folded %v, %d keys; want [5 5 2], 12", fc.folded, keyRows(t, raw))
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&audit.Folder{Store: db, Every: 10 * time.Millisecond}).Run(ctx) }()
	rec := &audit.Recorder{Store: db, Now: time.Now}
	for range 3 {
		if _, err := rec.Record(ctx, audit.Event{Actor: "tester", Action: "thing.do", Target: "t", Result: audit.Success}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); keyRows(t, raw) != 15; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not fold the new events: %d keys, want 15", keyRows(t, raw))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
