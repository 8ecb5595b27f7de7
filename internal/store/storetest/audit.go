package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/store"
)

// chain returns a build function for AppendAudit that links ev into the chain. The hash is this
// suite's own: the store does not care how it is computed, only that it links.
func chain(ev audit.Event) func(prevSeq int64, prevHash string) (audit.Event, error) {
	return func(prevSeq int64, prevHash string) (audit.Event, error) {
		e := ev
		e.Seq, e.PrevHash = prevSeq+1, prevHash
		sum := sha256.Sum256(fmt.Appendf(nil, "%d|%s|%s|%s|%d", e.Seq, e.PrevHash, e.Actor, e.Action, e.Time.UnixMicro()))
		e.Hash = hex.EncodeToString(sum[:])
		return e, nil
	}
}

func sameEvent(t *testing.T, got, want audit.Event) {
	t.Helper()
	gt, wt := got, want
	gt.Time, wt.Time = time.Time{}, time.Time{}
	if gt != wt {
		t.Errorf("event = %+v, want %+v", got, want)
	}
	sameTime(t, fmt.Sprintf("event %d Time", want.Seq), got.Time, want.Time)
}

// checkChain checks that evs are events 1..n, each linking to the one before.
func checkChain(t *testing.T, evs []audit.Event, n int) {
	t.Helper()
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	prev := ""
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i+1, e.Seq)
		}
		if e.PrevHash != prev {
			t.Fatalf("event %d has prev hash %q, want %q", e.Seq, e.PrevHash, prev)
		}
		prev = e.Hash
	}
}

func listAll(t *testing.T, db *store.DB) []audit.Event {
	t.Helper()
	var all []audit.Event
	for after := int64(0); ; {
		evs, err := db.ListAudit(ctx, after, 64)
		must(t, err, "ListAudit")
		all = append(all, evs...)
		if len(evs) < 64 {
			return all
		}
		after = evs[len(evs)-1].Seq
	}
}

func testAudit(t *testing.T, db *store.DB) {
	evs, err := db.ListAudit(ctx, 0, 10)
	must(t, err, "ListAudit on an empty store")
	if len(evs) != 0 {
		t.Fatalf("ListAudit on an empty store = %+v", evs)
	}

	var want []audit.Event
	for i, ev := range []audit.Event{
		{Time: t0, Actor: "admin-socket:uid=0", Action: "tenant.create", Target: "t1", Result: "success", RequestID: "r1", Detail: "name=A"},
		{Time: t0.Add(time.Second), Actor: "system", Action: "signing-key.rotate", Target: "k1", Result: "success"},
		{Actor: "p1", Action: "secret.get", Target: "v/s", Result: "denied"}, // zero Time
	} {
		var gotPrev struct {
			seq  int64
			hash string
		}
		out, err := db.AppendAudit(ctx, func(prevSeq int64, prevHash string) (audit.Event, error) {
			gotPrev.seq, gotPrev.hash = prevSeq, prevHash
			return chain(ev)(prevSeq, prevHash)
		})
		must(t, err, "AppendAudit")
		if i == 0 && (gotPrev.seq != 0 || gotPrev.hash != "") {
			t.Errorf("first build got (%d, %q), want (0, \"\")", gotPrev.seq, gotPrev.hash)
		}
		if i > 0 && (gotPrev.seq != want[i-1].Seq || gotPrev.hash != want[i-1].Hash) {
			t.Errorf("build %d got (%d, %q), want (%d, %q)", i+1, gotPrev.seq, gotPrev.hash, want[i-1].Seq, want[i-1].Hash)
		}
		e, _ := chain(ev)(gotPrev.seq, gotPrev.hash)
		sameEvent(t, out, e) // the event as stored, time in UTC
		want = append(want, e)
	}

	evs = listAll(t, db)
	checkChain(t, evs, 3)
	for i := range want {
		sameEvent(t, evs[i], want[i])
	}

	evs, err = db.ListAudit(ctx, 1, 1)
	must(t, err, "ListAudit after 1, limit 1")
	if len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("ListAudit after 1, limit 1 = %+v, want event 2", evs)
	}
	evs, err = db.ListAudit(ctx, 3, 10)
	must(t, err, "ListAudit after the last")
	if len(evs) != 0 {
		t.Fatalf("ListAudit after the last = %+v", evs)
	}
	_, err = db.ListAudit(ctx, 0, 0)
	wantKind(t, err, errs.Invalid, "ListAudit with limit 0")
}

// testAuditRejectsBadEvents: a failing build, or one that breaks the chain, writes nothing.
func testAuditRejectsBadEvents(t *testing.T, db *store.DB) {
	ev := audit.Event{Time: t0, Actor: "system", Action: "test", Target: "x", Result: "success"}
	_, err := db.AppendAudit(ctx, chain(ev))
	must(t, err, "AppendAudit")

	_, err = db.AppendAudit(ctx, func(int64, string) (audit.Event, error) { return audit.Event{}, errInjected })
	if !errors.Is(err, errInjected) {
		t.Fatalf("AppendAudit with a failing build = %v, want its error", err)
	}
	_, err = db.AppendAudit(ctx, func(prevSeq int64, prevHash string) (audit.Event, error) {
		e, err := chain(ev)(prevSeq, prevHash)
		e.Seq = prevSeq + 2
		return e, err
	})
	if err == nil {
		t.Fatal("AppendAudit of an event that skips a seq succeeded")
	}
	_, err = db.AppendAudit(ctx, func(prevSeq int64, prevHash string) (audit.Event, error) {
		return chain(ev)(prevSeq, "not the previous hash")
	})
	if err == nil {
		t.Fatal("AppendAudit of an event that does not link succeeded")
	}

	out, err := db.AppendAudit(ctx, chain(ev))
	must(t, err, "AppendAudit after the failures")
	if out.Seq != 2 {
		t.Fatalf("event after the failures has seq %d, want 2", out.Seq)
	}
	checkChain(t, listAll(t, db), 2)
}

// testAuditConcurrent is many requests on several servers recording at once: every event gets
// its own seq, 1..n without gaps, each linking to the one before.
func testAuditConcurrent(t *testing.T, db *store.DB) {
	got := make([][]int64, workers)
	errList := parallel(workers, func(i int) error {
		for r := range rounds {
			ev := audit.Event{Time: t0, Actor: fmt.Sprintf("w%d", i), Action: fmt.Sprintf("r%d", r), Result: "success"}
			out, err := db.AppendAudit(ctx, chain(ev))
			if err != nil {
				return err
			}
			got[i] = append(got[i], out.Seq)
		}
		return nil
	})
	waitAll(t, errList, "AppendAudit")

	n := workers * rounds
	seen := make(map[int64]bool)
	for i, seqs := range got {
		for j, s := range seqs {
			if seen[s] {
				t.Fatalf("seq %d returned twice", s)
			}
			seen[s] = true
			if j > 0 && s <= seqs[j-1] {
				t.Errorf("worker %d got seq %d after %d", i, s, seqs[j-1])
			}
		}
	}
	for s := int64(1); s <= int64(n); s++ {
		if !seen[s] {
			t.Errorf("seq %d was never returned", s)
		}
	}
	evs := listAll(t, db)
	checkChain(t, evs, n)
	for _, e := range evs {
		if want, _ := chain(audit.Event{Time: e.Time, Actor: e.Actor, Action: e.Action, Result: e.Result})(e.Seq-1, e.PrevHash); want.Hash != e.Hash {
			t.Fatalf("event %d: stored hash does not match its content", e.Seq)
		}
	}
}

// testAuditCheckpointsAndPrune: checkpoint keys (first stored wins), checkpoints newest first,
// and a prune that moves the base, refuses a stale base and keeps the chain linked.
func testAuditCheckpointsAndPrune(t *testing.T, db *store.DB) {
	for i := 0; i < 6; i++ {
		_, err := db.AppendAudit(ctx, chain(audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Actor: "system", Action: "test", Target: "x", Result: "success"}))
		must(t, err, "AppendAudit")
	}
	make1 := func(id string) func() (string, []byte, string, []byte, error) {
		return func() (string, []byte, string, []byte, error) {
			return id, []byte(id + "-pub"), "kek", []byte(id + "-sealed"), nil
		}
	}
	id, _, sealed, err := db.AuditCheckpointKey(ctx, make1("k1"))
	must(t, err, "AuditCheckpointKey")
	id2, _, _, err := db.AuditCheckpointKey(ctx, make1("k2"))
	must(t, err, "AuditCheckpointKey again")
	if id != "k1" || id2 != "k1" || string(sealed) != "k1-sealed" {
		t.Fatalf("checkpoint keys %q %q %q: the first one stored must stay", id, id2, sealed)
	}
	seq, hash, err := db.AuditHead(ctx)
	must(t, err, "AuditHead")
	if seq != 6 || hash == "" {
		t.Fatalf("head %d %q", seq, hash)
	}
	for i, at := range []time.Time{t0, t0.Add(time.Minute)} {
		must(t, db.PutAuditCheckpoint(ctx, audit.Checkpoint{Seq: int64(3 + i), Hash: "h", Time: at, KeyID: "k1", Signature: []byte("sig")}), "PutAuditCheckpoint")
	}
	cps, err := db.ListAuditCheckpoints(ctx, 10)
	must(t, err, "ListAuditCheckpoints")
	if len(cps) != 2 || cps[0].Seq != 4 || !cps[0].Time.Equal(t0.Add(time.Minute)) || string(cps[0].Signature) != "sig" {
		t.Fatalf("checkpoints %+v, want two, newest first", cps)
	}
	before, err := db.AuditSeqBefore(ctx, t0.Add(3*time.Second).UnixMicro())
	must(t, err, "AuditSeqBefore")
	if before != 3 {
		t.Fatalf("AuditSeqBefore = %d, want 3", before)
	}
	evs := listAll(t, db)
	seg := audit.Segment{FirstSeq: 1, LastSeq: 3, LastHash: evs[2].Hash, File: "f", SHA256: "d", Server: "s", ExportedAt: t0}
	must(t, db.PruneAudit(ctx, seg), "PruneAudit")
	wantKind(t, db.PruneAudit(ctx, seg), errs.Conflict, "PruneAudit of pruned events")
	base, baseHash, err := db.AuditBase(ctx)
	must(t, err, "AuditBase")
	left := listAll(t, db)
	if base != 3 || baseHash != evs[2].Hash || len(left) != 3 || left[0].Seq != 4 || left[0].PrevHash != baseHash {
		t.Fatalf("after pruning 1-3: base %d, events %+v", base, left)
	}
	segs, err := db.ListAuditSegments(ctx)
	must(t, err, "ListAuditSegments")
	if len(segs) != 1 || segs[0].LastSeq != 3 || !segs[0].ExportedAt.Equal(t0) {
		t.Fatalf("segments %+v", segs)
	}
	// New events still link to the head.
	_, err = db.AppendAudit(ctx, chain(audit.Event{Time: t0, Actor: "system", Action: "test", Target: "y", Result: "success"}))
	must(t, err, "AppendAudit after pruning")
}

// testAuditQuery: QueryAudit selects what audit.Query.Match says, in seq order either way,
// within the seq bounds, a page at a time.
func testAuditQuery(t *testing.T, db *store.DB) {
	actors := []string{"console:a", "console:ab", "sp:1"}
	actions := []string{"vault.secret.get", "vault.secret", "vault.secrets.list", "vault.secret-x", "resourcegroup.write", "directory.application.create"}
	targets := []string{"/subscriptions/s/resourceGroups/rg", "/subscriptions/s/resourceGroups/rg2/providers/x", "/subscriptions/s/resourceGroups/rg/providers/y", "ÿ-target", "Z"}
	results := []string{audit.Success, audit.Denied, audit.Failure}
	base := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var all []audit.Event
	for i := range 150 {
		ev := audit.Event{Time: base.Add(time.Duration(i) * time.Minute), Actor: actors[i%3], Action: actions[i%6], Target: targets[i%5], Result: results[i%7%3]}
		got, err := db.AppendAudit(ctx, chain(ev))
		must(t, err, "AppendAudit")
		all = append(all, got)
	}
	checkAuditQueries(t, db, all, []audit.Query{
		{},
		{Actor: "console:a"},
		{Action: "vault.secret"},
		{Action: "vault"},
		{Action: "vault.secret.get", Actor: "sp:1"},
		{Target: "/subscriptions/s/resourceGroups/rg"},
		{Target: "/subscriptions/s/resourceGroups/rg/"},
		{Target: "ÿ"},
		{Result: audit.Denied, Action: "resourcegroup"},
		{From: base.Add(30 * time.Minute), To: base.Add(90 * time.Minute)},
		{Action: "vault.secret", Target: "/subscriptions/", Result: audit.Success, After: 20, Before: 140},
		{Actor: "nobody"},
	})
	if _, err := db.QueryAudit(ctx, audit.Query{}); !errs.Is(err, errs.Invalid) {
		t.Errorf("QueryAudit without a limit: %v, want Invalid", err)
	}
}

// checkAuditQueries checks that QueryAudit, a page of 7 at a time either way, returns what a
// brute-force filter of all (every event in the store, in seq order) selects.
func checkAuditQueries(t *testing.T, db *store.DB, all []audit.Event, queries []audit.Query) {
	t.Helper()
	bySeq := make(map[int64]audit.Event, len(all))
	for _, e := range all {
		bySeq[e.Seq] = e
	}
	for _, q := range queries {
		for _, newest := range []bool{false, true} {
			q := q
			q.Newest, q.Limit = newest, 7
			var want []int64
			for _, e := range all {
				if q.Match(e) && e.Seq > q.After && (q.Before == 0 || e.Seq < q.Before) {
					want = append(want, e.Seq)
				}
			}
			if newest {
				slices.Reverse(want)
			}
			var got []int64
			for {
				page, err := db.QueryAudit(ctx, q)
				must(t, err, "QueryAudit")
				for _, e := range page {
					got = append(got, e.Seq)
					if want, ok := bySeq[e.Seq]; ok {
						sameEvent(t, e, want)
					}
				}
				if len(page) < q.Limit {
					break
				}
				if newest {
					q.Before = page[len(page)-1].Seq
				} else {
					q.After = page[len(page)-1].Seq
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("QueryAudit(%+v): %v, want %v", q, got, want)
			}
		}
	}
}

// testAuditQueryFolded: with the keys folded up to each of several watermarks, QueryAudit (the
// folded part through audit_keys, the tail from audit_events) answers every filter, either way,
// exactly as a filter of the whole chain; AuditSeqBefore finds old events on either side of the
// watermark; pruning removes the pruned events' keys.
func testAuditQueryFolded(t *testing.T, db *store.DB) {
	actors := []string{"console:a", "console:ab", "sp:1", "sp:2"}
	actions := []string{"vault.secret.get", "vault.secret", "vault.secrets.list", "vault.secret-x", "resourcegroup.write"}
	targets := []string{"/subscriptions/s/resourceGroups/rg", "/subscriptions/s/resourceGroups/rg2/providers/x", "/subscriptions/s/resourceGroups/rg/providers/y", "ÿ-target"}
	results := []string{audit.Success, audit.Denied, audit.Failure}
	base := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var all []audit.Event
	for i := range 120 {
		ev := audit.Event{Time: base.Add(time.Duration(i) * time.Minute), Actor: actors[i%4], Action: actions[i%5], Target: targets[i%4*i%3], Result: results[i%7%3]}
		got, err := db.AppendAudit(ctx, chain(ev))
		must(t, err, "AppendAudit")
		all = append(all, got)
	}
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	var queries []audit.Query
	for _, f := range []audit.Query{
		{},
		{Actor: "console:a"},
		{Actor: "sp:2", Result: audit.Success},
		{Action: "vault.secret"},
		{Action: "vault"},
		{Action: "resourcegroup.write", Actor: "console:a"},
		{Target: "/subscriptions/s/resourceGroups/rg"},
		{Target: "/subscriptions/s/resourceGroups/rg/"},
		{Target: "ÿ"},
		{Result: audit.Denied},
		{From: at(30)},
		{To: at(90)},
		{From: at(30), To: at(90)},
		{From: at(55), To: at(65), Action: "vault"},
		{Actor: "nobody"},
	} {
		for _, seqs := range [][2]int64{{0, 0}, {20, 0}, {0, 100}, {45, 75}, {59, 61}} {
			q := f
			q.After, q.Before = seqs[0], seqs[1]
			queries = append(queries, q)
		}
	}
	folded := 0
	for _, mark := range []int{0, 1, 50, 60, 119, 120} {
		for folded < mark {
			n, err := db.FoldAuditKeys(ctx, min(7, mark-folded))
			must(t, err, "FoldAuditKeys")
			if n != min(7, mark-folded) {
				t.Fatalf("FoldAuditKeys at %d folded %d, want %d", folded, n, min(7, mark-folded))
			}
			folded += n
		}
		t.Run(fmt.Sprintf("folded %d", mark), func(t *testing.T) {
			checkAuditQueries(t, db, all, queries)
			for _, m := range []int{0, 1, 50, 60, 61, 120, 200} {
				got, err := db.AuditSeqBefore(ctx, at(m).UnixMicro())
				must(t, err, "AuditSeqBefore")
				if want := int64(min(m, 120)); got != want {
					t.Errorf("AuditSeqBefore(minute %d) = %d, want %d", m, got, want)
				}
			}
		})
	}
	if n, err := db.FoldAuditKeys(ctx, 5); err != nil || n != 0 {
		t.Fatalf("FoldAuditKeys with nothing left: %d, %v", n, err)
	}
	wantKind(t, func() error { _, err := db.FoldAuditKeys(ctx, 0); return err }(), errs.Invalid, "FoldAuditKeys(0)")
	// Prune events 1-10, folded: their keys go too, so that nothing old is found before minute 10.
	seg := audit.Segment{FirstSeq: 1, LastSeq: 10, LastHash: all[9].Hash, File: "f", SHA256: "d", Server: "s", ExportedAt: base}
	must(t, db.PruneAudit(ctx, seg), "PruneAudit")
	if got, err := db.AuditSeqBefore(ctx, at(10).UnixMicro()); err != nil || got != 0 {
		t.Errorf("AuditSeqBefore(minute 10) after pruning 1-10 = %d, %v; want 0 (the keys are pruned too)", got, err)
	}
	checkAuditQueries(t, db, all[:0], []audit.Query{{Before: 11, Actor: "console:a"}, {To: at(10)}})
	// Events appended after a prune are folded after the rest.
	ev, err := db.AppendAudit(ctx, chain(audit.Event{Time: at(200), Actor: "console:a", Action: "vault.secret.get", Target: "t", Result: audit.Success}))
	must(t, err, "AppendAudit")
	if n, err := db.FoldAuditKeys(ctx, 5); err != nil || n != 1 {
		t.Fatalf("FoldAuditKeys after a prune: %d, %v; want 1", n, err)
	}
	all = append(all, ev)
	checkAuditQueries(t, db, all[10:], []audit.Query{{Actor: "console:a", After: 100}, {From: at(150)}})
}
