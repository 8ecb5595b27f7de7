package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// moveSegments moves the journal segments of the database from to those of to, or removes them
// if to is "".
func moveSegments(t *testing.T, from, to string) {
	t.Helper()
	names, err := filepath.Glob(from + "-audit-*.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if to == "" {
			err = os.Remove(name)
		} else {
			err = os.Rename(name, to+strings.TrimPrefix(name, from))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// openJournaled opens the SQLite database at path with the audit journal.
func openJournaled(t *testing.T, path string) *DB {
	t.Helper()
	db, err := OpenWith(context.Background(), "sqlite:"+path, Options{AuditJournal: true})
	if err != nil {
		t.Fatalf("open with the audit journal: %v", err)
	}
	return db
}

// recordN records n events through a recorder, from 8 goroutines, and returns them.
func recordN(t *testing.T, db *DB, n int) []audit.Event {
	t.Helper()
	rec := &audit.Recorder{Store: db, Now: time.Now}
	var (
		mu  sync.Mutex
		out []audit.Event
		wg  sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				ev, err := rec.Record(context.Background(), audit.Event{Actor: "reader", Action: "vault.secret.get",
					Target: fmt.Sprintf("kv/s%d/x", i), Result: audit.Success, RequestID: fmt.Sprintf("req-%d", i)})
				if err != nil {
					t.Errorf("record %d: %v", i, err)
					return
				}
				mu.Lock()
				out = append(out, ev)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// stopFolding stops the journal's background fold, so that appends stay in the journal.
func stopFolding(t *testing.T, db *DB) {
	t.Helper()
	close(db.journal.stop)
	<-db.journal.done
	db.journal.stop = make(chan struct{}) // for close
	db.journal.done = make(chan struct{})
	close(db.journal.done)
}

// crash leaves db as a killed process would: its journal unfolded, its lock released.
func crash(t *testing.T, db *DB) {
	t.Helper()
	db.journal.mu.Lock()
	if db.journal.f != nil {
		db.journal.f.Close()
	}
	db.journal.mu.Unlock()
	db.journal.lock.Close()
	db.journal = nil
	db.sql.Close()
}

// checkChain verifies db's chain and that it holds exactly the request ids of want.
func checkChain(t *testing.T, db *DB, want []audit.Event) {
	t.Helper()
	n, last, problems, err := audit.VerifyChain(context.Background(), db)
	if err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", err, problems)
	}
	if n != len(want) || last != int64(len(want)) {
		t.Fatalf("the chain holds %d events up to %d, want %d", n, last, len(want))
	}
	got, err := db.ListAudit(context.Background(), 0, len(want)+10)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range got {
		ids[e.RequestID] = true
	}
	for _, e := range want {
		if !ids[e.RequestID] {
			t.Fatalf("event %d (%s) is missing", e.Seq, e.RequestID)
		}
	}
}

func TestAuditJournalReadersSeeEveryAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lanyard.db")
	db := openJournaled(t, path)
	stopFolding(t, db) // nothing folds but the readers
	evs := recordN(t, db, 500)
	if seq, _, err := db.AuditHead(context.Background()); err != nil || seq != 500 {
		t.Fatalf("AuditHead = %d, %v; want 500 (a reader folds first)", seq, err)
	}
	evs = append(evs, recordN(t, db, 20)...)
	got, err := db.QueryAudit(context.Background(), audit.Query{Target: "kv/s7/x", Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("QueryAudit(target kv/s7/x) = %d events, %v; want 2, one of each batch", len(got), err)
	}
	checkChain(t, db, evs)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(path + "-audit-*.log"); len(names) != 0 {
		t.Errorf("segments left after a clean close: %v", names)
	}
	// Opened without the journal, the database holds the whole chain.
	plain, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	checkChain(t, plain, evs)
}

func TestAuditJournalFoldsInBackground(t *testing.T) {
	db := openJournaled(t, filepath.Join(t.TempDir(), "lanyard.db"))
	defer db.Close()
	recordN(t, db, 50)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.pool().queryRow(context.Background(), `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 50 events in the table after 10 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuditJournalReplayAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lanyard.db")
	db := openJournaled(t, path)
	first := recordN(t, db, 100)
	if _, _, err := db.AuditHead(context.Background()); err != nil { // folds the first 100
		t.Fatal(err)
	}
	stopFolding(t, db)
	second := recordN(t, db, 300)
	crash(t, db)
	all := append(first, second...)

	// Without the journal: the open folds what the journal holds.
	plain, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, plain, all)
	plain.Close()

	// Again, with a record cut short at the end of the last segment, as a killed write leaves it.
	db = openJournaled(t, path)
	stopFolding(t, db)
	third := recordN(t, db, 40)
	seg := db.journal.f.Name()
	crash(t, db)
	whole, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := appendJournalRecord(nil, audit.Event{Seq: 441, Actor: "x", Hash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, append(whole, extra[:len(extra)-3]...), 0o600); err != nil {
		t.Fatal(err)
	}
	db = openJournaled(t, path)
	all = append(all, third...)
	checkChain(t, db, all)
	// The chain goes on from the last whole record.
	all = append(all, recordN(t, db, 5)...)
	checkChain(t, db, all)
	db.Close()
}

func TestAuditJournalDamageStopsTheOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lanyard.db")
	db := openJournaled(t, path)
	stopFolding(t, db)
	recordN(t, db, 30)
	seg := db.journal.f.Name()
	crash(t, db)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[20] ^= 0xff // inside the first record: the records after it are whole
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenWith(context.Background(), "sqlite:"+path, Options{AuditJournal: true})
	if !errs.Is(err, errs.Internal) || !strings.Contains(err.Error(), "damaged at byte 0") || !strings.Contains(err.Error(), seg) {
		t.Fatalf("open with a damaged journal: %v; want an error naming the file and the place", err)
	}

	// A journal that does not continue the database's chain (another database's) stops it too.
	moveSegments(t, path, "")
	a := filepath.Join(t.TempDir(), "a.db")
	adb := openJournaled(t, a)
	recordN(t, adb, 3)
	if err := adb.Close(); err != nil { // events 1-3 in a's table
		t.Fatal(err)
	}
	b := filepath.Join(t.TempDir(), "b.db")
	bdb := openJournaled(t, b)
	stopFolding(t, bdb)
	recordN(t, bdb, 5) // events 1-5 of another chain, in b's journal
	crash(t, bdb)
	moveSegments(t, a, "")
	moveSegments(t, b, a)
	_, err = Open(context.Background(), "sqlite:"+a)
	if err == nil || !strings.Contains(err.Error(), "do not belong together") || !strings.Contains(err.Error(), "event 4") {
		t.Fatalf("open with another database's journal: %v", err)
	}
}

func TestAuditJournalOneHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lanyard.db")
	db := openJournaled(t, path)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{AuditJournal: true}, "needs it to itself"},
		{Options{}, "a server with the audit journal holds"},
	} {
		second, err := OpenWith(context.Background(), "sqlite:"+path, c.o)
		if err == nil {
			second.Close()
			t.Fatalf("a second open (%+v) while the journal is held succeeded", c.o)
		}
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("second open (%+v): %v; want %q", c.o, err, c.want)
		}
	}
	db.Close()
	// Opens without the journal share the database; a journal is not opened beside them.
	a, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatalf("a second open without the journal: %v", err)
	}
	defer b.Close()
	if _, err := OpenWith(context.Background(), "sqlite:"+path, Options{AuditJournal: true}); err == nil || !strings.Contains(err.Error(), "needs it to itself") {
		t.Fatalf("a journal beside opens without one: %v", err)
	}
}

// oneUnfolded opens a journaled database whose fold does not run and records one event, which
// stays in the journal; it returns the database, the recorder and the event to record again.
func oneUnfolded(t *testing.T) (*DB, *audit.Recorder, audit.Event) {
	t.Helper()
	db := openJournaled(t, filepath.Join(t.TempDir(), "lanyard.db"))
	stopFolding(t, db)
	rec := &audit.Recorder{Store: db, Now: time.Now}
	ev := audit.Event{Actor: "a", Action: "vault.secret.get", Target: "t", Result: audit.Success}
	if _, err := rec.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return db, rec, ev
}

func TestAuditJournalRefusesWhileTheTableRefuses(t *testing.T) {
	db, rec, ev := oneUnfolded(t)
	defer db.Close()
	ctx := context.Background()
	broken := errors.New("the table refuses rows")
	db.journal.foldMu.Lock()
	db.journal.failFold = func() error { return broken }
	db.journal.foldMu.Unlock()
	// The event is in the journal; the fold fails, and so do the readers.
	if _, _, err := db.AuditHead(ctx); !errors.Is(err, broken) {
		t.Fatalf("AuditHead while the fold fails: %v", err)
	}
	// From then on appends fold first, and are refused while that fails.
	for range 3 {
		if _, err := rec.Record(ctx, ev); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("record while the table refuses the journal's events: %v, want Unavailable", err)
		}
	}
	db.journal.foldMu.Lock()
	db.journal.failFold = nil
	db.journal.foldMu.Unlock()
	if _, err := rec.Record(ctx, ev); err != nil {
		t.Fatalf("record once the table takes rows again: %v", err)
	}
	if seq, _, err := db.AuditHead(ctx); err != nil || seq != 2 {
		t.Fatalf("AuditHead = %d, %v; want 2 (the refused appends took no place in the chain)", seq, err)
	}
}

func TestAuditJournalWriteFailure(t *testing.T) {
	db, rec, ev := oneUnfolded(t)
	defer db.Close()
	ctx := context.Background()
	// A segment that cannot be written, nor cut back: the journal refuses every append from then on.
	j := db.journal
	j.mu.Lock()
	name := j.f.Name()
	j.f.Close()
	ro, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	j.f = ro
	j.mu.Unlock()
	for range 2 {
		if _, err := rec.Record(ctx, ev); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("record with an unwritable journal: %v, want Unavailable", err)
		}
	}
	if seq, _, err := db.AuditHead(ctx); err != nil || seq != 1 {
		t.Fatalf("AuditHead = %d, %v; want 1", seq, err)
	}
}

func TestJournalRecordRoundTrip(t *testing.T) {
	e := audit.Event{Seq: 1 << 40, Time: time.UnixMicro(1_700_000_000_123_456).UTC(), Actor: "ä", Action: "x.y",
		Target: "t", Result: audit.Denied, RequestID: "r", Detail: strings.Repeat("d", 300), PrevHash: "p", Hash: "h"}
	buf, err := appendJournalRecord([]byte("junk"), e)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := decodeJournalRecord(buf[4:])
	if err != nil || n != len(buf)-4 || got != e {
		t.Fatalf("decode = %+v, %d, %v; want %+v, %d", got, n, err, e, len(buf)-4)
	}
	for cut := 0; cut < n; cut++ {
		if _, k, err := decodeJournalRecord(buf[4 : 4+cut]); err == nil || k != 0 {
			t.Fatalf("a record cut to %d bytes decoded (%d, %v)", cut, k, err)
		}
	}
	if _, err := appendJournalRecord(nil, audit.Event{Seq: 1, Detail: strings.Repeat("x", journalMaxRecord)}); err == nil {
		t.Fatal("an event larger than a record may be was encoded")
	}
}

func FuzzJournalRecord(f *testing.F) {
	rec, _ := appendJournalRecord(nil, audit.Event{Seq: 7, Time: time.UnixMicro(5), Actor: "a", Hash: "h"})
	f.Add(rec)
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, n, err := decodeJournalRecord(data)
		if err != nil {
			return
		}
		if n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		again, err := appendJournalRecord(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		e2, _, err := decodeJournalRecord(again)
		if err != nil || e2 != e {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", e, e2, err)
		}
	})
}

func TestAuditJournalFoldsABacklogInParts(t *testing.T) {
	db := openJournaled(t, filepath.Join(t.TempDir(), "lanyard.db"))
	defer db.Close()
	stopFolding(t, db)
	evs := recordN(t, db, journalFoldAt+500)
	calls := 0
	db.journal.foldMu.Lock()
	db.journal.failFold = func() error {
		if calls++; calls == 2 {
			return errors.New("the second part fails")
		}
		return nil
	}
	db.journal.foldMu.Unlock()
	if _, _, err := db.AuditHead(context.Background()); err == nil {
		t.Fatal("AuditHead folded everything though the second part failed")
	}
	var inTable int64
	if err := db.pool().queryRow(context.Background(), `SELECT seq FROM audit_head WHERE id = 1`).Scan(&inTable); err != nil || inTable != journalFoldAt {
		t.Fatalf("the table's head after the first part: %d, %v; want %d", inTable, err, journalFoldAt)
	}
	db.journal.foldMu.Lock()
	db.journal.failFold = nil
	db.journal.foldMu.Unlock()
	checkChain(t, db, evs) // the retry skips the part that is in, and folds the rest
}
