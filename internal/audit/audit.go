package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// Results an event may carry.
const (
	Success = "success"
	Denied  = "denied"
	Failure = "failure"
)

// Recorder appends events to the store and mirrors them to the log.
//
// When the store can append several events in one transaction (BatchStore), concurrent Record
// calls share transactions: one call writes, and those that arrive meanwhile wait and are
// written together next (group commit). Each call still returns only once its own event is
// committed, so what is audited is on disk before the action's answer goes out.
type Recorder struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time
	// Level is the level at which an event is mirrored to Log; nil: info for every event. The
	// server logs successful reads at debug, so that the hot paths write no line per request
	// at the default level (the event is in the store either way).
	Level func(Event) slog.Level
	// Stream, when set, gets every recorded event (audit.stream).
	Stream *Stream

	mu      sync.Mutex
	queue   []*pending
	writing bool
}

// BatchStore is a Store that appends several events, chained, in one transaction.
type BatchStore interface {
	Store
	AppendAuditBatch(ctx context.Context, build func(prevSeq int64, prevHash string) ([]Event, error)) ([]Event, error)
}

// maxBatch bounds the events of one group commit.
const maxBatch = 256

// pending is a Record call waiting for its event to be written.
type pending struct {
	ev   Event
	out  Event
	err  error
	done chan struct{}
}

// Record appends ev (its Seq, Time, PrevHash and Hash are filled in) and logs it. A failure to
// record is returned: callers decide whether an action may stand without its audit event.
func (r *Recorder) Record(ctx context.Context, ev Event) (Event, error) {
	ev.Time = r.Now().UTC().Truncate(time.Microsecond)
	var out Event
	var err error
	if bs, ok := r.Store.(BatchStore); ok {
		out, err = r.recordBatched(ctx, bs, ev)
	} else {
		out, err = r.Store.AppendAudit(ctx, func(prevSeq int64, prevHash string) (Event, error) {
			return link(ev, prevSeq, prevHash), nil
		})
	}
	if err != nil {
		return Event{}, fmt.Errorf("audit: record %s: %w", ev.Action, err)
	}
	if r.Stream != nil {
		r.Stream.Send(out)
	}
	level := slog.LevelInfo
	if r.Level != nil {
		level = r.Level(out)
	}
	if r.Log != nil && r.Log.Enabled(ctx, level) {
		r.Log.LogAttrs(ctx, level, "audit",
			slog.Int64("seq", out.Seq), slog.String("actor", out.Actor), slog.String("action", out.Action),
			slog.String("target", out.Target), slog.String("result", out.Result), slog.String("request_id", out.RequestID))
	}
	return out, nil
}

// link gives e its place in the chain after the event prevSeq, whose hash is prevHash.
func link(e Event, prevSeq int64, prevHash string) Event {
	e.Seq = prevSeq + 1
	e.PrevHash = prevHash
	e.Hash = Hash(e)
	return e
}

// recordBatched queues ev; the first caller to find no write in progress writes the queue, in
// rounds, until it is empty.
func (r *Recorder) recordBatched(ctx context.Context, bs BatchStore, ev Event) (Event, error) {
	p := &pending{ev: ev, done: make(chan struct{})}
	r.mu.Lock()
	r.queue = append(r.queue, p)
	if r.writing {
		r.mu.Unlock()
		select {
		case <-p.done:
			return p.out, p.err
		case <-ctx.Done():
			// The event may still be written; the caller's action is failing anyway.
			return Event{}, ctx.Err()
		}
	}
	r.writing = true
	// Let the goroutines that are ready to run first: on a busy server some are about to queue
	// events, and a bigger batch shares one transaction's cost. On an idle one this returns at once.
	r.mu.Unlock()
	runtime.Gosched()
	r.mu.Lock()
	for len(r.queue) > 0 {
		batch := r.queue[:min(len(r.queue), maxBatch)]
		r.queue = r.queue[len(batch):]
		r.mu.Unlock()
		r.write(bs, batch)
		r.mu.Lock()
	}
	r.writing = false
	r.mu.Unlock()
	return p.out, p.err
}

// write appends one batch and tells its callers. It does not use a caller's context: the
// other callers' events must not fail because one caller went away.
func (r *Recorder) write(bs BatchStore, batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := bs.AppendAuditBatch(ctx, func(prevSeq int64, prevHash string) ([]Event, error) {
		evs := make([]Event, len(batch))
		for i, p := range batch {
			evs[i] = link(p.ev, prevSeq, prevHash)
			prevSeq, prevHash = evs[i].Seq, evs[i].Hash
		}
		return evs, nil
	})
	for i, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.out = out[i]
		}
		close(p.done)
	}
}

// Hash is the hex SHA-256 over the event's fields, each length-prefixed so that no two different
// events encode alike, and the previous event's hash.
func Hash(e Event) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("lanyard-audit-v1")
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UTC().UnixMicro()))
	h.Write(n[:])
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Result, e.RequestID, e.Detail, e.PrevHash} {
		put(s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Problem is one break in the chain found by Verify.
type Problem struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return fmt.Sprintf("event %d: %s", p.Seq, p.Reason) }

// Verify walks the whole chain and reports every event whose hash does not match its content, whose
// link to the previous event is broken, or whose sequence number skips (a removed row) or repeats.
// It returns the number of events checked.
func Verify(ctx context.Context, st Store) (int, []Problem, error) {
	n, _, problems, err := VerifyChain(ctx, st)
	return n, problems, err
}

// VerifyChain is Verify that also returns the last event's seq (0 for an empty chain).
func VerifyChain(ctx context.Context, st Store) (int, int64, []Problem, error) {
	const page = 1000
	var (
		problems []Problem
		prevSeq  int64
		prevHash string
		n        int
	)
	// After retention, the chain in the store starts after its base: the last exported event.
	if b, ok := st.(baser); ok {
		var err error
		if prevSeq, prevHash, err = b.AuditBase(ctx); err != nil {
			return 0, 0, nil, err
		}
	}
	for {
		evs, err := st.ListAudit(ctx, prevSeq, page)
		if err != nil {
			return n, prevSeq, problems, err
		}
		for _, e := range evs {
			n++
			switch {
			case e.Seq != prevSeq+1:
				problems = append(problems, Problem{e.Seq, fmt.Sprintf("sequence jumps from %d to %d: events were removed", prevSeq, e.Seq)})
			case e.PrevHash != prevHash:
				problems = append(problems, Problem{e.Seq, "does not link to the event before it: an event before it was changed, removed or inserted"})
			}
			if Hash(e) != e.Hash {
				problems = append(problems, Problem{e.Seq, "content does not match its hash: the event was changed"})
			}
			prevSeq, prevHash = e.Seq, e.Hash
		}
		if len(evs) < page {
			return n, prevSeq, problems, nil
		}
	}
}
