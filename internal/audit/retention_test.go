package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
)

func record(t *testing.T, db *store.DB, n int) {
	t.Helper()
	rec := &audit.Recorder{Store: db, Now: time.Now}
	for i := 0; i < n; i++ {
		if _, err := rec.Record(context.Background(), audit.Event{Actor: "tester", Action: "secret.get", Target: "kv/db", Result: audit.Success}); err != nil {
			t.Fatal(err)
		}
	}
}

func retention(t *testing.T, db *store.DB, c *audit.Checkpointer) *audit.Retention {
	return &audit.Retention{Store: db, Dir: filepath.Join(t.TempDir(), "segments"), MaxEvents: 1000, SegmentEvents: 1000, Signer: c, Server: "test"}
}

func keysOf(t *testing.T, db *store.DB) []audit.CheckpointKey {
	t.Helper()
	keys, err := db.AuditCheckpointKeys(context.Background())
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys %v %v", keys, err)
	}
	return keys
}

// TestRetentionExportsThenPrunes: events past the limit leave the store only as segment files
// that chain to each other and to what stays; verify still passes on the shortened chain, and
// a checkpoint older than the cut is still accepted.
func TestRetentionExportsThenPrunes(t *testing.T) {
	db, _, c, old := checkpointed(t, 1)
	record(t, db, 2999)
	r := retention(t, db, c)
	segs, err := r.Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || segs[0].FirstSeq != 1 || segs[0].LastSeq != 1000 || segs[1].FirstSeq != 1001 || segs[1].LastSeq != 2000 {
		t.Fatalf("segments %+v, want 1-1000 and 1001-2000", segs)
	}
	n, last, problems, err := audit.VerifyChain(context.Background(), db)
	if err != nil || n != 1000 || last != 3000 || len(problems) != 0 {
		t.Fatalf("the chain after pruning: %d events up to %d, problems %v, %v", n, last, problems, err)
	}
	if p := verifyAll(t, db, []audit.Checkpoint{old}); len(p) != 0 {
		t.Fatalf("checkpoints after pruning: %v", p)
	}
	prev := ""
	for _, s := range segs {
		res, err := audit.VerifySegmentFile(filepath.Join(r.Dir, s.File), prev, keysOf(t, db))
		if err != nil || len(res.Problems) != 0 || res.LastHash != s.LastHash {
			t.Fatalf("segment %s: %+v %v", s.File, res, err)
		}
		prev = res.LastHash
	}
	base, baseHash, _ := db.AuditBase(context.Background())
	evs, _ := db.ListAudit(context.Background(), 0, 1)
	if base != 2000 || baseHash != prev || evs[0].Seq != 2001 || evs[0].PrevHash != prev {
		t.Fatalf("base %d %s, first event %+v: the store does not continue the segments", base, baseHash, evs[0])
	}
	recorded, _ := db.ListAuditSegments(context.Background())
	if len(recorded) != 2 || recorded[1].SHA256 != segs[1].SHA256 {
		t.Fatalf("recorded segments %+v", recorded)
	}
	// Nothing more to do until more events come.
	if more, err := r.Apply(context.Background()); err != nil || len(more) != 0 {
		t.Fatalf("second apply: %v %v", more, err)
	}
}

// TestSegmentTampering: an exported file whose event was edited, or whose checkpoint was, is
// reported.
func TestSegmentTampering(t *testing.T) {
	db, _, c, _ := checkpointed(t, 1)
	record(t, db, 1999)
	r := retention(t, db, c)
	segs, err := r.Apply(context.Background())
	if err != nil || len(segs) != 1 {
		t.Fatal(segs, err)
	}
	path := filepath.Join(r.Dir, segs[0].File)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"target":"kv/db"`), []byte(`"target":"kv/xx"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := audit.VerifySegmentFile(path, "", keysOf(t, db))
	if err != nil || len(res.Problems) == 0 || !strings.Contains(res.Problems[0].Reason, "changed") {
		t.Fatalf("edited event: %+v %v", res, err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if err := os.WriteFile(path, bytes.Join(lines[:len(lines)-2], []byte("\n")), 0o600); err != nil { // last event and checkpoint cut off
		t.Fatal(err)
	}
	res, err = audit.VerifySegmentFile(path, "", keysOf(t, db))
	if err != nil || len(res.Problems) == 0 || !strings.Contains(res.Problems[0].Reason, "no closing checkpoint") {
		t.Fatalf("cut segment: %+v %v", res, err)
	}
}

// TestPruneRefusesAConcurrentPrune: a second server's prune of the same events conflicts.
func TestPruneRefusesAConcurrentPrune(t *testing.T) {
	db, _ := chain(t, 10)
	evs, _ := db.ListAudit(context.Background(), 4, 1)
	seg := audit.Segment{FirstSeq: 1, LastSeq: 5, LastHash: evs[0].Hash, File: "a", SHA256: "x", Server: "s1", ExportedAt: time.Now()}
	if err := db.PruneAudit(context.Background(), seg); err != nil {
		t.Fatal(err)
	}
	if err := db.PruneAudit(context.Background(), seg); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("second prune: %v, want a conflict", err)
	}
	bad := audit.Segment{FirstSeq: 6, LastSeq: 7, LastHash: "not-the-hash", File: "b", SHA256: "x", Server: "s1", ExportedAt: time.Now()}
	if err := db.PruneAudit(context.Background(), bad); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("prune with a wrong hash: %v, want a conflict", err)
	}
}

// TestRetentionKeepsTheStoreFlat: under a steady stream of events with retention applied, the
// database file stops growing once the limit is reached (freed pages are reused).
func TestRetentionKeepsTheStoreFlat(t *testing.T) {
	db, _, file := chainAt(t, 0)
	c := &audit.Checkpointer{Store: db, Key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	r := retention(t, db, c)
	r.MaxEvents, r.SegmentEvents = 2000, 2000
	size := func() int64 {
		var total int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(file + suffix); err == nil {
				total += fi.Size()
			}
		}
		return total
	}
	var sizes []int64
	for round := 0; round < 8; round++ {
		record(t, db, 2000)
		if _, err := r.Apply(context.Background()); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, size())
	}
	t.Logf("store size (database and WAL) after each round of 2000 events, retention at 2000: %v", sizes)
	// The baseline, same run: the same rounds without retention.
	plain, _, plainFile := chainAt(t, 0)
	var plainSizes []int64
	for round := 0; round < 8; round++ {
		record(t, plain, 2000)
		var total int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(plainFile + suffix); err == nil {
				total += fi.Size()
			}
		}
		plainSizes = append(plainSizes, total)
	}
	t.Logf("the same without retention: %v", plainSizes)
	if sizes[7] > sizes[2]*5/4 {
		t.Fatalf("the store grew from %d to %d bytes between rounds 3 and 8 with retention on", sizes[2], sizes[7])
	}
	if n, _, problems, err := audit.VerifyChain(context.Background(), db); n != 2000 || len(problems) != 0 || err != nil {
		t.Fatalf("chain after 8 rounds: %d %v %v", n, problems, err)
	}
}

// TestStreamFileAndSyslog: every recorded event reaches a file and a syslog receiver as JSON.
func TestStreamFileAndSyslog(t *testing.T) {
	db, _ := chain(t, 0)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var streams []*audit.Stream
	for _, dest := range []string{"file:" + file, "syslog+udp://" + udp.LocalAddr().String()} {
		st, err := audit.OpenStream(dest, nil)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	done := make(chan struct{}, 2)
	for _, st := range streams {
		go func() { _ = st.Run(ctx); done <- struct{}{} }()
	}
	for _, st := range streams {
		rec := &audit.Recorder{Store: db, Now: time.Now, Stream: st}
		if _, err := rec.Record(context.Background(), audit.Event{Actor: "tester", Action: "vault.secret.get", Target: "kv/db", Result: audit.Success}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	_ = udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := udp.ReadFrom(buf)
	if err != nil || !bytes.Contains(buf[:n], []byte(`"action":"vault.secret.get"`)) || !bytes.Contains(buf[:n], []byte("lanyard")) {
		t.Fatalf("syslog message %q %v", buf[:n], err)
	}
	cancel()
	<-done
	<-done
	b, err := os.ReadFile(file)
	var e audit.Event
	if err != nil || json.Unmarshal(bytes.TrimSpace(b), &e) != nil || e.Seq != 1 || e.Hash != audit.Hash(e) {
		t.Fatalf("file stream %q %v", b, err)
	}
	if _, err := audit.OpenStream("ftp://x", nil); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("bad destination: %v", err)
	}
}
