package frontdoor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// The request's context carries what the proxy's error handler and the access log need.
type ctxKey struct{}

// reqInfo is one request's state as it goes through the front door.
type reqInfo struct {
	site   *entry
	id     string
	caller string // the authenticated caller's oid, for the access log
	state  State  // the app's state when the request arrived
}

// Headers a client may not set: the front door sets them (or, for the Easy Auth ones, sets them
// only for an authenticated caller). Forwarded and X-Forwarded-* are also removed by
// httputil.ReverseProxy's Rewrite. Canonical forms.
var untrusted = []string{
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "Forwarded",
	"X-Original-Url", "X-Client-Ip", "X-Client-Port", "X-Arr-Log-Id", "X-Arr-Ssl", "X-Appservice-Proto",
	"X-Waws-Unencoded-Url", "Disguised-Host", "X-Site-Deployment-Id",
}

// untrustedSet is untrusted in upper case.
var untrustedSet = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range untrusted {
		m[strings.ToUpper(k)] = true
	}
	return m
}()

// stripUntrusted removes the headers above and every X-MS-CLIENT-PRINCIPAL* and X-MS-TOKEN-*
// header (App Service strips client copies of them, functions.md §9). A name is compared with
// its underscores read as dashes: CGI, WSGI, PHP and others turn both into the same variable
// (HTTP_X_MS_CLIENT_PRINCIPAL), so X_MS_CLIENT_PRINCIPAL would otherwise reach such an app as
// the real header (Lanyard's hardening).
func stripUntrusted(h http.Header) {
	for k := range h {
		u := strings.ReplaceAll(strings.ToUpper(k), "_", "-")
		if untrustedSet[u] || strings.HasPrefix(u, "X-MS-CLIENT-PRINCIPAL") || strings.HasPrefix(u, "X-MS-TOKEN-") {
			delete(h, k)
		}
	}
}

// newProxy builds the reverse proxy. Its transport keeps many idle connections per app (a
// site under load reuses them instead of dialling) and waits RequestTimeout for response
// headers: App Service's 230 s is the time an app has to start answering, not a bound on a
// stream or a WebSocket.
func (f *FrontDoor) newProxy() *httputil.ReverseProxy {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// A site whose app is in a sandbox is dialled inside it (its Dial); the request's values
		// reach the dial (the transport keeps them, without the request's cancellation).
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if info, ok := ctx.Value(ctxKey{}).(*reqInfo); ok && info.site.Dial != nil {
				return info.site.Dial(ctx, network, info.site.Backend)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: f.cfg.RequestTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &httputil.ReverseProxy{
		Rewrite:   f.rewrite,
		Transport: tr,
		// No periodic flushing: ReverseProxy flushes each write at once anyway for a streamed
		// answer (no Content-Length, or text/event-stream), and a sized one goes out in one write.
		FlushInterval: 0,
		ErrorHandler:  f.proxyError,
		BufferPool:    bufferPool{},
		// What the proxy logs itself (a body copy that failed midway) goes to the agent's log.
		ErrorLog: slog.NewLogLogger(f.cfg.Log.Handler(), slog.LevelDebug),
	}
}

// rewrite points the outgoing request of the ReverseProxy path at the site's app and sets App
// Service's forwarding headers from what the front door saw, never from what the client said.
func (f *FrontDoor) rewrite(pr *httputil.ProxyRequest) {
	info := pr.In.Context().Value(ctxKey{}).(*reqInfo)
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = info.site.Backend
	if info.site.Dial != nil {
		// The transport pools connections by address: a sandboxed app's 127.0.0.1:PORT is not
		// the host's, nor another sandbox's, so its connections are pooled under a name of its
		// own (never resolved: Dial connects).
		_, port, _ := net.SplitHostPort(info.site.Backend)
		out.URL.Host = net.JoinHostPort(info.site.Name+".netns.invalid", port)
	}
	out.Host = pr.In.Host // the app sees the host name the client asked for, as on App Service
	setForwarded(out.Header, pr.In, info, pr.In.URL.RequestURI())
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // do not add Go's
	}
}

// setForwarded sets App Service's forwarding headers on h, the headers of the request to the
// app, from what the front door saw of in (the client's own copies were removed by
// stripUntrusted). uri is in's path and query.
func setForwarded(h http.Header, in *http.Request, info *reqInfo, uri string) {
	ip, port, _ := net.SplitHostPort(in.RemoteAddr)
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	// one backing array for the values (one allocation, not eight); each slice is capped so
	// that an append to one cannot write into the next
	v := [...]string{ip, proto, in.Host, uri, port, info.id, info.site.Name, ""}
	vals := v[:]
	if in.TLS != nil {
		vals[7] = "2048|256|Lanyard CA|CN=" + info.site.HostName
		h["X-Arr-Ssl"] = vals[7:8:8]
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	h["X-Client-Ip"] = vals[0:1:1]
	h["X-Forwarded-Proto"] = vals[1:2:2]
	h["X-Forwarded-Host"] = vals[2:3:3]
	h["X-Original-Url"] = vals[3:4:4]
	h["X-Client-Port"] = vals[4:5:5]
	h["X-Arr-Log-Id"] = vals[5:6:6]
	h["X-Site-Deployment-Id"] = vals[6:7:7]
}

// proxyError answers when the app could not be reached or failed: 503 while it is starting or
// stopped, 504 when it did not answer in time, 413 for a body over the limit, 502 otherwise.
// The bodies are short and say which (App Service's own error pages are HTML; Lanyard's are
// text).
func (f *FrontDoor) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	f.failed(w, r, r.Context().Value(ctxKey{}).(*reqInfo), err)
}

// failed answers for a request the app could not answer (proxyError).
func (f *FrontDoor) failed(w http.ResponseWriter, r *http.Request, info *reqInfo, err error) {
	var mbe *http.MaxBytesError
	// The state when the request came in decides: an app that was running and failed on this
	// request is a 502 even if the agent has marked it restarting since.
	switch st := info.state; {
	case errors.As(err, &mbe):
		plain(w, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large: the body is over "+strconv.FormatInt(mbe.Limit, 10)+" bytes.")
	case r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		w.WriteHeader(499)
	case st != Running:
		unavailable(w, info.site.Name, st)
	case isTimeout(err):
		plain(w, http.StatusGatewayTimeout, "504 Gateway Timeout: "+info.site.Name+" did not answer within "+f.cfg.RequestTimeout.String()+".")
	default:
		f.cfg.Log.Warn("front door: the app failed", "site", info.site.Name, "request_id", info.id, "error", err.Error())
		plain(w, http.StatusBadGateway, "502 Bad Gateway: "+info.site.Name+" did not answer (it may have crashed; the agent restarts it).")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func unavailable(w http.ResponseWriter, site string, st State) {
	w.Header().Set("Retry-After", "5")
	plain(w, http.StatusServiceUnavailable, "503 Service Unavailable: "+site+" is "+st.String()+".")
}

func plain(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// bufferPool lends the proxy's copy buffers (32 KiB each) so that streaming a large body does not
// allocate per request.
type bufferPool struct{}

var buffers = make(chan []byte, 256)

func (bufferPool) Get() []byte {
	select {
	case b := <-buffers:
		return b
	default:
		return make([]byte, 32<<10)
	}
}

func (bufferPool) Put(b []byte) {
	select {
	case buffers <- b:
	default:
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status and size of an answer for the access log and the
// metrics; it passes Flush and Hijack (WebSockets) through via Unwrap.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush is needed by name: ReverseProxy flushes through http.NewResponseController, which
// follows Unwrap, but some callers type-assert.
func (s *statusRecorder) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }
