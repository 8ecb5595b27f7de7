package agent

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// bucket is a token bucket: rate tokens a second, at most burst saved up.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

func newBucket(rate float64) *bucket {
	burst := math.Max(rate, 1)
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

// take takes one token at now, or says how long until one is there.
func (b *bucket) take(now time.Time) (time.Duration, bool) {
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last != 0 && t > b.last {
		b.tokens = math.Min(b.burst, b.tokens+float64(t-b.last)/1e9*b.rate)
	}
	if t > b.last {
		b.last = t
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * 1e9), false
}

// limiter throttles one app (or the node's own identities): every request takes from hits, a
// request that goes to the server also takes from misses and one of maxMisses slots.
type limiter struct {
	hits      *bucket
	misses    *bucket
	inflight  atomic.Int32
	maxMisses int32
}

func newLimiter(cfg Config) *limiter {
	return &limiter{hits: newBucket(cfg.HitRate), misses: newBucket(cfg.MissRate), maxMisses: int32(cfg.MissConcurrency)}
}

// throttledError is a 429 with the Retry-After it carries.
type throttledError struct {
	retryAfter time.Duration
	what       string // "requests", "misses", "concurrency": the metric label
}

func (e *throttledError) Error() string { return "throttled: too many " + e.what }

// retryAfterSeconds is the Retry-After header value: whole seconds, at least 1.
func (e *throttledError) retryAfterSeconds() string {
	return strconv.FormatInt(max(1, int64(math.Ceil(e.retryAfter.Seconds()))), 10)
}

func throttled(what, msg string, after time.Duration) error {
	return &errs.Error{Kind: errs.TooMany, Code: "too_many_requests", Msg: msg, Err: &throttledError{retryAfter: after, what: what}}
}

// request admits one token request.
func (l *limiter) request(now time.Time) error {
	if d, ok := l.hits.take(now); !ok {
		return throttled("requests", "too many token requests from this app; retry after the Retry-After seconds", d)
	}
	return nil
}

// miss admits one call to the server; release must be called when it is done.
func (l *limiter) miss(now time.Time) (release func(), err error) {
	if l.inflight.Add(1) > l.maxMisses {
		l.inflight.Add(-1)
		return nil, throttled("concurrency", "too many concurrent token requests that are not cached, from this app; retry shortly", time.Second)
	}
	if d, ok := l.misses.take(now); !ok {
		l.inflight.Add(-1)
		return nil, throttled("misses", "too many token requests that are not cached, from this app; retry after the Retry-After seconds", d)
	}
	return func() { l.inflight.Add(-1) }, nil
}
