package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/frontdoor"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// The agent's side of the front door (internal/frontdoor): its listeners, which sites it serves
// (the apps of this agent that the server says are placed on this node), their ports, their
// state as the supervisor sees it, and the serving certificate for their host names.

// FrontDoorConfig places the front door. With neither listener set there is none.
type FrontDoorConfig struct {
	// Listen is the HTTPS listener (HTTP/1.1 and HTTP/2), e.g. 0.0.0.0:443; its certificate,
	// from Lanyard's CA, names the host names of the sites placed on this node.
	Listen string `yaml:"listen"`
	// ListenHTTP is an optional plain-HTTP listener (sites whose Easy Auth requires HTTPS refuse
	// it).
	ListenHTTP string `yaml:"listen_http"`
	// RequestTimeout is the wait for an app's answer; default 230 s (App Service's).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxBodyBytes bounds a request body; default 1 GiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

func (c FrontDoorConfig) enabled() bool { return c.Listen != "" || c.ListenHTTP != "" }

// sitesPeriod is how often the agent asks the server for its sites' settings (a changed
// authsettingsV2 takes effect within it); SyncSites does it at once.
const sitesPeriod = 15 * time.Second

// AccessLogPath is where the front door's access log of app name goes (`lanyard webapp log tail
// --access`).
func AccessLogPath(stateDir, name string) string {
	return strings.TrimSuffix(LogPath(stateDir, name), ".log") + ".access.log"
}

// door is the agent's front door.
type door struct {
	fd          *frontdoor.FrontDoor
	ln, httpLn  net.Listener
	srv, plain  *http.Server
	key         *ecdsa.PrivateKey
	cert        atomic.Pointer[tls.Certificate]
	kick        chan struct{}
	mu          sync.Mutex // one sync at a time; guards the fields below
	certFor     string     // the sorted host names of cert
	certRenewAt time.Time
	served      map[string]agentapi.Site // by app name
	logs        map[string]*appLog       // access logs by app name
}

// newDoor builds the front door and opens its listeners.
func (a *Agent) newDoor() error {
	c := a.cfg.FrontDoor
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "front door key")
	}
	d := &door{key: key, kick: make(chan struct{}, 1), served: map[string]agentapi.Site{}, logs: map[string]*appLog{}}
	// The tenant's keys come from the server's public discovery document and JWKS (see
	// frontdoor.JWKS for why), read with the agent's trust in Lanyard's CA and no client
	// certificate: they are public.
	// Asked at each fetch: with several servers, one that is up.
	keys := &frontdoor.JWKS{Source: a.up.public, Now: a.now}
	d.fd = frontdoor.New(frontdoor.Config{
		RequestTimeout: c.RequestTimeout, MaxBodyBytes: c.MaxBodyBytes, Keys: keys,
		Log: a.log, Now: a.now, Registerer: a.met.reg,
	})
	if c.Listen != "" {
		if d.ln, err = net.Listen("tcp", c.Listen); err != nil {
			return errs.Wrap(errs.Unavailable, err, "front_door.listen "+c.Listen+": "+err.Error())
		}
		d.srv = newDoorServer(d.fd, a.log)
		d.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				if c := d.cert.Load(); c != nil {
					return c, nil
				}
				return nil, errors.New("the front door has no certificate yet")
			}}
	}
	if c.ListenHTTP != "" {
		if d.httpLn, err = net.Listen("tcp", c.ListenHTTP); err != nil {
			if d.ln != nil {
				d.ln.Close()
			}
			return errs.Wrap(errs.Unavailable, err, "front_door.listen_http "+c.ListenHTTP+": "+err.Error())
		}
		d.plain = newDoorServer(d.fd, a.log)
	}
	a.door = d
	return nil
}

// newDoorServer is an http.Server for sites: no server-wide write or read timeout (streams and
// WebSockets last as long as they last; the front door bounds the wait for the app instead).
func newDoorServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       4 * time.Minute, // App Service's load balancer's idle timeout
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// FrontDoorURL is the base URL of the front door's HTTPS listener (https://127.0.0.1:PORT), or
// "" when there is none.
func (a *Agent) FrontDoorURL() string {
	if a.door == nil || a.door.ln == nil {
		return ""
	}
	return "https://" + a.door.ln.Addr().String()
}

// FrontDoorHTTPURL is the base URL of the front door's plain-HTTP listener, or "".
func (a *Agent) FrontDoorHTTPURL() string {
	if a.door == nil || a.door.httpLn == nil {
		return ""
	}
	return "http://" + a.door.httpLn.Addr().String()
}

// FrontDoor returns the front door's handler (nil without one), for tests and benchmarks.
func (a *Agent) FrontDoor() http.Handler {
	if a.door == nil {
		return nil
	}
	return a.door.fd
}

// SyncSites asks the server now for the settings of the sites this agent runs (the agent does it
// every 15 s by itself) and applies them.
func (a *Agent) SyncSites(ctx context.Context) error {
	if a.door == nil {
		return errs.E(errs.Invalid, "this agent has no front door (front_door.listen)")
	}
	return a.syncSites(ctx)
}

// pickPort chooses the port an app listens on: WEBSITES_PORT when its configuration sets it (App
// Service's way for a container to name its port), else a free loopback port.
func pickPort(env map[string]string) (int, error) {
	if v, ok := env["WEBSITES_PORT"]; ok {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return 0, errs.E(errs.Invalid, "env: WEBSITES_PORT %q is not a port", v)
		}
		return p, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, errs.Wrap(errs.Unavailable, err, "choosing a port for an app")
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// doorEnv is what the front door adds to an app's environment (functions.md §10).
func (a *Agent) doorEnv(ap *app, env Env) {
	if a.door == nil {
		return
	}
	p := strconv.Itoa(ap.port)
	env["PORT"], env["WEBSITES_PORT"] = p, p
	env["WEBSITE_SITE_NAME"] = ap.cfg.Name
	a.door.mu.Lock()
	s, ok := a.door.served[ap.cfg.Name]
	a.door.mu.Unlock()
	if ok {
		env["WEBSITE_HOSTNAME"] = s.HostName
		if s.Auth != nil {
			env["WEBSITE_AUTH_ENABLED"] = "True"
		}
	}
}

// syncSites asks the server about every app's site (and the stopped sites still served) and
// serves the ones placed on this node. A serving certificate is asked for when the set of host
// names changed or the one held is past half its life.
func (a *Agent) syncSites(ctx context.Context) error {
	d := a.door
	d.mu.Lock()
	defer d.mu.Unlock()
	// The sites to ask about: one per app of the agent, then the stopped ones it still serves.
	type want struct {
		name, site string
		ap         *app // nil: its app has stopped
	}
	var list []want
	a.apps.mu.RLock()
	for _, ap := range a.apps.byName {
		list = append(list, want{ap.cfg.Name, ap.cfg.Site, ap})
	}
	a.apps.mu.RUnlock()
	slices.SortFunc(list, func(x, y want) int { return strings.Compare(x.name, y.name) })
	for name, s := range d.served {
		if !slices.ContainsFunc(list, func(w want) bool { return w.name == name }) {
			list = append(list, want{name: name, site: s.App})
		}
	}
	req := agentapi.SitesRequest{Apps: make([]string, len(list))}
	for i, w := range list {
		req.Apps[i] = w.site
	}
	resp, err := a.up.sites(ctx, req)
	if err != nil {
		return err
	}
	if len(resp.Sites) != len(list) {
		return errs.E(errs.Internal, "the control plane answered %d sites for %d asked", len(resp.Sites), len(list))
	}
	var names []string
	for i, s := range resp.Sites {
		w := list[i]
		if s.Error != "" {
			// Not (or no longer) this node's to serve: placed elsewhere, or deleted.
			if _, was := d.served[w.name]; was {
				a.log.Warn("front door: no longer serving a site", slog.String("app", w.name), slog.String("reason", s.Error))
				d.fd.RemoveSite(w.name)
				delete(d.served, w.name)
				if w.ap != nil {
					a.stopFunctions(w.ap, false)
				}
				if l := d.logs[w.name]; l != nil {
					l.Close()
					delete(d.logs, w.name)
				}
			}
			continue
		}
		names = append(names, s.HostName)
		log := d.logs[w.name]
		if log == nil {
			if log, err = openAppLog(AccessLogPath(a.cfg.StateDir, w.name), maxAppLog); err != nil {
				return err
			}
			d.logs[w.name] = log
		}
		backend := d.fd.Backend(w.name)
		if w.ap != nil {
			backend = "127.0.0.1:" + strconv.Itoa(w.ap.port)
		}
		site := frontdoor.Site{Name: w.name, HostName: s.HostName, Backend: backend, Auth: authOf(s.Auth), AccessLog: log}
		var sb *sandbox.Sandbox
		if w.ap != nil {
			sb = w.ap.sb.Load() // once: the sandbox may be closed meanwhile
		}
		if sb != nil {
			site.Dial = sb.Netns.Dial
		} else if w.ap == nil {
			site.Dial = d.fd.Dialer(w.name) // a stopped app keeps how it was reached
		}
		var fa *fnApp
		if w.ap != nil {
			fa = a.functionApp(w.ap, s)
		}
		if fa != nil {
			site.Handler = fa // the function host, in-process; its state is fa's to set
		}
		d.fd.SetSite(site)
		switch {
		case fa != nil:
		case w.ap == nil:
			// The app stopped and left the agent: its site stays served as stopped (503), as
			// App Service answers for a stopped app, until an app of that name starts again.
			d.fd.SetState(w.name, frontdoor.Stopped)
		case !w.ap.settled.Load():
			d.fd.SetState(w.name, frontdoor.Starting) // its sandbox is being made
		case len(w.ap.cfg.Command) == 0:
			d.fd.SetState(w.name, frontdoor.Running) // its process is run by the caller of StartApp
		}
		d.served[w.name] = s
	}
	slices.Sort(names)
	if d.ln != nil && len(names) > 0 && (strings.Join(names, ",") != d.certFor || a.now().After(d.certRenewAt)) {
		if err := a.renewDoorCert(ctx, req, names); err != nil {
			a.log.Warn("front door: no serving certificate", slog.String("error", err.Error()))
		}
	}
	return nil
}

// renewDoorCert asks for a serving certificate for names with the front door's key.
func (a *Agent) renewDoorCert(ctx context.Context, req agentapi.SitesRequest, names []string) error {
	d := a.door
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}}, d.key)
	if err != nil {
		return err
	}
	req.CSR = csr
	resp, err := a.up.sites(ctx, req)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(d.key)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair([]byte(resp.Certificate), keyPEM)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "the front door certificate the control plane issued does not match its key")
	}
	d.cert.Store(&cert)
	d.certFor = strings.Join(names, ",")
	life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore)
	d.certRenewAt = cert.Leaf.NotBefore.Add(life / 2)
	return nil
}

func authOf(s *agentapi.SiteAuth) *frontdoor.Auth {
	if s == nil {
		return nil
	}
	return &frontdoor.Auth{
		RequireAuthentication: s.RequireAuthentication, Action: s.Action, ExcludedPaths: s.ExcludedPaths,
		RequireHTTPS: s.RequireHTTPS, ClientID: s.ClientID, Tenant: s.IssuerTenant,
		AllowedAudiences: s.AllowedAudiences, AllowedApplications: s.AllowedApplications, AllowedIdentities: s.AllowedIdentities,
	}
}

// sitesLoop syncs every sitesPeriod, and when kicked (an app was added).
func (a *Agent) sitesLoop(ctx context.Context) error {
	t := time.NewTicker(sitesPeriod)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.door.kick:
		}
		if err := a.syncSites(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				a.log.Warn("front door: the sites' settings cannot be read; serving the last ones", slog.String("error", err.Error()))
			}
			failing = true
		} else {
			failing = false
		}
	}
}

// kickSites asks sitesLoop for a sync soon.
func (a *Agent) kickSites() {
	if a.door == nil {
		return
	}
	select {
	case a.door.kick <- struct{}{}:
	default:
	}
}

// setState tells the front door about app name's process.
func (a *Agent) setState(name string, st frontdoor.State) {
	if a.door != nil {
		a.door.fd.SetState(name, st)
	}
}

// awaitReady marks ap Running once its port accepts connections (inside its sandbox when it has
// one), polling until ctx is done (the process exited or is stopping).
func (a *Agent) awaitReady(ctx context.Context, ap *app) {
	if a.door == nil {
		return
	}
	addr := "127.0.0.1:" + strconv.Itoa(ap.port)
	dial := (&net.Dialer{Timeout: time.Second}).DialContext
	if sb := ap.sb.Load(); sb != nil {
		dial = sb.Netns.Dial
	}
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		c, err := dial(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			a.setState(ap.cfg.Name, frontdoor.Running)
			return
		}
		if !sleep(ctx, delay) {
			return
		}
	}
}

// doorServers returns the front door's servers' serve loops, for Run's errgroup.
func (a *Agent) doorServers() []func() error {
	d := a.door
	if d == nil {
		return nil
	}
	var out []func() error
	if d.srv != nil {
		out = append(out, func() error { return d.srv.ServeTLS(d.ln, "", "") })
	}
	if d.plain != nil {
		out = append(out, func() error { return d.plain.Serve(d.httpLn) })
	}
	return out
}

// closeDoor shuts the front door's servers down (gracefully when ctx allows) and closes its logs.
func (a *Agent) closeDoor(ctx context.Context, graceful bool) {
	d := a.door
	if d == nil {
		return
	}
	for _, srv := range []*http.Server{d.srv, d.plain} {
		if srv == nil {
			continue
		}
		if graceful {
			_ = srv.Shutdown(ctx)
		} else {
			_ = srv.Close()
		}
	}
	for _, ln := range []net.Listener{d.ln, d.httpLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	d.mu.Lock()
	for name, l := range d.logs {
		l.Close()
		delete(d.logs, name)
	}
	d.mu.Unlock()
}
