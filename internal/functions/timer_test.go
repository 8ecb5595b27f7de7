package functions

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is Config.Now, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// fakeLock is a TimerLock shared by the hosts of a test: the first claim of a tick wins.
type fakeLock struct {
	mu     sync.Mutex
	claims map[time.Time]int
}

func (l *fakeLock) Claim(_ context.Context, fn string, tick time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.claims == nil {
		l.claims = map[time.Time]int{}
	}
	l.claims[tick]++
	return l.claims[tick] == 1, nil
}

func (l *fakeLock) count(tick time.Time) int { l.mu.Lock(); defer l.mu.Unlock(); return l.claims[tick] }

type tickRec struct {
	mu   sync.Mutex
	runs []map[string]any
	errs []error
}

func (r *tickRec) add(fn string, p map[string]any, err error) {
	r.mu.Lock()
	r.runs = append(r.runs, p)
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *tickRec) n() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.runs) }

// Two hosts of one app, one clock and one lock: each tick runs once, a late tick is past due
// and its failure is not retried; runOnStartup runs on each host (§6).
func TestTimerTicks(t *testing.T) {
	root := app(t, "", map[string]string{
		"tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"*/10 * * * * *","runOnStartup":true}]}`,
	})
	t0 := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
	clock := &fakeClock{t: t0}
	lock := &fakeLock{}
	var rec tickRec
	var log logBuf
	for range 2 {
		startHost(t, Config{Root: root, Now: clock.Now, Timers: lock, FunctionLog: &log}, func(h *Host) {
			h.poll = 2 * time.Millisecond
			h.onTick = rec.add
		})
	}
	waitFor(t, "the startup runs", func() bool { return rec.n() == 2 })
	step := func(now, tick time.Time, runs int) {
		t.Helper()
		clock.Set(now)
		waitFor(t, "both hosts' claims of "+tick.String(), func() bool { return lock.count(tick) == 2 })
		waitFor(t, "the run", func() bool { return rec.n() == runs })
	}
	step(t0.Add(5*time.Second), t0.Add(5*time.Second), 3)   // 00:00:10 on time
	step(t0.Add(30*time.Second), t0.Add(15*time.Second), 4) // 00:00:20, run at 00:00:35: past due
	step(t0.Add(35*time.Second), t0.Add(35*time.Second), 5) // 00:00:40 (00:00:30 was skipped)
	time.Sleep(50 * time.Millisecond)
	if rec.n() != 5 {
		t.Errorf("%d runs", rec.n())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, want := range []bool{false, false, false, true, false} {
		if got := rec.runs[i]["IsPastDue"]; got != want {
			t.Errorf("run %d IsPastDue %v, want %v", i, got, want)
		}
		if (rec.errs[i] != nil) != want { // the handler fails past-due runs
			t.Errorf("run %d error %v", i, rec.errs[i])
		}
	}
	st := rec.runs[2]["ScheduleStatus"].(map[string]any)
	if st["Next"] != "2026-01-01T00:00:20.0000000+00:00" || rec.runs[2]["Schedule"].(map[string]any)["AdjustForDST"] != true {
		t.Errorf("payload %v", rec.runs[2])
	}
	l := log.String()
	for _, want := range []string{
		"Executing 'Functions.tick' (Reason='Timer fired at 2026-01-01T00:00:10.0000000+00:00', Id=",
		"[Warning]   tick warning",
		"Executed 'Functions.tick' (Failed, Id=",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if strings.Contains(l, "ignored when LogEntries") {
		t.Errorf("Logs written besides LogEntries")
	}
}

func TestSchedule(t *testing.T) {
	at := func(s string) time.Time { x, _ := time.Parse(time.RFC3339, s); return x }
	for _, tc := range []struct{ expr, from, want string }{
		{"0 */5 * * * *", "2026-03-01T10:02:03Z", "2026-03-01T10:05:00Z"},
		{"0 0 9 * * mon-fri", "2026-03-06T10:00:00Z", "2026-03-09T09:00:00Z"}, // Friday → Monday
		{"0 30 9 * Jan,Jul Mon", "2026-01-06T00:00:00Z", "2026-01-12T09:30:00Z"},
		{"5,10 * * * * *", "2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z"},
		{"0 0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 12 1 * 0", "2026-01-01T00:00:00Z", "2026-02-01T12:00:00Z"}, // NCrontab: day AND weekday
		{"10/20 * * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"},
		{"0 0 * * * 7", "2026-01-03T23:00:00Z", "2026-01-04T00:00:00Z"}, // 7 is Sunday
		{"00:05:00", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"},
		{"1.00:00:00", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{"1:2:3", "2026-01-01T00:00:00Z", "2026-01-01T01:02:03Z"},
	} {
		s, err := parseSchedule(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got, ok := s.next(at(tc.from))
		if !ok || !got.Equal(at(tc.want)) {
			t.Errorf("%s after %s: %v, want %s", tc.expr, tc.from, got, tc.want)
		}
	}
	for _, bad := range []string{"", "* * * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *", "* * * * * 8",
		"*/0 * * * * *", "5-1 * * * * *", "0 0 0 31 2 *", "a * * * * *", "* * * * * * *", "00:00:00", "25:00:00", "1:2:x"} {
		if _, err := parseSchedule(bad); err == nil || err.Error() != "The schedule expression '"+bad+"' was not recognized as a valid cron expression or timespan string." {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// WEBSITE_TIME_ZONE (an IANA name here) moves the schedule into that zone, DST included.
func TestScheduleTimeZone(t *testing.T) {
	h := &Host{cfg: Config{Settings: map[string]string{"WEBSITE_TIME_ZONE": "Europe/Paris"}}}
	loc := h.timerLocation()
	if loc.String() != "Europe/Paris" {
		t.Skipf("no zone data: %v", loc)
	}
	s, _ := parseSchedule("0 0 9 * * *")
	for from, want := range map[string]string{"2026-01-10T12:00:00Z": "2026-01-11T08:00:00Z", "2026-07-10T12:00:00Z": "2026-07-11T07:00:00Z"} {
		f, _ := time.Parse(time.RFC3339, from)
		got, _ := s.next(f.In(loc))
		if got.UTC().Format(time.RFC3339) != want {
			t.Errorf("after %s: %v, want %s", from, got.UTC(), want)
		}
	}
}

// POST /admin/functions/{name} runs a timer function now with the master key (§2.3).
func TestAdminInvoke(t *testing.T) {
	root := app(t, "", map[string]string{
		"tick":  `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 0 1 1 *"}]}`,
		"hello": httpFn(""),
	})
	var rec tickRec
	var log logBuf
	h := startHost(t, Config{Root: root, Keys: testKeys{}, FunctionLog: &log}, func(h *Host) { h.onTick = rec.add })
	if w := do(h, "POST", "/admin/functions/tick", `{"input":""}`, http.Header{"X-Functions-Key": {"host"}}); w.Code != 401 {
		t.Errorf("with a function key: %d", w.Code)
	}
	if w := do(h, "POST", "/admin/functions/hello?code=master", `{}`, nil); w.Code != 404 {
		t.Errorf("an HTTP function: %d", w.Code)
	}
	if w := do(h, "POST", "/admin/functions/tick?code=master", `{"input":""}`, nil); w.Code != 202 {
		t.Errorf("with the master key: %d", w.Code)
	}
	waitFor(t, "the run", func() bool { return rec.n() == 1 })
	if !strings.Contains(log.String(), "Executing 'Functions.tick' (Reason='This function was programmatically called via the host APIs.'") {
		t.Errorf("log:\n%s", log.String())
	}
}
