package httpx

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Source is the address a request came from, as the limits and the audit count it: the peer's
// IPv4 address, or the /64 an IPv6 peer is in (one host usually holds a whole /64). A request
// that came over no IP connection (the admin socket) has the source "local". Forwarding headers
// are not read: whoever sends them chooses them.
func Source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "local"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// DefaultMaxSources bounds the sources a SourceLimiter tracks.
const DefaultMaxSources = 1 << 16

// SourceLimiter is a token bucket per source: each refusal takes a token, tokens come back at
// Rate per second up to Burst, and a source with no token left is throttled.
type SourceLimiter struct {
	Rate       float64 // tokens per second
	Burst      int     // bucket size
	MaxSources int     // buckets kept; default DefaultMaxSources
	Now        func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func (l *SourceLimiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// level returns src's bucket brought up to now (nil: a full bucket). Call with l.mu held.
func (l *SourceLimiter) level(src string, now time.Time) *bucket {
	b := l.buckets[src]
	if b == nil {
		return nil
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(float64(l.Burst), b.tokens+d.Seconds()*l.Rate)
		b.at = now
	}
	return b
}

// Throttled reports whether src has no token left, and if so how long until it has one.
func (l *SourceLimiter) Throttled(src string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.level(src, l.now())
	if b == nil || b.tokens >= 1 {
		return false, 0
	}
	if l.Rate <= 0 {
		return true, time.Hour
	}
	return true, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
}

// Take takes a token from src's bucket (none left: it stays empty).
func (l *SourceLimiter) Take(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.level(src, now)
	if b == nil {
		if l.buckets == nil {
			l.buckets = map[string]*bucket{}
		}
		l.evict(now)
		b = &bucket{tokens: float64(l.Burst), at: now}
		l.buckets[src] = b
	}
	b.tokens = math.Max(0, b.tokens-1)
}

// evict makes room when the limiter is full: full buckets go first (they hold nothing), then
// any, down to seven eighths of the bound, so that the scan (under the lock every request takes)
// runs once per max/8 new sources, not for each.
func (l *SourceLimiter) evict(now time.Time) {
	max := l.MaxSources
	if max <= 0 {
		max = DefaultMaxSources
	}
	if len(l.buckets) < max {
		return
	}
	keep := min(max-max/8, max-1)
	for src := range l.buckets {
		if b := l.level(src, now); b.tokens >= float64(l.Burst) {
			delete(l.buckets, src)
		}
	}
	for src := range l.buckets {
		if len(l.buckets) <= keep {
			break
		}
		delete(l.buckets, src)
	}
}

// Len is the number of sources tracked.
func (l *SourceLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Refusal is one request of an unidentified caller that was refused: its answer was 401, or
// it was throttled (429) before being served.
type Refusal struct {
	Source    string
	Target    string // host and path the request addressed
	Reason    string // the 401's message; "" when throttled
	RequestID string
	Throttled bool
	// Anonymous: the request presented no credential at all (no Authorization header, no
	// client certificate), as the first leg of every Key Vault client's flow does.
	Anonymous bool
}

// Guard protects an API from callers that do not authenticate. Every request answered 401
// takes a token from its source's bucket; once the bucket is empty, the source's requests are
// answered 429 with Retry-After before they are served, unless they carry a credential that
// verifies (Credential), so that a flood of bad tokens from one address does not shut out a
// well-behaved client behind the same address for long, nor anyone at another address. Every
// refusal is reported to OnRefusal (for the audit's aggregate).
type Guard struct {
	Limiter    *SourceLimiter
	Credential func(r *http.Request) bool // nil: no request is let through a throttle
	ShapeFor   func(r *http.Request) Shape
	OnRefusal  func(ctx context.Context, f Refusal)
}

type refusalKey struct{}

// refusalNote carries the reason of a 401 back to the Guard: the answer's message (WriteError),
// or what the handler said (NoteRefusal), which may say more than the caller is told.
type refusalNote struct {
	reason string
	fixed  bool // set by NoteRefusal: WriteError leaves it
}

// noteRefusal keeps msg as the reason of a 401 on r, for the Guard.
func noteRefusal(r *http.Request, msg string) {
	if n, ok := r.Context().Value(refusalKey{}).(*refusalNote); ok && !n.fixed {
		n.reason = msg
	}
}

// NoteRefusal gives the Guard the reason to audit for the 401 the request of ctx is about to
// get, when it is more precise than the answer's message (which may be kept vague for the
// caller). It reports whether a Guard will record it; if not, the caller records the refusal
// itself.
func NoteRefusal(ctx context.Context, reason string) bool {
	n, ok := ctx.Value(refusalKey{}).(*refusalNote)
	if ok {
		n.reason, n.fixed = reason, true
	}
	return ok
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := Source(r)
		if throttled, wait := g.Limiter.Throttled(src); throttled && (g.Credential == nil || !g.Credential(r)) {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			shape := Shape(Plain)
			if g.ShapeFor != nil {
				shape = g.ShapeFor(r)
			}
			WriteError(w, r, shape, errs.E(errs.TooMany,
				"Too many requests without valid credentials from %s: retry after %d s, or present a valid token.", src, max(secs, 1)))
			if g.OnRefusal != nil {
				g.OnRefusal(r.Context(), Refusal{Source: src, Target: r.Host + r.URL.Path, RequestID: RequestID(r.Context()), Throttled: true,
					Anonymous: anonymous(r)})
			}
			return
		}
		note := &refusalNote{}
		sw := &statusWriter{ResponseWriter: w}
		inner := r.WithContext(context.WithValue(r.Context(), refusalKey{}, note))
		next.ServeHTTP(sw, inner)
		r.Pattern = inner.Pattern // for the access line and metrics of the middleware around
		if sw.status != http.StatusUnauthorized {
			return
		}
		g.Limiter.Take(src)
		if g.OnRefusal != nil {
			// A handler that said why (NoteRefusal) refused a credential of its own kind (a join
			// token in the body): not anonymous.
			g.OnRefusal(r.Context(), Refusal{Source: src, Target: r.Host + r.URL.Path, Reason: note.reason, RequestID: RequestID(r.Context()),
				Anonymous: anonymous(r) && !note.fixed})
		}
	})
}

// anonymous reports whether r presents no credential at all.
func anonymous(r *http.Request) bool {
	return r.Header.Get("Authorization") == "" && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0)
}
