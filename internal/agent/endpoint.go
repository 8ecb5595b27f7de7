package agent

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/jsonx"
)

// The paths of the identity endpoints.
const (
	PathAppService = "/msi/token"                      // IDENTITY_ENDPOINT; also with a trailing slash
	PathIMDS       = "/metadata/identity/oauth2/token" // also with a trailing slash
)

// The api-versions of the App Service-style endpoint, and the oldest of the IMDS-style one.
const (
	appServiceVersion       = "2019-08-01"
	appServiceLegacyVersion = "2017-09-01"
	imdsMinVersion          = "2018-02-01"
)

// selectorParam maps a query parameter to the selector it sets.
type selectorParam struct {
	name string
	kind agentapi.SelectorKind
}

var (
	appServiceSelectors = []selectorParam{
		{"client_id", agentapi.SelectorClientID}, {"object_id", agentapi.SelectorObjectID},
		{"principal_id", agentapi.SelectorObjectID}, {"mi_res_id", agentapi.SelectorResourceID},
	}
	legacySelectors = []selectorParam{{"clientid", agentapi.SelectorClientID}}
	// IMDS documents msi_res_id and also takes mi_res_id, which some SDKs send (.NET's
	// Azure.Identity, older MSALs).
	imdsSelectors = []selectorParam{
		{"client_id", agentapi.SelectorClientID}, {"object_id", agentapi.SelectorObjectID}, {"msi_res_id", agentapi.SelectorResourceID},
		{"mi_res_id", agentapi.SelectorResourceID},
	}
)

// errMetadataHeader is the IMDS answer to a request without Metadata: true, the availability
// probe included.
var errMetadataHeader = &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Msg: "Required metadata header not specified"}

// serveAppService answers GET /msi/token: api-version 2019-08-01 with X-IDENTITY-HEADER, or
// 2017-09-01 with secret; the header says which app calls.
func (a *Agent) serveAppService(w http.ResponseWriter, r *http.Request) {
	ep := a.met.ep[epAppService]
	defer a.recoverPanic(w, r, ep)
	if err := a.checkLocal(r); err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	if r.Method != http.MethodGet {
		a.writeError(w, r, ep, errs.E(errs.Invalid, "the token endpoint answers GET only"))
		return
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	var header, headerName string
	var selectors []selectorParam
	switch v := q.Get("api-version"); v {
	case appServiceVersion:
		headerName, header, selectors = "X-IDENTITY-HEADER", r.Header.Get("X-Identity-Header"), appServiceSelectors
	case appServiceLegacyVersion:
		headerName, header, selectors = "secret", r.Header.Get("Secret"), legacySelectors
	case "":
		a.writeError(w, r, ep, errs.E(errs.Invalid, "Required query variable 'api-version' is missing (use %s)", appServiceVersion))
		return
	default:
		a.writeError(w, r, ep, errs.E(errs.Invalid, "api-version %q is not supported: use %s (or %s)", clip(v), appServiceVersion, appServiceLegacyVersion))
		return
	}
	app := a.apps.byHeader(header)
	if app == nil {
		msg := "the " + headerName + " header does not match any app on this node"
		if header == "" {
			msg = "the " + headerName + " header is required (the value of IDENTITY_HEADER)"
		}
		a.writeError(w, r, ep, errs.E(errs.Unauthenticated, "%s", msg))
		return
	}
	sel, resource, err := tokenParams(q, selectors)
	if err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	a.serveToken(w, r, ep, app.cfg.Site, app.lim, sel, resource)
}

// serveIMDS answers GET /metadata/identity/oauth2/token for the node's own identities.
func (a *Agent) serveIMDS(w http.ResponseWriter, r *http.Request) {
	a.serveIMDSAs(w, r, "", a.nodeLim)
}

// serveIMDSAs answers GET /metadata/identity/oauth2/token with the identities of the app of
// site ("" for the node's own), throttled by lim: the node's endpoint, and in an app's sandbox
// its 169.254.169.254.
func (a *Agent) serveIMDSAs(w http.ResponseWriter, r *http.Request, site string, lim *limiter) {
	ep := a.met.ep[epIMDS]
	defer a.recoverPanic(w, r, ep)
	if err := a.checkLocal(r); err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		a.writeError(w, r, ep, errMetadataHeader)
		return
	}
	if r.Method != http.MethodGet {
		a.writeError(w, r, ep, errs.E(errs.Invalid, "the token endpoint answers GET only"))
		return
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	if v := q.Get("api-version"); !imdsVersionOK(v) {
		a.writeError(w, r, ep, errs.E(errs.Invalid, "api-version %q is invalid or was not specified: use %s or later", clip(v), imdsMinVersion))
		return
	}
	sel, resource, err := tokenParams(q, imdsSelectors)
	if err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	a.serveToken(w, r, ep, site, lim, sel, resource)
}

// checkLocal refuses what did not come straight from a process on this host: a request a proxy
// forwarded (X-Forwarded-For, Forwarded) and a request whose Host is not one of the endpoint's
// own addresses or names, which is what a web page sends after rebinding its own name to
// 127.0.0.1 or 169.254.169.254 (DNS rebinding): its browser then reads the node's tokens as if
// they were the page's own origin's. The port is not compared: a relay in front of the endpoint
// (169.254.169.254:80 to the agent's port) passes the Host on as the client wrote it.
func (a *Agent) checkLocal(r *http.Request) error {
	for _, h := range []string{"X-Forwarded-For", "Forwarded"} {
		if _, ok := r.Header[h]; ok {
			return errs.E(errs.Invalid, "a request with a %s header is refused: the identity endpoints answer processes on this host only", h)
		}
	}
	if !a.ownHost(r.Host) {
		return errs.E(errs.Invalid, "the Host %q is not this endpoint's: call it by its address (%s) or localhost", clip(r.Host), a.ln.Addr())
	}
	return nil
}

// imdsHost is the address every SDK calls IMDS by; the agent answers for it (imds.listen, or a
// relay in a sandbox), wherever it listens.
var imdsHost = netip.AddrFrom4([4]byte{169, 254, 169, 254})

// ownHost reports whether host (a Host header: name or address, perhaps with a port) names this
// agent: localhost, a loopback address, an address it listens on, or 169.254.169.254. No other
// name is: a name other than localhost resolves through DNS, which whoever owns it controls.
func (a *Agent) ownHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip == imdsHost {
		return true
	}
	for _, ln := range []net.Listener{a.ln, a.imdsLn} {
		if ln == nil {
			continue
		}
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && ap.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// imdsVersionOK accepts YYYY-MM-DD dates from 2018-02-01 on.
func imdsVersionOK(v string) bool {
	if len(v) != len(imdsMinVersion) || v[4] != '-' || v[7] != '-' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return v >= imdsMinVersion
}

// parseQuery decodes a query string, refusing repeated parameters and bad escapes.
func parseQuery(raw string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "the query string does not parse")
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, errs.E(errs.Invalid, "the query parameter %q is given more than once", clip(k))
		}
	}
	return q, nil
}

// tokenParams reads the resource and at most one selector.
func tokenParams(q url.Values, params []selectorParam) (agentapi.Selector, string, error) {
	sel := agentapi.Selector{Kind: agentapi.SelectorSystem}
	var used string
	for _, p := range params {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		if used != "" {
			return sel, "", errs.E(errs.Invalid, "only one of %s may be given, got %s and %s", paramNames(params), used, p.name)
		}
		used, sel = p.name, agentapi.Selector{Kind: p.kind, Value: v}
	}
	resource := q.Get("resource")
	if resource == "" {
		return sel, "", errs.E(errs.Invalid, "Required query variable 'resource' is missing")
	}
	if r, ok := strings.CutSuffix(resource, "/.default"); ok && r != "" {
		resource = r
	}
	return sel, resource, nil
}

func paramNames(params []selectorParam) string {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// clip shortens what an error quotes back.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// serveToken is the common path: throttle, cache or mint, answer.
func (a *Agent) serveToken(w http.ResponseWriter, r *http.Request, ep *epMetrics, app string, lim *limiter, sel agentapi.Selector, resource string) {
	now := a.now()
	if err := lim.request(now); err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	e, hit, err := a.cache.get(r.Context(), app, sel, resource, lim)
	if err != nil {
		a.writeError(w, r, ep, err)
		return
	}
	if hit {
		ep.hit.Inc()
	} else {
		ep.miss.Inc()
	}
	bp := bodyPool.Get().(*[]byte)
	body := appendToken((*bp)[:0], e, resource, a.now().Unix())
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	*bp = body
	bodyPool.Put(bp)
	ep.answered(http.StatusOK, nil)
}

var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	bodyPool        = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
)

// appendToken renders azure-wire.md §4.7: every number a decimal-digit string, expires_on
// always, client_id echoed, and refresh_in, half the remaining lifetime, as a JSON integer: Go's
// MSAL takes a string or an integer, msal-node ignores it, and Python's MSAL (Debian's
// python3-azure) adds it to a number, which a string breaks (TestVaultPythonClient).
func appendToken(b []byte, e *entry, resource string, now int64) []byte {
	in := max(e.expiresOn-now, 0)
	b = append(b, `{"access_token":`...)
	b = jsonx.AppendString(b, e.access)
	b = append(b, `,"expires_on":"`...)
	b = strconv.AppendInt(b, e.expiresOn, 10)
	b = append(b, `","expires_in":"`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `","ext_expires_in":"`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `","not_before":"`...)
	b = strconv.AppendInt(b, e.notBefore, 10)
	b = append(b, `","refresh_token":"","resource":`...)
	b = jsonx.AppendString(b, resource)
	b = append(b, `,"token_type":"Bearer","client_id":`...)
	b = jsonx.AppendString(b, e.clientID)
	b = append(b, `,"refresh_in":`...)
	b = strconv.AppendInt(b, in/2, 10)
	return append(b, '}')
}

// writeError answers with {"error","error_description"}; a 429 carries Retry-After. Causes of
// 5xx answers are logged (never a header or token).
func (a *Agent) writeError(w http.ResponseWriter, r *http.Request, ep *epMetrics, err error) {
	status := httpx.Status(errs.KindOf(err))
	var te *throttledError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", te.retryAfterSeconds())
	}
	if status >= 500 {
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "token request failed",
			slog.String("endpoint", ep.name), slog.Int("status", status), slog.String("error", err.Error()))
	}
	httpx.OAuth2(w, r, status, errs.CodeOf(err), errs.Message(err))
	ep.answered(status, err)
}

// recoverPanic turns a panic in a handler into a 500 in the endpoint's shape.
func (a *Agent) recoverPanic(w http.ResponseWriter, r *http.Request, ep *epMetrics) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		a.log.LogAttrs(r.Context(), slog.LevelError, "panic in a token handler", slog.String("endpoint", ep.name), slog.Any("panic", p))
		a.writeError(w, r, ep, errs.E(errs.Internal, "internal error"))
	}
}
