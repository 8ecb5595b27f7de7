package httpx

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestSource(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.2:5555":                 "127.0.0.2",
		"[::ffff:10.1.2.3]:80":           "10.1.2.3",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":     "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":              "fe80::/64",
		"@":                              "local",
		"":                               "local",
		"not an address":                 "local",
		"[2001:db8:1:3:3:4:5:6]:443":     "2001:db8:1:3::/64",
		"192.0.2.1":                      "192.0.2.1",
		"[2001:db8:0:0:0:0:0:1]:1":       "2001:db8::/64",
		"[2001:0db8:0000::0001]:1":       "2001:db8::/64",
		"[::1]:8443":                     "::/64",
		"[::ffff:127.0.0.1]:8443":        "127.0.0.1",
		"[2001:db8:aaaa:bbbb::cccc]:999": "2001:db8:aaaa:bbbb::/64",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := Source(r); got != want {
			t.Errorf("Source(%q) = %q, want %q", remote, got, want)
		}
	}
}

// The bucket: Burst refusals, then throttled until Rate has given a token back; sources apart.
func TestSourceLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := &SourceLimiter{Rate: 2, Burst: 5, Now: func() time.Time { return now }}
	for i := range 5 {
		if th, _ := l.Throttled("a"); th {
			t.Fatalf("throttled after %d refusals, burst 5", i)
		}
		l.Take("a")
	}
	th, wait := l.Throttled("a")
	if !th || wait != 500*time.Millisecond {
		t.Fatalf("after the burst: throttled=%v wait=%v, want true 500ms", th, wait)
	}
	if th, _ := l.Throttled("b"); th {
		t.Fatal("another source is throttled")
	}
	now = now.Add(499 * time.Millisecond)
	if th, _ := l.Throttled("a"); !th {
		t.Fatal("a token came back early")
	}
	now = now.Add(time.Millisecond)
	if th, _ := l.Throttled("a"); th {
		t.Fatal("no token back after 1/Rate")
	}
	l.Take("a")
	if th, _ := l.Throttled("a"); !th {
		t.Fatal("the token given back was not taken")
	}
	// Refusals while throttled keep the bucket empty, not below.
	for range 100 {
		l.Take("a")
	}
	now = now.Add(time.Second)
	if th, _ := l.Throttled("a"); th {
		t.Fatal("a long flood pushed the bucket below empty")
	}
}

// The buckets kept are bounded: full ones go first, then any.
func TestSourceLimiterBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := &SourceLimiter{Rate: 1, Burst: 2, MaxSources: 10, Now: func() time.Time { return now }}
	for i := range 1000 {
		l.Take("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	if n := l.Len(); n > 10 {
		t.Fatalf("%d buckets kept, max 10", n)
	}
	// Once the others have refilled, a new source evicts full buckets only: the emptied one stays
	// throttled.
	now = now.Add(time.Hour)
	l.Take("x")
	l.Take("x")
	for i := range 20 {
		l.Take("y" + strconv.Itoa(i))
		if th, _ := l.Throttled("x"); !th && i < 9 {
			t.Fatalf("the emptied source's bucket was evicted while full ones were kept (after %d new sources)", i+1)
		}
	}
	if l.Len() > 10 {
		t.Fatalf("%d buckets kept, max 10", l.Len())
	}
	// A full limiter evicts an eighth at once, so the next max/8 new sources scan nothing.
	l = &SourceLimiter{Rate: 1, Burst: 2, MaxSources: 800, Now: func() time.Time { return now }}
	for i := range 801 {
		l.Take("s" + strconv.Itoa(i))
	}
	if n := l.Len(); n != 701 {
		t.Fatalf("after the 801st source, %d buckets kept, want 700 and the new one", n)
	}
}
