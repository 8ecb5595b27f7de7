package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// systemRoots are the usual places of the system's CA bundle; the first that exists goes into
// the apps' bundle.
var systemRoots = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",                  // Alpine, macOS
}

// The agent's tasks' timing.
const (
	eventsWait       = 30 * time.Second // long-poll wait asked of the server
	eventsBackoffMax = 30 * time.Second
	// eventsInitTimeout bounds the first events call, made before the endpoints serve.
	eventsInitTimeout = 5 * time.Second
	refreshPeriod     = 15 * time.Second
	renewRetryMin     = 10 * time.Second
	renewRetryMax     = 5 * time.Minute
)

// Agent is a running node agent. New sets it up (enrolling when needed) and opens its
// listeners; Run serves until its context is done.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	roots  *x509.CertPool
	bundle string // path of the apps' CA bundle

	state   *nodeState
	up      *upstream
	cache   *cache
	nodeLim *limiter
	apps    *appSet
	met     *metrics
	sboxes  sandboxes // what the apps' sandboxes share
	door    *door     // nil without a front door

	fnMu sync.Mutex
	fns  map[string]*fnApp // the function apps hosted in-process, by app name

	remember *remembered // with Config.Remember: the endpoint's address and apps' headers kept across starts

	ln, imdsLn net.Listener
	srv        *http.Server
	imdsSrv    *http.Server
	unlink     func() // takes the IMDS address off the dummy interface

	life     context.Context // done when Run ends or Close is called: apps stop
	stopLife context.CancelFunc
	procs    sync.WaitGroup // app supervisors
	synced   chan struct{}  // closed at the first answer of the events long poll

	// the supervisor's timing (tests shorten them)
	restartMin, stopTimeout time.Duration
}

// New checks cfg, loads the node's enrollment from cfg.StateDir (enrolling with
// cfg.JoinTokenFile when there is none), writes the apps' CA bundle and opens the listeners.
// The configured apps get their identity now; their processes start with Run.
func New(ctx context.Context, cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	roots, caPEM, err := readCA(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	state, err := openState(ctx, cfg, roots, cfg.Log)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: cfg.Log, now: cfg.Now, roots: roots, state: state,
		up:          newUpstream(cfg.servers(), roots, state.certificate),
		nodeLim:     newLimiter(cfg),
		apps:        newAppSet(cfg.Rand),
		fns:         map[string]*fnApp{},
		synced:      make(chan struct{}),
		unlink:      func() {},
		restartMin:  restartMin,
		stopTimeout: stopTimeout,
	}
	a.life, a.stopLife = context.WithCancel(context.WithoutCancel(ctx))
	a.cache = newCache(cfg.Now, a.up.token, cfg.MintTimeout, cfg.TokenCache.MaxTokens, cfg.TokenCache.MaxBytes)
	a.met = newMetrics(a.cache)
	a.cache.observe = a.met.observeMint
	if err := a.writeBundle(caPEM); err != nil {
		return nil, err
	}
	if cfg.FrontDoor.enabled() {
		if err := a.newDoor(); err != nil {
			return nil, err
		}
	}
	if cfg.Remember {
		a.remember = loadRemembered(cfg.StateDir, cfg.Log)
		a.apps.remember = a.remember
	}
	for _, ac := range cfg.Apps {
		if _, err := a.addApp(ac); err != nil {
			a.Close()
			return nil, err
		}
	}
	if err := a.listen(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if a.remember != nil {
		a.restoreApps()
		a.saveRemembered()
	}
	a.log.Info("agent ready", slog.String("node", state.enr.NodeName), slog.String("machine", state.enr.MachineResourceID),
		slog.String("endpoint", a.URL()+PathAppService), slog.Time("certificate_expires", state.certificate().Leaf.NotAfter))
	return a, nil
}

// writeBundle writes the system roots and Lanyard's CA into the apps' CA bundle.
func (a *Agent) writeBundle(caPEM []byte) error {
	var bundle []byte
	for _, p := range systemRoots {
		if raw, err := os.ReadFile(p); err == nil {
			bundle = append(raw, '\n')
			break
		}
	}
	bundle = append(bundle, "# Lanyard CA\n"...)
	bundle = append(bundle, caPEM...)
	bundle = append(bundle, '\n')
	a.bundle = filepath.Join(a.cfg.StateDir, bundleFile)
	return writeFileAtomic(a.bundle, bundle, 0o644)
}

// listen opens the main listener and, when configured, the IMDS one.
func (a *Agent) listen(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc(PathAppService, a.serveAppService)
	mux.HandleFunc(PathAppService+"/{$}", a.serveAppService)
	mux.HandleFunc(PathIMDS, a.serveIMDS)
	mux.HandleFunc(PathIMDS+"/{$}", a.serveIMDS)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.met.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	var err error
	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	if a.remember != nil {
		listen = a.remember.listen
	}
	if a.ln, err = listen(a.cfg.Listen); err != nil {
		return errs.Wrap(errs.Unavailable, err, "listening on "+a.cfg.Listen+": "+err.Error())
	}
	a.srv = newServer(mux, a.log)
	if a.cfg.IMDS.Listen == "" {
		return nil
	}
	if a.unlink, err = addLinkLocal(ctx, a.log, a.cfg.IMDS.Listen); err != nil {
		a.unlink = func() {}
		return err
	}
	if a.imdsLn, err = net.Listen("tcp", a.cfg.IMDS.Listen); err != nil {
		return errs.Wrap(errs.Unavailable, err, "listening on "+a.cfg.IMDS.Listen+": "+err.Error())
	}
	imds := http.NewServeMux()
	imds.HandleFunc(PathIMDS, a.serveIMDS)
	imds.HandleFunc(PathIMDS+"/{$}", a.serveIMDS)
	a.imdsSrv = newServer(imds, a.log)
	return nil
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// URL is the base URL of the agent's main listener, http://127.0.0.1:PORT.
func (a *Agent) URL() string { return "http://" + a.ln.Addr().String() }

// IMDSAddr is the address of the IMDS-style endpoint's own listener, or "" when it is served on
// the main listener only.
func (a *Agent) IMDSAddr() string {
	if a.imdsLn == nil {
		return ""
	}
	return a.imdsLn.Addr().String()
}

// Enrollment returns the node's enrollment and its current certificate's expiry.
func (a *Agent) Enrollment() Enrollment { return a.state.enrollment() }

// Handler is the main listener's handler (the endpoints, /metrics and /healthz).
func (a *Agent) Handler() http.Handler { return a.srv.Handler }

// Run serves the endpoints, runs the configured apps and the agent's tasks (certificate renewal,
// the events long poll, the cache's background refresh) until ctx is done; then it stops the
// apps (SIGTERM, SIGKILL after 10 s), closes the listeners and takes the IMDS address away. It
// returns nil after ctx is done, or the first error of a listener.
func (a *Agent) Run(ctx context.Context) error {
	defer a.Close()
	g, gctx := errgroup.WithContext(ctx)
	serve := func(srv *http.Server, ln net.Listener) {
		if srv == nil {
			return
		}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	// Where to follow the events from is asked before the endpoints serve, so that no token is
	// minted before it (a token minted earlier could miss a change; the first answer would then
	// drop it). A control plane that does not answer in time does not hold the agent up: the
	// first answer of the long poll drops what was cached by then.
	after := int64(-1)
	ictx, cancel := context.WithTimeout(gctx, eventsInitTimeout)
	if resp, err := a.up.events(ictx, -1, 0); err == nil {
		after = max(resp.Next, 0)
		close(a.synced)
	}
	cancel()
	serve(a.srv, a.ln)
	serve(a.imdsSrv, a.imdsLn)
	for _, fn := range a.doorServers() {
		g.Go(func() error {
			if err := fn(); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if a.door != nil {
		// The sites' settings before the apps start, so that their environment names their host
		// name and Easy Auth; a control plane that does not answer in time does not hold them up.
		sctx, cancel := context.WithTimeout(gctx, eventsInitTimeout)
		if err := a.syncSites(sctx); err != nil {
			a.log.Warn("front door: the sites' settings cannot be read yet", slog.String("error", err.Error()))
		}
		cancel()
		g.Go(func() error { return a.sitesLoop(gctx) })
	}
	g.Go(func() error { return a.renewLoop(gctx) })
	g.Go(func() error { return a.followEvents(gctx, after) })
	g.Go(func() error { return a.followLogs(gctx) })
	g.Go(func() error { return a.cache.refreshLoop(gctx, refreshPeriod) })
	for _, ac := range a.cfg.Apps {
		ap := a.apps.get(ac.Name)
		a.procs.Add(1)
		go func() {
			defer a.procs.Done()
			defer a.closeSandbox(ap)
			// The configured apps get their sandbox now that the agent listens (its own ports
			// are kept out of it); one that must have one and cannot is not started.
			if err := a.sandboxApp(a.life, ap); err != nil {
				a.log.Error("app not started", slog.String("app", ap.cfg.Name), slog.Any("error", err))
				a.note(ap, "not started: "+err.Error())
				return
			}
			if len(ap.cfg.Command) == 0 { // a function app run in place (AppConfig.Functions)
				<-a.life.Done()
				a.stopFunctions(ap, true)
				return
			}
			a.supervise(a.life, ap)
		}()
	}
	g.Go(func() error {
		<-gctx.Done()
		a.stopLife() // apps first: they may still ask for tokens while they stop
		a.procs.Wait()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.closeDoor(sctx, true)
		for _, srv := range []*http.Server{a.srv, a.imdsSrv} {
			if srv != nil {
				_ = srv.Shutdown(sctx)
			}
		}
		return nil
	})
	return g.Wait()
}

// Close stops the apps, closes the listeners and takes the IMDS address away; Run does it when
// it returns, Close is for an agent that New made but that never ran.
func (a *Agent) Close() {
	a.stopLife()
	a.procs.Wait()
	a.closeDoor(context.Background(), false)
	for _, srv := range []*http.Server{a.srv, a.imdsSrv} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	for _, ln := range []net.Listener{a.ln, a.imdsLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	a.unlink()
	a.unlink = func() {}
	a.up.close()
}

// renewLoop renews the client certificate at half-life, retrying with backoff.
func (a *Agent) renewLoop(ctx context.Context) error {
	for {
		if !sleep(ctx, a.state.renewAt().Sub(a.now())) {
			return nil
		}
		retry := renewRetryMin
		for {
			err := a.state.renew(ctx, a.up, a.roots)
			if err == nil {
				a.log.Info("node certificate renewed", slog.Time("expires", a.state.certificate().Leaf.NotAfter))
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("renewing the node certificate failed; retrying", slog.String("error", err.Error()),
				slog.Time("expires", a.state.certificate().Leaf.NotAfter), slog.Duration("retry_in", retry))
			if !sleep(ctx, retry) {
				return nil
			}
			retry = min(retry*2, renewRetryMax)
		}
	}
}

// followEvents long-polls the server's events after seq after (-1: from a first call) and drops
// the cached tokens they name. It reconnects with backoff; a Reset (and the answer to a first
// call) drops everything.
func (a *Agent) followEvents(ctx context.Context, after int64) error {
	backoff := time.Second
	failing := false
	for ctx.Err() == nil {
		resp, err := a.up.events(ctx, after, eventsWait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				a.log.Warn("the control plane's events are not reachable; cached tokens are still served, reconnecting",
					slog.String("error", err.Error()))
				failing = true
			}
			if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
				return nil
			}
			backoff = min(backoff*2, eventsBackoffMax)
			continue
		}
		if failing {
			a.log.Info("the control plane's events are reachable again")
			failing = false
		}
		backoff = time.Second
		first := after < 0
		if resp.Reset || first {
			a.cache.dropAll()
			a.met.events.WithLabelValues("reset").Inc()
		}
		for _, ev := range resp.Events {
			if ev.Kind == agentapi.EventSiteChanged {
				a.kickSites()
				a.met.events.WithLabelValues(ev.Kind).Inc()
				continue
			}
			if ev.Kind == agentapi.EventIdentityChanged && ev.PrincipalID != "" {
				n := a.cache.drop(ev.PrincipalID)
				a.met.events.WithLabelValues(ev.Kind).Inc()
				a.log.Debug("identity changed; its tokens dropped", slog.String("principal", ev.PrincipalID), slog.Int("tokens", n))
			}
		}
		if resp.Next > after || resp.Reset {
			after = max(resp.Next, 0)
		}
		if first {
			close(a.synced)
		}
	}
	return nil
}

// sleep waits d, or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
