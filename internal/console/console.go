package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of the console's lifetimes.
const (
	DefaultLinkTTL    = 5 * time.Minute
	DefaultSessionTTL = 8 * time.Hour
	maxLinkTTL        = time.Hour
)

// Prefix is where the console is served.
const Prefix = "/console/"

// cookieName carries the __Host- prefix: the browser keeps it only when it is Secure, has Path=/
// and no Domain, so no other host or path can set or shadow it.
const cookieName = "__Host-lanyard-console"

// Console serves the web console.
type Console struct {
	Store Store
	// API is the control plane's HTTPS handler: every page reads and changes through it,
	// in-process, as the session's principal.
	API   http.Handler
	Audit *audit.Recorder
	Log   *slog.Logger
	Now   func() time.Time
	Rand  io.Reader
	// PublicURL is the control plane's URL ("https://localhost:8443"); login links start with it.
	PublicURL string
	// DefaultTenant names the tenant of a login link that names none.
	DefaultTenant func() string
	// LinkTTL and SessionTTL default to DefaultLinkTTL and DefaultSessionTTL.
	LinkTTL, SessionTTL time.Duration
	// LogAccess checks that p may stream the output of the site with ARM id site: the rule of the
	// API's log stream (appservice.Service.CheckLogStream, the right to publish to the site), asked
	// before the Log stream reads an app's files on this host itself. nil: it reads none.
	LogAccess func(ctx context.Context, p authn.Principal, tenantID, site string) error
	// logs is where the Log stream reads apps' output (SetAppLogs).
	logs atomic.Pointer[logSource]
	// Activity, when set, feeds the dashboard.
	Activity *Activity

	pages map[string]*template.Template

	verifyMu sync.Mutex
	verified *verification // the audit chain's last verification (admin.go)
}

// Init parses the templates and fills in defaults; call it once before serving.
func (c *Console) Init() error {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.LinkTTL <= 0 {
		c.LinkTTL = DefaultLinkTTL
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	pages, err := parsePages()
	if err != nil {
		return err
	}
	c.pages = pages
	return nil
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		out[base] = t
	}
	return out, nil
}

// Handler serves everything under Prefix.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/login", c.serveLogin)
	mux.HandleFunc("GET /console/signed-out", c.serveSignedOut)
	c.routes(mux, func(pattern string, h pageFunc) { mux.Handle(pattern, c.authed(h)) })
	return secure(mux)
}

// AdminRoutes mounts, on the shared route table, the admin API's call that makes login links. It
// answers only on the admin socket (a console session may not mint itself new sessions).
func (c *Console) AdminRoutes(mux *http.ServeMux) {
	mux.Handle("POST /admin/v1/console/login-links", httpx.With(httpx.Plain, c.serveCreateLink))
}

// LinkResponse is the admin API's answer with a new login link. URL carries the link's secret.
type LinkResponse struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (c *Console) serveCreateLink(w http.ResponseWriter, r *http.Request) error {
	if err := authn.RequireAdmin(r.Context()); err != nil {
		return err
	}
	if _, ok := authn.PeerFrom(r.Context()); !ok {
		return errs.E(errs.Denied, "console login links are made on the admin socket only")
	}
	p, _ := authn.From(r.Context())
	var in struct {
		TenantID string `json:"tenantId"`
		TTL      string `json:"ttl"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	if in.TenantID == "" {
		in.TenantID = r.Header.Get(client.TenantHeader)
	}
	ttl := c.LinkTTL
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d <= 0 || d > maxLinkTTL {
			return errs.E(errs.Invalid, "ttl must be a duration from 1s to %s", maxLinkTTL)
		}
		ttl = d
	}
	out, err := c.NewLoginLink(r.Context(), in.TenantID, p.Actor, ttl)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// NewLoginLink makes a single-use login link into tenantID (the default tenant when "") that
// opens an administrator's session, and audits that it was made (never the link).
func (c *Console) NewLoginLink(ctx context.Context, tenantID, actor string, ttl time.Duration) (LinkResponse, error) {
	if tenantID == "" && c.DefaultTenant != nil {
		tenantID = c.DefaultTenant()
	}
	if !guid.Valid(tenantID) {
		return LinkResponse{}, errs.E(errs.Invalid, "tenantId must be a tenant id (a GUID)")
	}
	if ttl <= 0 {
		ttl = c.LinkTTL
	}
	secret, hash, err := newSecret(c.Rand)
	if err != nil {
		return LinkResponse{}, err
	}
	now := c.Now()
	l := LoginLink{Hash: hash, TenantID: strings.ToLower(tenantID), CreatedBy: actor, Created: now, Expires: now.Add(ttl)}
	err = c.Store.CreateConsoleLoginLink(ctx, l)
	c.record(ctx, audit.Event{Actor: actor, Action: "console.login-link.create", Target: "tenant/" + l.TenantID, Result: result(err),
		Detail: "expires=" + l.Expires.UTC().Format(time.RFC3339)})
	if err != nil {
		return LinkResponse{}, err
	}
	u := strings.TrimRight(c.PublicURL, "/") + Prefix + "login?t=" + url.QueryEscape(secret)
	return LinkResponse{URL: u, ExpiresAt: l.Expires.UTC()}, nil
}

func result(err error) string {
	switch {
	case err == nil:
		return audit.Success
	case errs.Is(err, errs.Denied) || errs.Is(err, errs.Unauthenticated):
		return audit.Denied
	}
	return audit.Failure
}

func (c *Console) record(ctx context.Context, ev audit.Event) {
	if c.Audit == nil {
		return
	}
	ev.RequestID = httpx.RequestID(ctx)
	if _, err := c.Audit.Record(ctx, ev); err != nil {
		c.Log.LogAttrs(ctx, slog.LevelError, "console audit", slog.String("action", ev.Action), slog.String("error", err.Error()))
	}
}

// serveLogin opens a session with a login link's secret, sets its cookie and sends the browser
// to the dashboard (so the used link does not stay in the address bar).
func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request) {
	secret := r.URL.Query().Get("t")
	if !validSecret(secret) {
		c.loginRefused(w, r, "This sign-in link is not valid.")
		return
	}
	sessSecret, sessHash, err := newSecret(c.Rand)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	id, err := newGUID(c.Rand)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.Now()
	s, err := c.Store.UseConsoleLoginLink(r.Context(), hashSecret(secret), now, Session{
		ID: id, SecretHash: sessHash, PrincipalKind: PrincipalAdmin, Created: now, Expires: now.Add(c.SessionTTL),
	})
	if err != nil {
		if errs.Is(err, errs.Denied) {
			c.record(r.Context(), audit.Event{Actor: "anonymous", Action: "console.session.create", Target: "console", Result: audit.Denied,
				Detail: "reason=link unknown, expired or used"})
			c.loginRefused(w, r, "This sign-in link was already used or has expired. Run `lanyard console login` for a new one.")
			return
		}
		c.fail(w, r, err)
		return
	}
	c.record(r.Context(), audit.Event{Actor: s.Actor(), Action: "console.session.create", Target: "tenant/" + s.TenantID, Result: audit.Success,
		Detail: "link by " + s.CreatedBy})
	if _, err := c.Store.DeleteExpiredConsole(r.Context(), now); err != nil {
		c.Log.LogAttrs(r.Context(), slog.LevelWarn, "console: delete expired sessions", slog.String("error", err.Error()))
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: sessSecret, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Expires: s.Expires, MaxAge: int(c.SessionTTL / time.Second),
	})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (c *Console) loginRefused(w http.ResponseWriter, r *http.Request, msg string) {
	c.renderStatus(w, r, http.StatusForbidden, "signin.html", &page{Title: "Sign in", Error: msg})
}

func (c *Console) serveSignedOut(w http.ResponseWriter, r *http.Request) {
	c.renderStatus(w, r, http.StatusOK, "signin.html", &page{Title: "Signed out", Flash: "You are signed out."})
}

// sessionKey carries the request's session in its context.
type sessionKey struct{}

// current is the signed-in session of a request and its cookie's secret.
type current struct {
	Session
	secret string
	remote string
}

// principal is who the session acts as in the API.
func (s *current) principal() authn.Principal {
	return authn.Principal{Admin: s.PrincipalKind == PrincipalAdmin, Actor: s.Actor()}
}

// session returns the request's session, or false when it has none that is valid now.
func (c *Console) session(r *http.Request) (current, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil || !validSecret(ck.Value) {
		return current{}, false
	}
	s, err := c.Store.GetConsoleSession(r.Context(), hashSecret(ck.Value))
	if err != nil {
		if !errs.Is(err, errs.NotFound) {
			c.Log.LogAttrs(r.Context(), slog.LevelError, "console: read session", slog.String("error", err.Error()))
		}
		return current{}, false
	}
	if !c.Now().Before(s.Expires) {
		return current{}, false
	}
	return current{Session: s, secret: ck.Value, remote: r.RemoteAddr}, true
}

// pageFunc serves one page for a signed-in session.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *current) error

// authed requires a session; for every method but GET and HEAD it requires the session's CSRF
// token in the form (field "csrf") and, when the browser sends one, an Origin of this server.
func (c *Console) authed(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				c.renderStatus(w, r, http.StatusUnauthorized, "signin.html", &page{Title: "Sign in"})
				return
			}
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			if !csrfValid(s.secret, r.PostForm.Get("csrf")) || !sameOrigin(r) {
				c.record(r.Context(), audit.Event{Actor: s.Actor(), Action: "console.csrf", Target: r.URL.Path, Result: audit.Denied})
				c.renderStatus(w, r, http.StatusForbidden, "error.html", &page{Title: "Refused", Error: "This form was not sent from a page of this console (its CSRF token is missing or wrong). Reload the page and try again."})
				return
			}
		}
		if err := h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, &s)), &s); err != nil {
			c.fail(w, r, err)
		}
	})
}

// sameOrigin reports whether the request's Origin, when it has one, is the request's own host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host)
}

// fail renders an error page: the API's own message for what it refused, a generic one (and a
// log line) for anything else.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ce *client.Error
	status, msg := http.StatusInternalServerError, "Something went wrong; the server's log has the details."
	switch {
	case errors.As(err, &ce):
		status, msg = ce.Status, ce.Message
		if msg == "" {
			msg = http.StatusText(ce.Status)
		}
	case errs.KindOf(err) != errs.Internal:
		status, msg = httpx.Status(errs.KindOf(err)), errs.Message(err)
	default:
		c.Log.LogAttrs(r.Context(), slog.LevelError, "console", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	c.renderStatus(w, r, status, "error.html", &page{Title: http.StatusText(status), Error: msg})
}

// secure sets the headers every answer of the console carries.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // no Referer leaves the console; same-origin forms keep their Origin
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// CSP is the console's Content-Security-Policy: scripts and styles from its own files only (no
// inline script or style, no eval), no frames, forms only to itself.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// api returns a client of Lanyard's public APIs that calls them in-process as the session.
func (c *Console) api(s *current) *client.Client {
	return &client.Client{
		BaseURL: strings.TrimRight(c.PublicURL, "/"),
		Tenant:  s.TenantID,
		HTTP: &http.Client{Transport: inProcess{h: c.API, remote: s.remote, p: s.principal()},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// inProcess is an http.RoundTripper that serves requests with the API's handler, as principal p.
type inProcess struct {
	h      http.Handler
	p      authn.Principal
	remote string
}

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(authn.WithPrincipal(r.Context(), t.p))
	in.RemoteAddr, in.RequestURI = t.remote, r.URL.RequestURI()
	if in.Host == "" {
		in.Host = r.URL.Host
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, in)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(rec.status), StatusCode: rec.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()), Request: r,
	}, nil
}

// recorder is the response an in-process request is written to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
