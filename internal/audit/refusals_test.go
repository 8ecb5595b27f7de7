package audit_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
)

// events is a recorder that keeps what it is given.
type events struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) (audit.Event, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
	return ev, nil
}

// Per source and window: the first refusal at once, the rest in one summary at Flush, with the
// commonest reasons; past MaxSources, new sources are summed up under "*".
func TestRefusalsAggregate(t *testing.T) {
	rec := &events{}
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	r := &audit.Refusals{Recorder: rec, MaxSources: 3, Now: func() time.Time { return now }}
	ctx := context.Background()
	note := func(src, reason string, throttled bool) {
		if err := r.Note(ctx, audit.Refusal{Source: src, Target: "vault/secrets", Reason: reason, RequestID: "rq", Throttled: throttled}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		note("10.0.0.1", "Signature validation failed.", false)
		if i%3 == 0 {
			note("10.0.0.1", "expired", false)
		}
		note("10.0.0.1", "", true)
	}
	note("10.0.0.2", "once", false)
	if len(rec.evs) != 2 {
		t.Fatalf("%d events before the window closed, want one per source", len(rec.evs))
	}
	if ev := rec.evs[0]; ev.Actor != "unidentified:10.0.0.1" || ev.Action != audit.ActionRefused || ev.Detail != "reason=Signature validation failed." ||
		ev.RequestID != "rq" || ev.Result != audit.Denied {
		t.Errorf("first refusal %+v", ev)
	}
	for i := range 10 { // sources 10.1.0.0..9: one fits under MaxSources, the rest are "*"
		note("10.1.0."+strconv.Itoa(i), "x", false)
	}
	now = now.Add(time.Minute)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range rec.evs[3:] {
		got = append(got, ev.Actor+" "+ev.Detail)
	}
	want := []string{
		`unidentified:* count=9 throttled=0 window=2026-12-05T01:00:00Z/2026-12-05T01:01:00Z reason="x"×9`,
		`unidentified:10.0.0.1 count=233 throttled=100 window=2026-12-05T01:00:00Z/2026-12-05T01:01:00Z reason="Signature validation failed."×99 reason="expired"×34`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("summaries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A new window: the first refusal of a source is recorded at once again.
	note("10.0.0.1", "again", false)
	if ev := rec.evs[len(rec.evs)-1]; ev.Action != audit.ActionRefused || ev.Detail != "reason=again" {
		t.Errorf("first refusal of the next window %+v", ev)
	}
	// Nothing more to summarise: a flush writes nothing.
	n := len(rec.evs)
	if err := r.Flush(ctx); err != nil || len(rec.evs) != n {
		t.Errorf("an empty window wrote %d events (%v)", len(rec.evs)-n, err)
	}
}

// TestRefusalReasonsBounded: reasons that carry caller input (a token's kid) cannot grow a
// source's summary without bound; past 16 distinct ones they count as "other".
func TestRefusalReasonsBounded(t *testing.T) {
	rec := &events{}
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	r := &audit.Refusals{Recorder: rec, Now: func() time.Time { return now }}
	ctx := context.Background()
	for i := range 1001 { // the first is recorded at once; 1000 go to the summary
		if err := r.Note(ctx, audit.Refusal{Source: "10.9.0.1", Target: "t", Reason: "unknown kid k" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d := rec.evs[len(rec.evs)-1].Detail
	if !strings.Contains(d, `reason="other"×984`) || !strings.Contains(d, "other_reasons=14") {
		t.Errorf("summary %s: want 16 distinct reasons kept (the top 3 named, 14 more) and other×984", d)
	}
}
