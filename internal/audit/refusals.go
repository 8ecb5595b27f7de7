package audit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Refusals of callers that did not identify themselves (no credential, or one that failed) are
// recorded in aggregate, per source address and time window, so that a flood of bad tokens
// cannot fill the disk: the first refusal of a source in a window is an event of its own,
// written at once (a single probe is on record with its reason and request id), and the others
// of the window are one summary event when the window closes (their count, how many were
// throttled, the commonest reasons). A source thus costs at most two events a window, and a
// window at most 2×MaxSources+1 events however many addresses a flood comes from: sources past
// MaxSources are summed up under the source "*".

// Refusal actions and the actor prefix of their events.
const (
	ActionRefused        = "authn.refused"         // one refused request
	ActionRefusedSummary = "authn.refused.summary" // the rest of a source's window
	UnidentifiedActor    = "unidentified:"         // followed by the source
)

// Defaults of Refusals.
const (
	DefaultRefusalWindow     = time.Minute
	DefaultRefusalMaxSources = 100
	maxReasons               = 3
	maxReasonLen             = 120
)

// Recorder is what Refusals writes through; *Recorder implements it.
type EventRecorder interface {
	Record(ctx context.Context, ev Event) (Event, error)
}

// Refusals counts refusals of unidentified callers and records them in aggregate (see above).
// Note is called per refusal; Run closes the windows. The zero value of each setting takes its
// default.
type Refusals struct {
	Recorder   EventRecorder
	Window     time.Duration
	MaxSources int
	Now        func() time.Time
	Log        *slog.Logger

	mu      sync.Mutex
	start   time.Time              // of the current window
	sources map[string]*refusalAgg // by source
}

// refusalAgg is one source's window after its first refusal.
type refusalAgg struct {
	first     time.Time
	last      time.Time
	more      int // refusals after the first
	throttled int
	reasons   map[string]int
	target    string
}

// Refusal is one refusal to count.
type Refusal struct {
	Source    string // the caller's address (or its IPv6 /64)
	Target    string // what it addressed: host and path
	Reason    string // why it was refused; "" when it was throttled
	RequestID string
	Throttled bool // answered 429 before being served
}

func (a *Refusals) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Refusals) window() time.Duration {
	if a.Window > 0 {
		return a.Window
	}
	return DefaultRefusalWindow
}

// Note counts one refusal. The first of its source in the window is recorded now; a failure to
// record it is returned (and the refusal still counted).
func (a *Refusals) Note(ctx context.Context, f Refusal) error {
	now := a.now()
	a.mu.Lock()
	if a.sources == nil {
		a.sources = map[string]*refusalAgg{}
		a.start = now
	}
	src := f.Source
	maxSrc := a.MaxSources
	if maxSrc <= 0 {
		maxSrc = DefaultRefusalMaxSources
	}
	if _, ok := a.sources[src]; !ok && len(a.sources) >= maxSrc {
		src = "*"
	}
	agg, seen := a.sources[src]
	if !seen {
		agg = &refusalAgg{first: now, target: f.Target, reasons: map[string]int{}}
		a.sources[src] = agg
	}
	agg.last = now
	if seen || src == "*" {
		agg.more++
		if f.Throttled {
			agg.throttled++
		} else {
			r := clipReason(f.Reason)
			if _, ok := agg.reasons[r]; !ok && len(agg.reasons) >= maxKeptReasons {
				r = "other"
			}
			agg.reasons[r]++
		}
	}
	a.mu.Unlock()
	if seen || src == "*" {
		return nil
	}
	detail := "reason=" + clipReason(f.Reason)
	if f.Throttled {
		detail = "throttled"
	}
	_, err := a.Recorder.Record(ctx, Event{
		Actor: UnidentifiedActor + src, Action: ActionRefused, Target: clipReason(f.Target), Result: Denied,
		RequestID: f.RequestID, Detail: detail,
	})
	return err
}

// maxKeptReasons bounds the distinct reasons counted per source and window (a reason may carry
// caller input, a token's kid); the rest count as "other". The summary names the first
// maxReasons.
const maxKeptReasons = 16

func clipReason(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > maxReasonLen {
		s = strings.ToValidUTF8(s[:maxReasonLen], "") + "…"
	}
	return s
}

// Flush closes the current window: it records one summary event for each source that was
// refused more than once in it, and starts a new window. `lanyard audit list` flushes first,
// so that what it shows is up to date.
func (a *Refusals) Flush(ctx context.Context) error {
	now := a.now()
	a.mu.Lock()
	start, sources := a.start, a.sources
	a.sources, a.start = nil, time.Time{}
	a.mu.Unlock()
	srcs := make([]string, 0, len(sources))
	for src, agg := range sources {
		if agg.more > 0 {
			srcs = append(srcs, src)
		}
	}
	slices.Sort(srcs)
	var firstErr error
	for _, src := range srcs {
		agg := sources[src]
		type rc struct {
			reason string
			n      int
		}
		var rs []rc
		for r, n := range agg.reasons {
			rs = append(rs, rc{r, n})
		}
		slices.SortFunc(rs, func(x, y rc) int { return cmp.Or(cmp.Compare(y.n, x.n), cmp.Compare(x.reason, y.reason)) })
		var b strings.Builder
		fmt.Fprintf(&b, "count=%d throttled=%d window=%s/%s", agg.more, agg.throttled,
			start.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		for i, r := range rs {
			if i == maxReasons {
				fmt.Fprintf(&b, " other_reasons=%d", len(rs)-maxReasons)
				break
			}
			fmt.Fprintf(&b, " reason=%q×%d", r.reason, r.n)
		}
		_, err := a.Recorder.Record(ctx, Event{
			Actor: UnidentifiedActor + src, Action: ActionRefusedSummary, Target: clipReason(agg.target), Result: Denied,
			Detail: b.String(),
		})
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Run closes a window every Window until ctx is done, then closes the last one.
func (a *Refusals) Run(ctx context.Context) error {
	t := time.NewTicker(a.window())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.Flush(fctx); err != nil && a.Log != nil {
				a.Log.Warn("recording the last window's refusals", slog.String("error", err.Error()))
			}
			return nil
		case <-t.C:
			if err := a.Flush(ctx); err != nil && a.Log != nil && ctx.Err() == nil {
				a.Log.Warn("recording the window's refusals", slog.String("error", err.Error()))
			}
		}
	}
}
