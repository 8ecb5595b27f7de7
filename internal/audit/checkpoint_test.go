package audit_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/store"
)

// checkpointed is a chain of n events with a checkpoint signed after them.
func checkpointed(t *testing.T, n int) (*store.DB, *sql.DB, *audit.Checkpointer, audit.Checkpoint) {
	t.Helper()
	db, raw := chain(t, n)
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 7
	c := &audit.Checkpointer{Store: db, Key: ed25519.NewKeyFromSeed(seed), Now: func() time.Time { return time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC) }}
	if _, _, _, err := db.AuditCheckpointKey(context.Background(), func() (string, []byte, string, []byte, error) {
		pub := c.Key.Public().(ed25519.PublicKey)
		return audit.CheckpointKeyID(pub), pub, "test-kek", []byte("sealed-elsewhere"), nil
	}); err != nil {
		t.Fatal(err)
	}
	cp, err := c.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Seq != int64(n) || len(cp.Signature) != ed25519.SignatureSize {
		t.Fatalf("checkpoint %+v, want seq %d and a signature", cp, n)
	}
	return db, raw, c, cp
}

// verifyAll is what `lanyard audit verify --checkpoints` does: the chain, then the stored
// checkpoints and the kept ones.
func verifyAll(t *testing.T, db *store.DB, kept []audit.Checkpoint) []audit.Problem {
	t.Helper()
	ctx := context.Background()
	_, last, problems, err := audit.VerifyChain(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.ListAuditCheckpoints(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := db.AuditCheckpointKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	more, err := audit.VerifyCheckpoints(ctx, db, last, append(kept, stored...), keys)
	if err != nil {
		t.Fatal(err)
	}
	return append(problems, more...)
}

// rechain recomputes every hash from seq `from` on and moves the head, as someone who can write
// the database and knows the (public) hash function can.
func rechain(t *testing.T, db *store.DB, raw *sql.DB, from int64) {
	t.Helper()
	evs, err := db.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for _, e := range evs {
		if e.Seq >= from {
			e.PrevHash = prev
			e.Hash = audit.Hash(e)
			if _, err := raw.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq); err != nil {
				t.Fatal(err)
			}
		}
		prev = e.Hash
	}
	if _, err := raw.Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, evs[len(evs)-1].Seq, prev); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointsIntact(t *testing.T) {
	db, _, c, cp := checkpointed(t, 12)
	// More events after the checkpoint, and a second checkpoint: all consistent.
	rec := &audit.Recorder{Store: db, Now: time.Now}
	if _, err := rec.Record(context.Background(), audit.Event{Actor: "tester", Action: "thing.do", Result: audit.Success}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := verifyAll(t, db, []audit.Checkpoint{cp}); len(p) != 0 {
		t.Fatalf("intact chain with checkpoints: %v", p)
	}
}

// TestCheckpointsFindTampering: the three attacks of issue 15 item 7, each with the stored
// checkpoints deleted too (the attacker can write the database), against a kept copy.
func TestCheckpointsFindTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *store.DB, raw *sql.DB)
		want   string // in some problem
		chain  bool   // the plain chain walk finds it too
	}{
		{"edited row", func(t *testing.T, db *store.DB, raw *sql.DB) {
			exec(t, raw, `UPDATE audit_events SET actor = 'someone-else' WHERE seq = 4`)
		}, "changed", true},
		{"newest rows deleted", func(t *testing.T, db *store.DB, raw *sql.DB) {
			exec(t, raw, `DELETE FROM audit_events WHERE seq > 9`)
			var hash string
			if err := raw.QueryRow(`SELECT hash FROM audit_events WHERE seq = 9`).Scan(&hash); err != nil {
				t.Fatal(err)
			}
			exec(t, raw, fmt.Sprintf(`UPDATE audit_head SET seq = 9, hash = '%s' WHERE id = 1`, hash))
		}, "truncation", false},
		{"chain rebuilt with SQL", func(t *testing.T, db *store.DB, raw *sql.DB) {
			exec(t, raw, `UPDATE audit_events SET target = 'innocent' WHERE seq = 5`)
			rechain(t, db, raw, 5)
		}, "rewritten", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, raw, _, cp := checkpointed(t, 12)
			c.tamper(t, db, raw)
			exec(t, raw, `DELETE FROM audit_checkpoints`)
			_, chainProblems := verify(t, db)
			if (len(chainProblems) > 0) != c.chain {
				t.Fatalf("the chain walk alone found %v (want found: %v)", chainProblems, c.chain)
			}
			p := verifyAll(t, db, []audit.Checkpoint{cp})
			if !hasProblem(p, c.want) {
				t.Fatalf("problems %v, want one mentioning %q", p, c.want)
			}
		})
	}
}

func TestCheckpointForgeries(t *testing.T) {
	db, _, _, cp := checkpointed(t, 5)
	altered := cp
	altered.Seq = 3 // moved to an earlier seq: the signature no longer covers it
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	forged := audit.Checkpoint{Seq: 5, Hash: cp.Hash, Time: cp.Time, KeyID: audit.CheckpointKeyID(other.Public().(ed25519.PublicKey))}
	forged.Signature = ed25519.Sign(other, audit.CheckpointMessage(forged))
	p := verifyAll(t, db, []audit.Checkpoint{altered, forged})
	if !hasProblem(p, "does not verify") || !hasProblem(p, "never used") {
		t.Fatalf("problems %v, want the altered and the forged checkpoint reported", p)
	}
}

// TestCheckpointerRunSignsAtShutdown: Run signs one more checkpoint when its context ends.
func TestCheckpointerRunSignsAtShutdown(t *testing.T) {
	db, _, c, _ := checkpointed(t, 3)
	c.Interval = time.Hour
	c.Now = func() time.Time { return time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cps, err := db.ListAuditCheckpoints(context.Background(), 10)
	if err != nil || len(cps) != 2 || !cps[0].Time.Equal(c.Now()) {
		t.Fatalf("checkpoints after shutdown %+v %v, want the shutdown one first of two", cps, err)
	}
}

func exec(t *testing.T, raw *sql.DB, stmt string) {
	t.Helper()
	if _, err := raw.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func hasProblem(ps []audit.Problem, sub string) bool {
	for _, p := range ps {
		if strings.Contains(p.Reason, sub) {
			return true
		}
	}
	return false
}
