package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Relay serves HTTPS for Azure's names inside sandboxes and forwards each request to a Lanyard
// server: graph.microsoft.com to the directory API, management.azure.com to the management
// API, login.microsoftonline.com to the token service, NAME.vault.azure.net to the vault NAME.
// What Lanyard answers with its own URLs is mapped back to Azure's names, so that a client sees
// what it would see on Azure: the Key Vault challenge names https://vault.azure.net (the Key
// Vault clients require the vault's host to end with the challenge's resource), and the
// nextLinks and ids in JSON answers name Azure's hosts (clients follow them as they are).
//
// With several servers (Servers), each request goes to the first of the agent's choice, and on
// to the next when a server does not answer: any request whose connection could not be made (it
// never left), and a GET, HEAD, OPTIONS or TRACE without a body whatever the failure. A request
// that may have changed something (a POST, PUT, PATCH or DELETE that reached a server) is never
// sent twice: its client gets 502 and decides (Key Vault's PUT of a secret makes a new version
// each time, so even PUT is not replayed). A request that failed because its client's body did
// is not the server's failure: it is not sent again, and the server is not set aside (Down).
type Relay struct {
	// Servers returns the Lanyard servers to try for one request, in the order to try them: the
	// agent's choice, servers known to answer first. Nil: ServerURL alone. Every server it may
	// return is among those it returns when Handler is called (their URLs are mapped).
	Servers func() []Server
	// ServerURL is the server, https://host[:port], when Servers is nil.
	ServerURL string
	// URLs are Lanyard's other URLs that answers may name and that are mapped to Azure's names
	// (the servers' public URL); every server's URL is mapped too.
	URLs        []string
	VaultDomain string         // Lanyard's vault domain, host[:port] (as the server's vault_domain)
	Roots       *x509.CertPool // Lanyard's CA
	CA          *CA            // the sandbox CA, whose leaf the relay presents
	Log         *slog.Logger
	// HTTP2 speaks HTTP/2 to the servers; the default is HTTP/1.1 on a pool of connections,
	// which outran one HTTP/2 connection under concurrent load here (docs/performance.md).
	HTTP2 bool

	proxy     *httputil.ReverseProxy
	lanyard   []string // Lanyard's URLs, https://host[:port], without a trailing slash
	vaultHost string   // VaultDomain's host
	vaultPort string   // the port vault URLs carry ("" for 443)
	tlsCfg    *tls.Config
	mu        sync.Mutex // serialises the making of transports
	ups       sync.Map   // serverKey → *relayUpstream: the transport of each server
	mappers   sync.Map   // Azure host (not a vault's) → *mapper
	// dial opens the connections to a server (tests replace it).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is one Lanyard server the relay may forward to.
type Server struct {
	URL  string // https://host[:port]: what the requests for the server's own APIs name
	Addr string // the address to dial, host:port; "" for the URL's host and port
	// Down and Up tell the server's owner (the agent) that the server did not answer a request,
	// or answered one; nil: nobody is told.
	Down, Up func()
}

type serverKey struct{ url, addr string }

// relayUpstream is one server's transport and the host its own APIs are asked at.
type relayUpstream struct {
	host string // the URL's host[:port]
	tr   *http.Transport
}

// maxBuffered bounds the JSON answers of known length that are read whole, mapped and passed on
// with their length; a longer answer, or one of unknown length, is mapped as it streams (and
// passed on without a length).
const maxBuffered = 64 << 10

// Handler returns the relay's HTTP handler (the TLS is the listener's: see TLSConfig).
func (rl *Relay) Handler() (http.Handler, error) {
	if rl.Servers == nil {
		s := Server{URL: rl.ServerURL}
		rl.Servers = func() []Server { return []Server{s} }
	}
	servers := rl.Servers()
	if len(servers) == 0 {
		return nil, errors.New("the sandbox relay has no Lanyard server to forward to")
	}
	var port string // the first server's, for vault URLs when the vault domain names none
	for _, s := range servers {
		up, err := rl.newUpstream(s)
		if err != nil {
			return nil, err
		}
		if port == "" {
			_, port, _ = net.SplitHostPort(up.host)
		}
		rl.addURL("https://" + up.host)
	}
	if rl.ServerURL != "" {
		rl.addURL(rl.ServerURL)
	}
	for _, u := range rl.URLs {
		rl.addURL(u)
	}
	rl.vaultHost, rl.vaultPort = rl.VaultDomain, port
	if h, p, err := net.SplitHostPort(rl.VaultDomain); err == nil {
		rl.vaultHost, rl.vaultPort = h, p
	}
	if rl.vaultPort == "443" {
		rl.vaultPort = ""
	}
	if rl.Log == nil {
		rl.Log = slog.Default()
	}
	rl.proxy = &httputil.ReverseProxy{
		Rewrite:        rl.rewrite,
		Transport:      roundTripper(rl.roundTrip),
		ModifyResponse: rl.modifyResponse,
		BufferPool:     copyBuffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errClientBody) {
				rl.Log.Info("sandbox relay: the client's request body failed", slog.String("host", r.Host), slog.Any("error", err))
				http.Error(w, "the sandbox relay could not read the request body", http.StatusBadGateway)
				return
			}
			rl.Log.Warn("sandbox relay: the Lanyard server did not answer", slog.String("host", r.Host), slog.Any("error", err))
			http.Error(w, "the Lanyard server did not answer the sandbox relay", http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(rl.serve), nil
}

// addURL adds u to the URLs that are mapped, once.
func (rl *Relay) addURL(u string) {
	u = strings.TrimRight(u, "/")
	for _, have := range rl.lanyard {
		if strings.EqualFold(have, u) {
			return
		}
	}
	rl.lanyard = append(rl.lanyard, u)
}

// newUpstream returns s's transport, made on first use.
func (rl *Relay) newUpstream(s Server) (*relayUpstream, error) {
	key := serverKey{s.URL, s.Addr}
	if up, ok := rl.ups.Load(key); ok {
		return up.(*relayUpstream), nil
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if up, ok := rl.ups.Load(key); ok {
		return up.(*relayUpstream), nil
	}
	u, err := url.Parse(strings.TrimRight(s.URL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("the sandbox relay needs the server's https URL, not %q", s.URL)
	}
	addr := s.Addr
	if addr == "" {
		addr = u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		}
	}
	if rl.tlsCfg == nil {
		// One session cache for every server: a new connection resumes its TLS session.
		rl.tlsCfg = &tls.Config{RootCAs: rl.Roots, MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(256)}
	}
	dial := rl.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{
		// Every request to this server goes to its address; TLS verifies the name the request
		// names (the server's, or a vault's under the vault domain, which its certificate covers).
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial(ctx, network, addr)
		},
		TLSClientConfig:     rl.tlsCfg,
		ForceAttemptHTTP2:   rl.HTTP2,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	up := &relayUpstream{host: u.Host, tr: tr}
	rl.ups.Store(key, up)
	return up, nil
}

// TLSConfig is the relay listener's TLS: the sandbox CA's leaf, HTTP/2 and HTTP/1.1. Session
// tickets are on (crypto/tls's default): a client that reconnects resumes its session.
func (rl *Relay) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: rl.CA.GetCertificate, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
}

// CloseIdleConnections closes the relay's idle connections to the servers.
func (rl *Relay) CloseIdleConnections() {
	rl.ups.Range(func(_, up any) bool {
		up.(*relayUpstream).tr.CloseIdleConnections()
		return true
	})
}

func (rl *Relay) serve(w http.ResponseWriter, r *http.Request) {
	api, vault := Match(r.Host)
	if api == NotAzure || (api == Vault && vault == "") {
		http.Error(w, "the sandbox relay serves Azure's API hosts only", http.StatusNotFound)
		return
	}
	rl.proxy.ServeHTTP(w, r)
}

// relayed is what one request carries from the request's rewrite to the answer's mapping.
type relayed struct {
	azureHost string // the Azure host the request came for, lower case, without a port
	api       API
	vaultHost string // for a vault: its Lanyard host[:port]
}

type relayedKey struct{}

func (rl *Relay) rewrite(pr *httputil.ProxyRequest) {
	host := strings.ToLower(pr.In.Host) // as the client wrote it (a port would be :443)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	rq := &relayed{azureHost: host}
	var vault string
	rq.api, vault = Match(host)
	if rq.api == Vault && vault != "" {
		rq.vaultHost = vault + "." + rl.vaultHost
		if rl.vaultPort != "" {
			rq.vaultHost = net.JoinHostPort(rq.vaultHost, rl.vaultPort)
		}
	}
	pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), relayedKey{}, rq))
	pr.Out.URL.Scheme = "https"
	pr.Out.Header.Del("Accept-Encoding") // answers are mapped as text
	pr.Out.Header.Del("Forwarded")
	pr.Out.Header.Del("X-Forwarded-For")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// roundTrip sends req to the servers in turn (Relay's comment says when it goes on to the next).
func (rl *Relay) roundTrip(req *http.Request) (*http.Response, error) {
	rq, _ := req.Context().Value(relayedKey{}).(*relayed)
	if rq == nil {
		return nil, errors.New("sandbox relay: a request without its Azure host")
	}
	servers := rl.Servers()
	idempotent := (req.Body == nil || req.Body == http.NoBody) && (req.Method == http.MethodGet ||
		req.Method == http.MethodHead || req.Method == http.MethodOptions || req.Method == http.MethodTrace)
	var body *clientBody
	if req.Body != nil && req.Body != http.NoBody {
		// Its read errors are kept: a request that failed because its client's body did (the
		// client went away during an upload) is not the server's failure. With several servers
		// it is kept open across attempts: one whose connection could not be made read none of it.
		body = &clientBody{rc: req.Body, kept: len(servers) > 1}
		if body.kept {
			defer body.rc.Close()
		}
	}
	var last error
	for i, s := range servers {
		up, err := rl.newUpstream(s)
		if err != nil {
			return nil, err
		}
		out := req
		if i > 0 || len(servers) > 1 || body != nil {
			r2 := *req
			u := *req.URL
			r2.URL = &u
			out = &r2
		}
		host := rq.vaultHost
		if host == "" {
			host = up.host
		}
		out.URL.Host, out.Host = host, host
		var connected bool
		if body != nil {
			out.Body = body
		}
		if !idempotent && len(servers) > 1 {
			// Whether a connection was had: a request that had none never left.
			out = out.WithContext(httptrace.WithClientTrace(out.Context(), &httptrace.ClientTrace{
				GotConn: func(httptrace.GotConnInfo) { connected = true },
			}))
		}
		resp, err := up.tr.RoundTrip(out)
		if err == nil {
			if s.Up != nil {
				s.Up()
			}
			return resp, nil
		}
		last = err
		if req.Context().Err() != nil {
			return nil, err // the client went away: the server is not to blame
		}
		if body != nil && body.failed.Load() {
			return nil, fmt.Errorf("%w: %w", errClientBody, err) // nor here
		}
		if s.Down != nil {
			s.Down()
		}
		never := !connected && !idempotent && (body == nil || body.n == 0)
		if i+1 < len(servers) && (idempotent || never) {
			rl.Log.Info("sandbox relay: a Lanyard server did not answer; trying the next", slog.String("server", s.URL), slog.Any("error", err))
			continue
		}
		return nil, err
	}
	return nil, last
}

// errClientBody marks a request that failed because reading its client's body did.
var errClientBody = errors.New("reading the client's request body failed")

// clientBody is the client's request body as the transport reads it: it counts what was read
// of it and records whether reading it failed. When kept, the transport cannot close it (its
// Close is the relay's).
type clientBody struct {
	rc     io.ReadCloser
	kept   bool
	n      int64
	failed atomic.Bool // a read failed other than at the end (the transport reads in a goroutine of its own)
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.failed.Store(true)
	}
	return n, err
}

func (b *clientBody) Close() error {
	if b.kept {
		return nil
	}
	return b.rc.Close()
}

// modifyResponse maps Lanyard's URLs in an answer to Azure's names.
func (rl *Relay) modifyResponse(resp *http.Response) error {
	rq, _ := resp.Request.Context().Value(relayedKey{}).(*relayed)
	if rq == nil {
		return nil
	}
	m := rl.mapperFor(rq)
	if m == nil {
		return nil // the token service's documents keep Lanyard's issuer: tokens carry it
	}
	for _, h := range []string{"Location", "Azure-AsyncOperation"} {
		if v := resp.Header.Get(h); v != "" {
			resp.Header.Set(h, string(m.mapAll(nil, []byte(v))))
		}
	}
	if rq.api == Vault {
		if ch := resp.Header.Values("WWW-Authenticate"); len(ch) > 0 {
			resp.Header.Del("WWW-Authenticate")
			for _, v := range ch {
				resp.Header.Add("WWW-Authenticate", rl.azureChallenge(v))
			}
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") || resp.Header.Get("Content-Encoding") != "" ||
		resp.Body == nil || resp.Body == http.NoBody || resp.Request.Method == http.MethodHead {
		return nil // passed on as it is, streamed
	}
	if resp.ContentLength < 0 || resp.ContentLength > maxBuffered {
		// Mapped as it streams: the length may change, so it is not sent.
		resp.Body = &mapReader{rc: resp.Body, m: m}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return nil
	}
	buf := getBuffer(int(resp.ContentLength))
	n, err := io.ReadFull(resp.Body, buf.b[:resp.ContentLength])
	resp.Body.Close()
	if err != nil {
		putBuffer(buf)
		return err
	}
	raw := buf.b[:n]
	if m.first(raw) < 0 { // most answers name no Lanyard URL: passed on as they came
		resp.Body = &bufferBody{buf: buf, b: raw}
		return nil
	}
	out := getBuffer(n + n/4)
	out.b = m.mapAll(out.b[:0], raw)
	putBuffer(buf)
	resp.Body = &bufferBody{buf: out, b: out.b}
	resp.ContentLength = int64(len(out.b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out.b)))
	return nil
}

// mapperFor returns the mapping of Lanyard's URLs to the Azure host of rq; nil for none.
func (rl *Relay) mapperFor(rq *relayed) *mapper {
	switch rq.api {
	case Vault:
		// Vault names are many: the one pair is made for the request.
		return newMapper([][2]string{{"https://" + rq.vaultHost, "https://" + rq.azureHost}})
	case Graph, Management:
	default:
		return nil
	}
	if m, ok := rl.mappers.Load(rq.azureHost); ok {
		return m.(*mapper)
	}
	var pairs [][2]string
	paths := []string{"/v1.0"}
	if rq.api == Management {
		paths = []string{"/subscriptions", "/providers"}
	}
	for _, u := range rl.lanyard {
		for _, p := range paths {
			pairs = append(pairs, [2]string{u + p, "https://" + rq.azureHost + p})
		}
	}
	m := newMapper(pairs)
	rl.mappers.Store(rq.azureHost, m) // one of the few Azure hosts Match knows
	return m
}

// azureChallenge maps the vault's challenge to Azure's: the resource https://vault.azure.net
// (Lanyard accepts tokens for it at every vault), the authority at login.microsoftonline.com.
func (rl *Relay) azureChallenge(v string) string {
	res := "https://" + rl.vaultHost
	if rl.vaultPort != "" {
		res = "https://" + net.JoinHostPort(rl.vaultHost, rl.vaultPort)
	}
	pairs := []string{`resource="` + res + `"`, `resource="https://vault.azure.net"`}
	for _, u := range rl.lanyard {
		pairs = append(pairs,
			`authorization="`+u+`/`, `authorization="https://login.microsoftonline.com/`,
			`authorization_uri="`+u+`/`, `authorization_uri="https://login.microsoftonline.com/`)
	}
	return strings.NewReplacer(pairs...).Replace(v)
}
