package frontdoor

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanyardhq/lanyard/internal/frontdoor/backend"
)

// State is what the agent says of a site's app; the front door answers for it when the app
// cannot.
type State int32

// The states. A site is Starting until the agent says Running.
const (
	Starting State = iota // 503: the app is starting (or restarting after it exited)
	Running               // proxied; a failure to reach the app is 502
	Stopped               // 503: the app is stopped
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// Site is one site the front door serves.
type Site struct {
	Name     string // the app's name, for logs and metrics
	HostName string // {name}.{siteDomain}; requests for it (any port) go to Backend
	Backend  string // host:port the app listens on, 127.0.0.1:$PORT
	// Auth is the site's Easy Auth; nil when it is off.
	Auth *Auth
	// AccessLog receives one line per request; nil: none.
	AccessLog io.Writer
	// Dial, when set, connects to Backend (the app runs in a network namespace of its own, a
	// sandbox); nil: Backend is dialled on the host's network.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Handler, when set, serves the site's requests in-process (a function app's host, package
	// functions) instead of proxying them to Backend; it gets them after Easy Auth, with the
	// X-MS-CLIENT-PRINCIPAL headers set.
	Handler http.Handler
}

// Defaults (App Service's where it has one).
const (
	// DefaultRequestTimeout is how long the front door waits for the app's answer: App Service's
	// 230 seconds.
	DefaultRequestTimeout = 230 * time.Second
	// DefaultMaxBodyBytes bounds a request body (Lanyard's choice; App Service on Linux has no
	// documented front-end limit).
	DefaultMaxBodyBytes = 1 << 30
)

// Config is the front door's configuration. Zero values mean the defaults.
type Config struct {
	RequestTimeout time.Duration // the wait for the app's response headers
	MaxBodyBytes   int64         // larger request bodies are refused with 413
	Keys           KeySource     // the tenants' signing keys, for Easy Auth; nil: Easy Auth refuses every token
	Log            *slog.Logger
	Now            func() time.Time
	Registerer     prometheus.Registerer // the per-site metrics go here; nil: not registered
	// RequestID makes a request id (X-ARR-LOG-ID); default: 16 random bytes, hex.
	RequestID func() string
}

// FrontDoor routes requests by host name to the sites' apps. It is an http.Handler.
type FrontDoor struct {
	cfg   Config
	proxy *httputil.ReverseProxy
	met   *metrics
	auth  *verifier

	// viaReverseProxy sends every request through ReverseProxy's path (benchmarks compare).
	viaReverseProxy bool

	mu     sync.Mutex                        // serialises writers of hosts
	hosts  atomic.Pointer[map[string]*entry] // lower-case host name → site; read without a lock
	states sync.Map                          // site name → *atomic.Int32 (a State), kept apart so that a state set before SetSite holds
}

// entry is a site with its state and its metrics' children.
type entry struct {
	Site
	state *atomic.Int32
	count *siteMetrics
	log   *siteLog      // writes to AccessLog; nil when it is nil
	pool  *backend.Pool // keep-alive connections to Backend (proxy.go); nil for a Handler site
}

// New makes a front door with no sites.
func New(cfg Config) *FrontDoor {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestID == nil {
		cfg.RequestID = randomID
	}
	f := &FrontDoor{cfg: cfg, met: newMetrics(cfg.Registerer), auth: newVerifier(cfg.Keys, cfg.Now)}
	empty := map[string]*entry{}
	f.hosts.Store(&empty)
	f.proxy = f.newProxy()
	return f
}

// SetSite adds s, or replaces the site of that name (keeping its state).
func (f *FrontDoor) SetSite(s Site) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.hosts.Load()
	next := make(map[string]*entry, len(old)+1)
	e := &entry{Site: s, count: f.met.site(s.Name), state: f.stateOf(s.Name)}
	for h, cur := range old {
		if cur.Name != s.Name {
			next[h] = cur
			continue
		}
		// The agent sets its sites again every few seconds: the same app keeps its idle
		// connections (one that died with its app is found closed when next taken).
		if cur.pool != nil && s.Handler == nil && cur.Backend == s.Backend {
			e.pool = cur.pool
		} else if cur.pool != nil {
			cur.pool.Close()
		}
		if cur.log != nil && sameWriter(cur.AccessLog, s.AccessLog) {
			e.log = cur.log // one writer of the file: its lines stay in order
		}
	}
	if s.AccessLog != nil && e.log == nil {
		e.log = &siteLog{w: s.AccessLog}
	}
	if s.Handler == nil {
		if e.pool == nil {
			e.pool = backend.NewPool(s.Backend, s.Dial)
		} else {
			e.pool.SetDial(s.Dial)
		}
	}
	next[strings.ToLower(s.HostName)] = e
	f.hosts.Store(&next)
}

// RemoveSite stops serving the site name. It returns when the site's last access log lines are
// written (at most 2 s), before the agent closes the file.
func (f *FrontDoor) RemoveSite(name string) {
	var logs []*siteLog
	f.mu.Lock()
	old := *f.hosts.Load()
	next := make(map[string]*entry, len(old))
	for h, cur := range old {
		if cur.Name != name {
			next[h] = cur
		} else {
			if cur.pool != nil {
				cur.pool.Close()
			}
			if cur.log != nil {
				logs = append(logs, cur.log)
			}
		}
	}
	f.hosts.Store(&next)
	f.met.forget(name)
	f.mu.Unlock()
	// after the unlock: a slow disk does not hold up the other sites' changes
	for _, l := range logs {
		l.wait(2 * time.Second)
	}
}

// SetState records the state of site name's app (also before SetSite).
func (f *FrontDoor) SetState(name string, st State) { f.stateOf(name).Store(int32(st)) }

func (f *FrontDoor) stateOf(name string) *atomic.Int32 {
	if v, ok := f.states.Load(name); ok {
		return v.(*atomic.Int32)
	}
	v, _ := f.states.LoadOrStore(name, new(atomic.Int32))
	return v.(*atomic.Int32)
}

// Dialer returns the Dial of site name (nil when it has none or is not served).
func (f *FrontDoor) Dialer(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	for _, e := range *f.hosts.Load() {
		if e.Name == name {
			return e.Dial
		}
	}
	return nil
}

// Backend returns the backend address of site name, or "".
func (f *FrontDoor) Backend(name string) string {
	for _, e := range *f.hosts.Load() {
		if e.Name == name {
			return e.Backend
		}
	}
	return ""
}

// Sites returns the sites served now.
func (f *FrontDoor) Sites() []Site {
	var out []Site
	for _, e := range *f.hosts.Load() {
		out = append(out, e.Site)
	}
	return out
}

// lookup finds the site of a request's Host (any port, any case, a trailing dot allowed).
func (f *FrontDoor) lookup(host string) *entry {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	m := *f.hosts.Load()
	if e, ok := m[host]; ok {
		return e
	}
	return m[strings.ToLower(host)]
}

// sameWriter reports whether a and b are the same writer (false for writers that cannot be
// compared).
func sameWriter(a, b io.Writer) bool {
	if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}

var _ http.Handler = (*FrontDoor)(nil)
