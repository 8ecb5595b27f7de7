package audit

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Retention (Lanyard's own): the audit log is bounded by age and by count, without losing its
// evidence. Before events leave the store they are exported as a segment: a file of JSON lines,
// one event each (with its prevHash and hash, so segments chain to each other and to the store),
// ending with a line {"checkpoint": …} signed for the segment's last event. Only once the file
// is on disk (synced) does one transaction remove the events and move the chain's base (the last
// removed event's seq and hash), which the first remaining event links to.

// Segment is one exported run of events.
type Segment struct {
	FirstSeq   int64     `json:"firstSeq"`
	LastSeq    int64     `json:"lastSeq"`
	LastHash   string    `json:"lastHash"`
	File       string    `json:"file"`   // its name in the exporting server's export directory
	SHA256     string    `json:"sha256"` // hex digest of the file
	Server     string    `json:"server"` // the exporting server's host name
	ExportedAt time.Time `json:"exportedAt"`
}

// RetentionStore is what retention needs from storage.
type RetentionStore interface {
	Store
	AuditHead(ctx context.Context) (int64, string, error)
	AuditBase(ctx context.Context) (int64, string, error)
	// AuditSeqBefore returns the seq of the last event whose time (unix microseconds) is
	// before micro.
	AuditSeqBefore(ctx context.Context, micro int64) (int64, error)
	// PruneAudit removes the segment's events and moves the base: errs.Conflict when the base
	// is not seg.FirstSeq-1 or the chain's event seg.LastSeq does not have seg.LastHash.
	PruneAudit(ctx context.Context, seg Segment) error
	ListAuditSegments(ctx context.Context) ([]Segment, error)
}

// Retention exports and removes old events.
type Retention struct {
	Store RetentionStore
	Dir   string // where segment files are written (created 0700)
	// MaxAge removes events older than it; MaxEvents keeps at most that many in the store.
	// Zero turns each off; with both off, Run does nothing.
	MaxAge    time.Duration
	MaxEvents int64
	// SegmentEvents bounds one segment file (default 100000).
	SegmentEvents int64
	Every         time.Duration // how often Run looks; default 10 minutes
	Signer        *Checkpointer // signs each segment's closing checkpoint
	Server        string        // this server's name, recorded with each segment
	Log           *slog.Logger
	Now           func() time.Time
}

// Enabled says whether any limit is set.
func (r *Retention) Enabled() bool { return r.MaxAge > 0 || r.MaxEvents > 0 }

// Run applies retention every Every until ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	if !r.Enabled() {
		return nil
	}
	every := r.Every
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.Apply(ctx); err != nil && ctx.Err() == nil && r.Log != nil {
			r.Log.Warn("audit retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Apply exports and removes what the limits say is old, a segment at a time, and returns the
// segments it made.
func (r *Retention) Apply(ctx context.Context) ([]Segment, error) {
	var made []Segment
	for {
		base, _, err := r.Store.AuditBase(ctx)
		if err != nil {
			return made, err
		}
		cut, err := r.cut(ctx)
		if err != nil || cut <= base {
			return made, err
		}
		limit := r.SegmentEvents
		if limit <= 0 {
			limit = 100_000
		}
		seg, err := r.export(ctx, base+1, min(cut, base+limit))
		if err != nil {
			return made, err
		}
		made = append(made, seg)
	}
}

// cut is the last seq the limits say must go (0: none).
func (r *Retention) cut(ctx context.Context) (int64, error) {
	var cut int64
	if r.MaxEvents > 0 {
		head, _, err := r.Store.AuditHead(ctx)
		if err != nil {
			return 0, err
		}
		cut = max(cut, head-r.MaxEvents)
	}
	if r.MaxAge > 0 {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		seq, err := r.Store.AuditSeqBefore(ctx, now().Add(-r.MaxAge).UnixMicro())
		if err != nil {
			return 0, err
		}
		cut = max(cut, seq)
	}
	return cut, nil
}

// segmentLine is one line of a segment file: an event, or the closing checkpoint.
type segmentLine struct {
	*Event
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// export writes events first..last to a segment file, signs its closing checkpoint, then prunes
// them from the store.
func (r *Retention) export(ctx context.Context, first, last int64) (Segment, error) {
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return Segment{}, errs.Wrap(errs.Internal, err, "audit export directory")
	}
	name := fmt.Sprintf("audit-%012d-%012d.jsonl", first, last)
	tmp, err := os.CreateTemp(r.Dir, name+".*.tmp")
	if err != nil {
		return Segment{}, errs.Wrap(errs.Internal, err, "audit segment file")
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(tmp, h), 64<<10)
	enc := json.NewEncoder(w)
	var lastEv Event
	for after := first - 1; after < last; {
		evs, err := r.Store.ListAudit(ctx, after, int(min(1000, last-after)))
		if err != nil {
			tmp.Close()
			return Segment{}, err
		}
		if len(evs) == 0 || evs[0].Seq != after+1 {
			tmp.Close()
			return Segment{}, errs.E(errs.Conflict, "audit event %d is missing: the chain changed during the export", after+1)
		}
		for i := range evs {
			if evs[i].Seq != after+1 {
				tmp.Close()
				return Segment{}, errs.E(errs.Conflict, "audit event %d is missing", after+1)
			}
			if err := enc.Encode(segmentLine{Event: &evs[i]}); err != nil {
				tmp.Close()
				return Segment{}, errs.Wrap(errs.Internal, err, "write audit segment")
			}
			after, lastEv = evs[i].Seq, evs[i]
		}
	}
	if r.Signer != nil {
		cp := r.Signer.sign(lastEv.Seq, lastEv.Hash)
		if err := enc.Encode(segmentLine{Checkpoint: &cp}); err != nil {
			tmp.Close()
			return Segment{}, errs.Wrap(errs.Internal, err, "write audit segment")
		}
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return Segment{}, errs.Wrap(errs.Internal, err, "write audit segment")
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Segment{}, errs.Wrap(errs.Internal, err, "sync audit segment")
	}
	if err := tmp.Close(); err != nil {
		return Segment{}, errs.Wrap(errs.Internal, err, "close audit segment")
	}
	path := filepath.Join(r.Dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Segment{}, errs.Wrap(errs.Internal, err, "place audit segment")
	}
	syncDir(r.Dir)
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	seg := Segment{FirstSeq: first, LastSeq: last, LastHash: lastEv.Hash, File: name, SHA256: hex.EncodeToString(h.Sum(nil)),
		Server: r.Server, ExportedAt: now().UTC().Truncate(time.Microsecond)}
	if err := r.Store.PruneAudit(ctx, seg); err != nil {
		if errs.KindOf(err) == errs.Conflict {
			os.Remove(path) // another server exported and pruned these first
		}
		return Segment{}, err
	}
	if r.Log != nil {
		r.Log.Info("audit segment exported and pruned", "first_seq", first, "last_seq", last, "file", path, "sha256", seg.SHA256)
	}
	return seg, nil
}

// syncDir makes a rename in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// SegmentCheck is what VerifySegmentFile found in one file.
type SegmentCheck struct {
	File     string    `json:"file"`
	FirstSeq int64     `json:"firstSeq"`
	LastSeq  int64     `json:"lastSeq"`
	LastHash string    `json:"lastHash"`
	Problems []Problem `json:"problems"`
}

// VerifySegmentFile checks an exported segment on its own: every event's hash, the links between
// them (and to prevHash, the hash of the event before the segment, when not ""), and the closing
// checkpoint's signature and head against keys.
func VerifySegmentFile(path, prevHash string, keys []CheckpointKey) (SegmentCheck, error) {
	f, err := os.Open(path)
	if err != nil {
		return SegmentCheck{}, err
	}
	defer f.Close()
	res := SegmentCheck{File: filepath.Base(path)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var cps []Checkpoint
	var last Event
	for n := 1; sc.Scan(); n++ {
		var line segmentLine
		line.Event = &Event{}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return res, fmt.Errorf("%s:%d: not JSON: %w", path, n, err)
		}
		if line.Checkpoint != nil {
			cps = append(cps, *line.Checkpoint)
			continue
		}
		e := *line.Event
		switch {
		case res.FirstSeq == 0:
			res.FirstSeq = e.Seq
			if prevHash != "" && e.PrevHash != prevHash {
				res.Problems = append(res.Problems, Problem{e.Seq, "does not link to the segment before it"})
			}
		case e.Seq != last.Seq+1:
			res.Problems = append(res.Problems, Problem{e.Seq, fmt.Sprintf("sequence jumps from %d to %d: events were removed", last.Seq, e.Seq)})
		case e.PrevHash != last.Hash:
			res.Problems = append(res.Problems, Problem{e.Seq, "does not link to the event before it"})
		}
		if Hash(e) != e.Hash {
			res.Problems = append(res.Problems, Problem{e.Seq, "content does not match its hash: the event was changed"})
		}
		last = e
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	res.LastSeq, res.LastHash = last.Seq, last.Hash
	if len(cps) == 0 {
		res.Problems = append(res.Problems, Problem{last.Seq, "the segment has no closing checkpoint"})
	}
	for _, cp := range cps {
		if p := checkOne(cp, keys, last.Seq, func(seq int64) (string, bool) {
			if seq == last.Seq {
				return last.Hash, true
			}
			return "", false
		}); p != nil {
			res.Problems = append(res.Problems, *p)
		}
	}
	return res, nil
}
