package functions

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Timer triggers (functions.md §6, Azure's): the NCRONTAB schedule in UTC, runOnStartup, the
// payload, the reason "Timer fired at ...", one node per tick through Config.Timers (Azure uses
// a storage lock), no retries. A tick that runs later than scheduled is IsPastDue; ticks missed
// while the host was busy or down are not run one by one: the next run is the next occurrence
// after now, as Azure's schedule monitor does.

// pastDueSlack: a run that starts this much after its tick is past due (Lanyard's own).
const pastDueSlack = time.Second

// runTimer runs fn's schedule until ctx ends.
func (h *Host) runTimer(ctx context.Context, fn *function) {
	defer h.timers.Done()
	loc := h.timerLocation()
	start := h.now().In(loc)
	var last time.Time
	if fn.onStartup {
		h.tick(ctx, fn, start, time.Time{}, start, false, "")
		last = start
	}
	from := start
	for {
		next, ok := fn.schedule.next(from)
		if !ok {
			return
		}
		if !h.sleepUntil(ctx, next) {
			return
		}
		now := h.now()
		pastDue := now.Sub(next) > pastDueSlack
		if claimed := h.claim(ctx, fn, next); claimed {
			h.tick(ctx, fn, now, last, next, pastDue, "")
		}
		last = next
		from = next
		if n := h.now().In(loc); n.After(next) {
			from = n // skip the ticks missed meanwhile
		}
	}
}

func (h *Host) claim(ctx context.Context, fn *function, tick time.Time) bool {
	if h.cfg.Timers == nil {
		return true
	}
	ok, err := h.cfg.Timers.Claim(ctx, fn.Name, tick)
	if err != nil {
		h.cfg.Log.Warn("timer claim failed; the tick is skipped here", "function", fn.Name, "tick", tick, "err", err)
		return false
	}
	return ok
}

// sleepUntil waits until the clock (Config.Now) reaches t, polling so that an injected clock
// works; false when ctx ends.
func (h *Host) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(h.now())
		if d <= 0 {
			return true
		}
		d = min(d, h.poll)
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C:
		}
	}
}

// tick runs one timer invocation (no retries); reason "" is the timer's own.
func (h *Host) tick(ctx context.Context, fn *function, now, last, scheduled time.Time, pastDue bool, reason string) {
	if fn.Disabled || !h.enter() {
		return
	}
	defer h.inflight.Done()
	next, _ := fn.schedule.next(scheduled)
	status := map[string]any{"Last": isoOrMin(last), "Next": isoOrMin(next), "LastUpdated": isoOrMin(now)}
	payload := map[string]any{"Schedule": map[string]any{"AdjustForDST": true}, "ScheduleStatus": status, "IsPastDue": pastDue}
	if reason == "" {
		reason = "Timer fired at " + now.UTC().Format("2006-01-02T15:04:05.0000000-07:00")
	}
	inv := &invocation{fn: fn, id: newID(), reason: reason,
		data: map[string]any{fn.triggerName: payload}, metadata: map[string]any{}}
	if h.hc.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.hc.timeout)
		defer cancel()
	}
	end := h.begin(inv)
	_, err := h.call(ctx, inv)
	end(err)
	if h.onTick != nil {
		h.onTick(fn.Name, payload, err)
	}
}

func isoOrMin(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00"
	}
	return t.UTC().Format("2006-01-02T15:04:05.0000000-07:00")
}

// timerLocation is the schedules' time zone: UTC, unless WEBSITE_TIME_ZONE or TZ names one
// (§6; Azure takes Windows zone names on Windows; Lanyard takes IANA names, as Azure on Linux).
func (h *Host) timerLocation() *time.Location {
	for _, k := range []string{"WEBSITE_TIME_ZONE", "TZ"} {
		if v, ok := h.lookup(k); ok && strings.TrimSpace(v) != "" {
			loc, err := time.LoadLocation(strings.TrimSpace(v))
			if err == nil {
				return loc
			}
			h.flog.write(levelWarning, fmt.Sprintf("%s '%s' is not a time zone this host knows (an IANA name such as Europe/Paris); timers run in UTC", k, v))
		}
	}
	return time.UTC
}
