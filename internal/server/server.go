package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/lanyardhq/lanyard/internal/admin"
	"github.com/lanyardhq/lanyard/internal/appservice"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/config"
	"github.com/lanyardhq/lanyard/internal/console"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/pki"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
	"github.com/lanyardhq/lanyard/internal/token"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// Options are what a server is built from.
type Options struct {
	Config config.Config
	Log    *slog.Logger
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand
}

// Server is an assembled control plane.
type Server struct {
	cfg  config.Config
	log  *slog.Logger
	now  func() time.Time
	rand io.Reader

	DB    *store.DB
	KEK   *seal.KEK
	CA    *pki.CA
	Certs *pki.ServingCerts
	// SandboxCA is the sandbox CA (sandbox.go); SandboxCerts its certificate for Azure's names.
	SandboxCA    *pki.CA
	SandboxCerts *pki.ServingCerts
	Tokens       *token.Service
	Tenants      *tenant.Service
	Dir          *directory.Service
	Resources    *resources.Service  // the management API's resources (management.go)
	RBAC         *rbac.Service       // the management API's role assignments and definitions
	Nodes        *nodes.Service      // the agent API and join tokens (nodes.go)
	Vault        *vault.Service      // the vault data plane (vault.go)
	Apps         *appservice.Service // sites' app settings, function keys and packages (appservice.go)
	Audit        *audit.Recorder
	Console      *console.Console  // the web console (console.go)
	Activity     *console.Activity // what the console's dashboard shows
	Default      tenant.Tenant     // the default tenant
	Created      bool              // the default tenant was created by this Open (first start)

	Refusals    *audit.Refusals     // refusals of unidentified callers, in aggregate (guard.go)
	Checkpoints *audit.Checkpointer // signed checkpoints of the audit chain (audit.go)
	Retention   *audit.Retention    // exports and removes old audit events (audit.go)
	Folder      *audit.Folder       // folds the audit log's filter keys (audit.go)

	metrics *metrics
	guard   *httpx.Guard
	handler http.Handler // the HTTPS API
	admin   http.Handler // the same API on the admin socket, where peers are administrators
	ready   atomic.Bool
}

// Open builds a server: it checks the key-encryption key against the data before writing anything,
// then loads or creates the CA, the signing keys and the default tenant.
func Open(ctx context.Context, o Options) (*Server, error) {
	s := &Server{cfg: o.Config, log: o.Log, now: o.Now, rand: o.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	kek, err := o.Config.LoadKEK()
	if err != nil {
		return nil, err
	}
	s.KEK = kek
	db, err := store.OpenWith(ctx, o.Config.Store, store.Options{SQLiteSynchronous: o.Config.SQLite.Synchronous, AuditJournal: o.Config.SQLite.AuditJournal})
	if err != nil {
		return nil, err
	}
	s.DB = db
	if err := s.open(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) open(ctx context.Context) error {
	// The KEK must open what is already sealed: a wrong key, or an unfinished KEK rotation, stops
	// the server here, before anything is written.
	n, err := s.DB.CountSealedNotUnder(ctx, s.KEK.ID())
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the key-encryption key %s does not match the data: %d sealed value(s) in the store are under another key (wrong kek_file or LANYARD_KEK, or an unfinished 'lanyard server rotate-kek': run it again)", s.KEK, n)
	}
	s.Audit = &audit.Recorder{Store: s.DB, Log: s.log, Now: s.now, Level: auditLogLevel}
	if err := s.openCheckpoints(ctx); err != nil {
		return err
	}
	if err := s.openRetention(); err != nil {
		return err
	}
	s.openGuard()
	if s.CA, err = pki.LoadOrCreateCA(ctx, s.DB, s.KEK, s.now, s.rand); err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	if s.Certs, err = pki.NewServingCerts(s.CA, pki.ServingOptions{Hosts: s.servingHosts(), VaultDomain: s.cfg.VaultDomain, Log: s.log}); err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	if err := s.openSandboxCA(ctx); err != nil {
		return err
	}
	s.Tenants = &tenant.Service{Store: s.DB, Audit: s.Audit, Now: s.now, Rand: s.rand}
	s.Tokens = &token.Service{
		Store: s.DB, KEK: s.KEK, Now: s.now, Rand: s.rand, Tenants: s.Tenants, BaseURL: s.cfg.PublicURL, Log: s.log, Audit: s.Audit,
		Config: token.Config{
			Alg: s.cfg.Token.SigningAlg, TokenLifetime: s.cfg.Token.Lifetime.Std(),
			RotationPeriod: s.cfg.Token.RotationPeriod.Std(), PrePublish: s.cfg.Token.Prepublish.Std(),
		},
	}
	if err := s.Tokens.Init(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	s.Dir = &directory.Service{
		Store: s.DB, Audit: s.Audit, Now: s.now, Rand: s.rand, PublicURL: strings.TrimRight(s.cfg.PublicURL, "/"),
		VaultDomain: s.cfg.VaultDomain, DefaultTenant: func() string { return s.Default.ID }, Tenants: s.Tenants,
	}
	s.Dir.Auth = &authn.Bearer{Verifier: s.Tokens, Audiences: s.Dir.BuiltinIdentifiers(directory.DirectoryAppID)}
	s.Tenants.OnCreate = append(s.Tenants.OnCreate, func(ctx context.Context, t tenant.Tenant) error {
		return s.Dir.EnsureBuiltins(ctx, t.ID)
	})
	s.openManagement()
	s.openVault()
	s.openAppService()
	s.openNodes()
	if s.Default, s.Created, err = s.Tenants.EnsureDefault(ctx); err != nil {
		return fmt.Errorf("default tenant: %w", err)
	}
	// Every tenant gets the built-ins brought up to date at start (identifier URIs follow the
	// public URL and vault domain, which may have changed since the last start).
	tenants, err := s.DB.ListTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if err := s.Dir.EnsureBuiltins(ctx, t.ID); err != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		if err := s.ensureManagement(ctx, t.ID); err != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
	}
	s.metrics = newMetrics(s.Tokens.KeyStates)
	s.Tokens.OnMint = s.metrics.minted.Inc
	if err := s.openConsole(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	s.mount(keyAdmin{t: s.Tokens, now: s.now})
	s.ready.Store(true)
	return nil
}

// servingHosts are the names the serving certificate covers besides the defaults pki adds.
func (s *Server) servingHosts() []string {
	hosts := append([]string(nil), s.cfg.Hostnames...)
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}

// mount builds the route table, shared by the HTTPS listener and the admin socket.
func (s *Server) mount(keys admin.Keys) {
	mux := http.NewServeMux()
	s.Tokens.Routes(mux)
	s.Tenants.Routes(mux)
	s.Nodes.Routes(mux)
	(&admin.API{
		Keys: keys, Audit: flushingAudit{s.DB, s.Refusals}, Record: s.Audit, CAPEM: s.CA.CertPEM,
		Checkpoints: s.Checkpoints, CheckpointStore: s.DB, Segments: s.DB,
		Tokens: minter{s}, DefaultTenant: func() string { return s.Default.ID },
	}).Routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", httpx.With(httpx.Plain, s.readyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /metadata/endpoints", s.Resources.ServeCloudMetadata)
	s.Console.AdminRoutes(mux)
	consolePages := s.consoleFront()
	graph, management := s.Dir.Handler(), s.managementHandler()
	// The front door sends each API's paths to its own handler: patterns of different APIs would
	// otherwise overlap with the token service's wildcard-first ones ("/{tenant}/...").
	vaults := s.Vault.Handler()
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isVaultHost(r) {
			r.Pattern = "vault"
			vaults.ServeHTTP(w, r)
			return
		}
		if p := r.URL.Path; p == "/v1.0" || strings.HasPrefix(p, "/v1.0/") {
			r.Pattern = "/v1.0/"
			graph.ServeHTTP(w, r)
			return
		}
		if isManagementPath(r.URL.Path) {
			management.ServeHTTP(w, r)
			return
		}
		if isConsolePath(r.URL.Path) {
			r.Pattern = "/console/"
			consolePages.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	graphShape, armShape := httpx.Graph(s.now), s.managementShape()
	observe := func(route, method string, status int, d time.Duration) {
		s.metrics.observe(route, method, status, d)
		s.Activity.Request(route, method, status)
	}
	shapeFor := func(r *http.Request) httpx.Shape {
		if s.isVaultHost(r) {
			return httpx.KeyVault
		}
		if strings.HasPrefix(r.URL.Path, "/v1.0") {
			return graphShape
		}
		if isManagementPath(r.URL.Path) {
			return armShape
		}
		return httpx.Plain
	}
	mw := &httpx.Middleware{Log: s.log, Observe: observe, Now: s.now, AccessLog: s.cfg.Log.Access, ShapeFor: shapeFor}
	s.guard.ShapeFor = shapeFor
	// Azure's names are mapped first: the shape of errors, the metrics and the guard see the
	// Lanyard host a request for one of them is served as.
	s.handler = s.azureNames().Wrap(mw.Wrap(s.guard.Wrap(front)))
	s.admin = authn.AdminSocket(uint32(os.Getuid()), withProfiling(s.handler))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if !s.ready.Load() {
		return errs.E(errs.Unavailable, "starting or stopping")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "store unreachable")
	}
	if s.Tokens.KeyStates()["active"] == 0 {
		return errs.E(errs.Unavailable, "no active signing key loaded")
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// Handler is the HTTPS API (for in-process tests that bring their own listener).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the HTTPS listener and the admin socket named by the configuration.
func (s *Server) Listen() (https, adminLn net.Listener, err error) {
	https, err = net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	adminLn, err = ListenAdminSocket(s.cfg.AdminSocket)
	if err != nil {
		https.Close()
		return nil, nil, err
	}
	return https, adminLn, nil
}

// ListenAdminSocket listens on the admin socket (mode 0600), replacing a stale socket file.
func ListenAdminSocket(path string) (net.Listener, error) {
	ln, err := authn.ListenSocket(path)
	if errors.Is(err, authn.ErrSocketInUse) {
		return nil, fmt.Errorf("admin socket %s is in use: is another lanyard server running on this data directory?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}

// Serve serves HTTPS on https and the admin API on adminLn (either may be nil) and runs the
// background tasks, until ctx ends; then it stops accepting, lets in-flight requests finish (up to
// 10 s) and returns.
func (s *Server) Serve(ctx context.Context, https, adminLn net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	errlog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	// Each server counts the requests it is handling, for the shutdown below.
	type counted struct {
		hs     *http.Server
		active *atomic.Int64
	}
	var servers []counted
	count := func(h http.Handler) (http.Handler, *atomic.Int64) {
		var n atomic.Int64
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			defer n.Add(-1)
			h.ServeHTTP(w, r)
		}), &n
	}
	if https != nil {
		h, n := count(s.handler)
		hs := &http.Server{
			Handler: h, TLSConfig: s.tlsConfig(), ErrorLog: errlog,
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		}
		servers = append(servers, counted{hs, n})
		g.Go(func() error { return ignoreClosed(hs.ServeTLS(https, "", "")) })
	}
	if adminLn != nil {
		h, n := count(s.admin)
		as := &http.Server{Handler: h, ConnContext: authn.PeerConnContext, ErrorLog: errlog, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, counted{as, n})
		g.Go(func() error { return ignoreClosed(as.Serve(adminLn)) })
	}
	g.Go(func() error { return s.Tokens.Run(ctx) })
	g.Go(func() error { return s.Certs.Run(ctx) })
	g.Go(func() error { return s.SandboxCerts.Run(ctx) })
	g.Go(func() error { return s.runVaultPurge(ctx) })
	g.Go(func() error { return s.Nodes.Run(ctx) })
	g.Go(func() error { return s.Apps.Run(ctx) })
	g.Go(func() error { return s.Refusals.Run(ctx) })
	g.Go(func() error { return s.Checkpoints.Run(ctx) })
	g.Go(func() error { return s.Retention.Run(ctx) })
	g.Go(func() error { return s.Folder.Run(ctx) })
	if st := s.Audit.Stream; st != nil {
		g.Go(func() error { return st.Run(ctx) })
	}
	g.Go(func() error { return s.watchChanges(ctx) })
	g.Go(func() error {
		<-ctx.Done()
		s.ready.Store(false)
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, c := range servers {
			shutdown(sctx, c.hs, c.active)
		}
		return nil
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// shutdown stops hs gracefully: no new connections, in-flight requests finish. An HTTP/2
// connection then lingers for up to a second after its last answer, waiting for its client to
// hang up after the GOAWAY; once no request has been in flight for two looks in a row there is
// nothing left to wait for, and the connections are closed.
func shutdown(ctx context.Context, hs *http.Server, active *atomic.Int64) {
	done := make(chan struct{})
	go func() {
		_ = hs.Shutdown(ctx)
		close(done)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	idle := 0
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if active.Load() != 0 {
				idle = 0
				continue
			}
			if idle++; idle == 2 {
				_ = hs.Close()
				<-done
				return
			}
		}
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close releases the store.
func (s *Server) Close() error { return s.DB.Close() }

// minter mints a token for a principal of the directory: the directory decides the claims (the
// resource's service principal, the roles held on it), the token service signs.
type minter struct{ s *Server }

func (m minter) MintFor(ctx context.Context, tenantID, principalID, resource string) (token.Token, error) {
	req, err := m.s.Dir.TokenRequest(ctx, tenantID, principalID, resource)
	if err != nil {
		return token.Token{}, err
	}
	return m.s.Tokens.Mint(ctx, req)
}

// keyAdmin adapts the token service to the admin API.
type keyAdmin struct {
	t   *token.Service
	now func() time.Time
}

func (k keyAdmin) Rotate(ctx context.Context, immediate bool) error {
	_, err := k.t.Rotate(ctx, immediate)
	return err
}

func (k keyAdmin) KeyInfos(ctx context.Context) ([]admin.KeyInfo, error) {
	recs, err := k.t.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := k.now()
	out := make([]admin.KeyInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, admin.KeyInfo{ID: r.ID, Alg: r.Alg, State: string(r.State(now)),
			CreatedAt: r.CreatedAt, ActivateAt: r.ActivateAt, RetireAt: r.RetireAt, DropAt: r.DropAt})
	}
	return out, nil
}
