package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/store"
)

// chain writes n events into a fresh SQLite store and returns the store, a raw handle on the same
// file for tampering, and the recorder.
func chain(t *testing.T, n int) (*store.DB, *sql.DB) {
	t.Helper()
	db, raw, _ := chainAt(t, n)
	return db, raw
}

// chainAt is chain that also returns the database file's path.
func chainAt(t *testing.T, n int) (*store.DB, *sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	rec := &audit.Recorder{Store: db, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	for i := 1; i <= n; i++ {
		ev, err := rec.Record(context.Background(), audit.Event{Actor: "tester", Action: "thing.do", Target: fmt.Sprint("t", i), Result: audit.Success})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != int64(i) || ev.Hash != audit.Hash(ev) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return db, raw, path
}

func verify(t *testing.T, db *store.DB) (int, []audit.Problem) {
	t.Helper()
	n, problems, err := audit.Verify(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return n, problems
}

func TestVerifyIntactChain(t *testing.T) {
	db, _ := chain(t, 25)
	n, problems := verify(t, db)
	if n != 25 || len(problems) != 0 {
		t.Fatalf("intact chain: %d events, problems %v", n, problems)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  string
		wantSeq int64
		want    string
	}{
		{"changed field", "UPDATE audit_events SET target = 'other' WHERE seq = 7", 7, "changed"},
		{"changed result", "UPDATE audit_events SET result = 'denied' WHERE seq = 3", 3, "changed"},
		{"removed row", "DELETE FROM audit_events WHERE seq = 5", 6, "removed"},
		{"inserted row", "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 4; " +
			"INSERT INTO audit_events (seq, time, actor, action, target, result, request_id, detail, prev_hash, hash) " +
			"SELECT 4, time, actor, action, 'forged', result, request_id, detail, prev_hash, hash FROM audit_events WHERE seq = 3; " +
			"UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1004", 4, "changed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, raw := chain(t, 10)
			for _, stmt := range strings.Split(c.tamper, "; ") {
				if _, err := raw.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			_, problems := verify(t, db)
			if len(problems) == 0 {
				t.Fatal("tampering not detected")
			}
			if problems[0].Seq != c.wantSeq || !strings.Contains(problems[0].Reason, c.want) {
				t.Fatalf("first problem %v, want event %d mentioning %q (all: %v)", problems[0], c.wantSeq, c.want, problems)
			}
		})
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := audit.Event{Seq: 1, Time: time.Unix(100, 0), Actor: "a", Action: "b", Target: "c", Result: "d", RequestID: "e", Detail: "f", PrevHash: "g"}
	h := audit.Hash(base)
	mutations := []func(*audit.Event){
		func(e *audit.Event) { e.Seq = 2 },
		func(e *audit.Event) { e.Time = e.Time.Add(time.Microsecond) },
		func(e *audit.Event) { e.Actor = "x" },
		func(e *audit.Event) { e.Action = "x" },
		func(e *audit.Event) { e.Target = "x" },
		func(e *audit.Event) { e.Result = "x" },
		func(e *audit.Event) { e.RequestID = "x" },
		func(e *audit.Event) { e.Detail = "x" },
		func(e *audit.Event) { e.PrevHash = "x" },
		// moving a boundary between two fields must change the hash too
		func(e *audit.Event) { e.Actor, e.Action = "ab", "" },
	}
	for i, m := range mutations {
		e := base
		m(&e)
		if audit.Hash(e) == h {
			t.Errorf("mutation %d does not change the hash", i)
		}
	}
}

// countingStore counts the store's transactions.
type countingStore struct {
	*store.DB
	mu  sync.Mutex
	txs int
}

func (c *countingStore) AppendAuditBatch(ctx context.Context, build func(int64, string) ([]audit.Event, error)) ([]audit.Event, error) {
	c.mu.Lock()
	c.txs++
	c.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // a commit takes a while: callers arriving meanwhile queue
	return c.DB.AppendAuditBatch(ctx, build)
}

func TestGroupCommit(t *testing.T) {
	db, _ := chain(t, 1)
	cs := &countingStore{DB: db}
	rec := &audit.Recorder{Store: cs, Now: time.Now}
	const callers = 64
	var wg sync.WaitGroup
	seqs := make(chan int64, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := rec.Record(context.Background(), audit.Event{Actor: "tester", Action: "thing.do", Target: fmt.Sprint("c", i), Result: audit.Success})
			if err != nil {
				t.Error(err)
				return
			}
			if got, err := db.ListAudit(context.Background(), ev.Seq-1, 1); err != nil || len(got) != 1 || got[0].Target != ev.Target {
				t.Errorf("event %d is not committed when Record returns: %+v %v", ev.Seq, got, err)
			}
			seqs <- ev.Seq
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Errorf("seq %d twice", s)
		}
		seen[s] = true
	}
	if n, problems := verify(t, db); n != callers+1 || len(problems) != 0 {
		t.Errorf("%d events, problems %v", n, problems)
	}
	if cs.txs >= callers {
		t.Errorf("%d transactions for %d concurrent events: no group commit", cs.txs, callers)
	}
	t.Logf("%d concurrent events in %d transactions", callers, cs.txs)
}

// TestRecorderLogLevel: events are mirrored at the level Level gives, and not at all when the
// log's level is above it; either way the event is in the store.
func TestRecorderLogLevel(t *testing.T) {
	db, _ := chain(t, 0)
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rec := &audit.Recorder{Store: db, Log: log, Now: time.Now, Level: func(ev audit.Event) slog.Level {
		if ev.Action == "thing.read" {
			return slog.LevelDebug
		}
		return slog.LevelInfo
	}}
	ctx := context.Background()
	if _, err := rec.Record(ctx, audit.Event{Actor: "a", Action: "thing.read", Target: "quiet", Result: audit.Success}); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Record(ctx, audit.Event{Actor: "a", Action: "thing.change", Target: "loud", Result: audit.Success}); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "quiet") || !strings.Contains(out, "target=loud") {
		t.Errorf("log %q: want the change only", out)
	}
	if evs, err := db.ListAudit(ctx, 0, 10); err != nil || len(evs) != 2 {
		t.Errorf("%d events in the store (%v), want 2", len(evs), err)
	}
}
