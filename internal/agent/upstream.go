package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// maxUpstreamBody bounds what the agent reads from the server.
const maxUpstreamBody = 1 << 20

// upstream is the client of the server's agent API. Enrollment goes without a client
// certificate; everything else presents the node's current one.
//
// The control plane may be several servers (one store, one CA): the configured URLs, and the
// addresses each URL's host name resolves to when the agent starts, are its endpoints. Calls go
// round-robin over the endpoints that answer; one that fails to answer (connection refused or
// reset, a timeout, 502/503/504) is set aside for a while and the call goes on to the next, so
// that a server going away costs no request that another server could answer.
type upstream struct {
	eps  []*endpoint
	next atomic.Uint64 // round-robin position
}

// endpoint is one server: a URL, and the address it is pinned to (when the URL's name has
// several), with clients of its own.
type endpoint struct {
	base  string // https://host[:port], as configured (the TLS name)
	addr  string // ip:port to dial instead of resolving the host; "" to resolve
	plain *http.Client
	mtls  *http.Client
	// mint is mtls over HTTP/1.1 with a pool of keep-alive connections, for token requests
	// only: a mint over HTTP/2 costs both processes more (the client writes the request's
	// headers and body as two frames, each flushed; the server runs every request in a new
	// goroutine whose stack grows again each time, and writes its answer through the
	// connection's frame scheduler), which a cold mint pays on every token (issue 17).
	mint      *http.Client
	downUntil atomic.Int64 // unix nanoseconds: set aside until then
}

// endpointCooldown is how long an endpoint that failed to answer is passed over (it is still
// tried when every endpoint is set aside).
const endpointCooldown = 5 * time.Second

// resolveTimeout bounds the lookup of a URL's addresses at start.
const resolveTimeout = 3 * time.Second

// mintIdleConns is how many HTTP/1.1 connections to one server the token client opens and keeps
// idle at most: enough for the concurrent mints of a busy node (each holds a connection while it
// waits); more concurrent mints wait for one.
const mintIdleConns = 64

// lookupHost resolves a server's name (tests replace it).
var lookupHost = net.DefaultResolver.LookupHost

// newUpstream returns a client of the servers at bases trusting roots; cert returns the client
// certificate to present (nil before enrollment).
func newUpstream(bases []string, roots *x509.CertPool, cert func() *tls.Certificate) *upstream {
	withCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if c := cert(); c != nil {
			return c, nil
		}
		return &tls.Certificate{}, nil
	}
	u := &upstream{}
	for _, base := range bases {
		addrs := []string{""}
		if pu, err := url.Parse(base); err == nil {
			addrs = pinnedAddrs(pu)
		}
		for _, addr := range addrs {
			transport := func(get func(*tls.CertificateRequestInfo) (*tls.Certificate, error), http1 bool) *http.Transport {
				t := &http.Transport{
					Proxy:                 http.ProxyFromEnvironment,
					TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, GetClientCertificate: get},
					ForceAttemptHTTP2:     true,
					MaxIdleConnsPerHost:   16,
					IdleConnTimeout:       90 * time.Second,
					TLSHandshakeTimeout:   10 * time.Second,
					ResponseHeaderTimeout: 0, // the events long poll holds the answer; contexts bound each call
				}
				if http1 {
					t.ForceAttemptHTTP2 = false
					t.Protocols = new(http.Protocols)
					t.Protocols.SetHTTP1(true)
					t.MaxIdleConnsPerHost = mintIdleConns
					// At most as many open: a burst of misses (many apps, or every token dropped at
					// once) waits for a connection rather than opening one TLS handshake per mint.
					t.MaxConnsPerHost = mintIdleConns
				}
				if addr != "" {
					d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
					t.Proxy = nil
					t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
						return d.DialContext(ctx, network, addr)
					}
				}
				return t
			}
			u.eps = append(u.eps, &endpoint{
				base: base, addr: addr,
				plain: &http.Client{Transport: transport(nil, false), Timeout: 30 * time.Second},
				mtls:  &http.Client{Transport: transport(withCert, false)},
				mint:  &http.Client{Transport: transport(withCert, true)},
			})
		}
	}
	return u
}

// pinnedAddrs returns the addresses to pin u's endpoints to: one per address its host name has,
// when it has several; else [""] (dial by name, as usual).
func pinnedAddrs(u *url.URL) []string {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return []string{""}
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := lookupHost(ctx, host)
	if err != nil || len(ips) < 2 {
		return []string{""}
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, port)
	}
	return out
}

// String names the endpoint in logs.
func (e *endpoint) String() string {
	if e.addr != "" {
		return e.base + " (" + e.addr + ")"
	}
	return e.base
}

// order returns the endpoints to try for one call: those not set aside, starting at the next
// in turn, then those set aside (every endpoint is tried once).
func (u *upstream) order() []*endpoint {
	n := len(u.eps)
	if n == 1 { // one server: nothing to order
		return u.eps
	}
	start := int(u.next.Add(1) % uint64(n))
	now := time.Now().UnixNano()
	out := make([]*endpoint, 0, n)
	var aside []*endpoint
	for i := range n {
		e := u.eps[(start+i)%n]
		if e.downUntil.Load() > now {
			aside = append(aside, e)
		} else {
			out = append(out, e)
		}
	}
	return append(out, aside...)
}

// reconnect drops idle connections, so that the next calls present a renewed certificate.
func (u *upstream) reconnect() {
	for _, e := range u.eps {
		e.mtls.CloseIdleConnections()
		e.mint.CloseIdleConnections()
	}
}

// close closes the connections to the control plane that no request uses, as an agent that
// stops should: a server shutting down waits for its HTTP/2 clients to hang up (up to a second).
func (u *upstream) close() {
	for _, e := range u.eps {
		e.plain.CloseIdleConnections()
		e.mtls.CloseIdleConnections()
		e.mint.CloseIdleConnections()
	}
}

// upstreamError is an error answer of the server.
type upstreamError struct {
	Status  int
	Code    string
	Message string
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("the control plane answered %d %s: %s", e.Status, e.Code, e.Message)
}

// unreachableError is a transport failure: the server did not answer.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string {
	return "the control plane is unreachable: " + e.err.Error()
}
func (e *unreachableError) Unwrap() error { return e.err }

// call sends in as JSON (nil: no body) and decodes a 2xx answer into out. It tries the endpoints
// in turn (order) until one answers; an answer that is not 502, 503 or 504 is the answer. A call
// that must not be sent twice (retry false: enrollment, which consumes the join token) goes on to
// the next endpoint only when the connection could not be made.
func (u *upstream) call(ctx context.Context, via func(*endpoint) *http.Client, method, path string, in, out any, retry bool) error {
	var raw []byte
	if in != nil {
		var err error
		if raw, err = json.Marshal(in); err != nil {
			return err
		}
	}
	var last error
	for _, e := range u.order() {
		err := e.call(ctx, via(e), method, path, raw, in != nil, out)
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			if err == nil {
				e.downUntil.Store(0)
			}
			return err
		}
		e.downUntil.Store(time.Now().Add(endpointCooldown).UnixNano())
		last = err
		if !retry && !dialFailed(err) {
			return err
		}
	}
	return last
}

// The clients a call goes through: without a client certificate (enrollment), with it, and with
// it over HTTP/1.1 (token requests).
func plainClient(e *endpoint) *http.Client { return e.plain }
func mtlsClient(e *endpoint) *http.Client  { return e.mtls }
func mintClient(e *endpoint) *http.Client  { return e.mint }

// unanswered reports whether err means the endpoint did not answer the call: another may.
func unanswered(err error) bool {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.Status == http.StatusBadGateway || ue.Status == http.StatusServiceUnavailable || ue.Status == http.StatusGatewayTimeout
	}
	var unreachable *unreachableError
	return errors.As(err, &unreachable)
}

// dialFailed reports whether err is a failure to connect: the request never left.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// call is one attempt on one endpoint.
func (e *endpoint) call(ctx context.Context, c *http.Client, method, path string, raw []byte, hasBody bool, out any) error {
	var body io.Reader
	if hasBody {
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, body)
	if err != nil {
		return err
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return &unreachableError{err: err}
	}
	defer resp.Body.Close()
	rawResp, err := readBody(resp)
	if err != nil {
		return &unreachableError{err: err}
	}
	if resp.StatusCode/100 != 2 {
		ue := &upstreamError{Status: resp.StatusCode}
		var eb agentapi.ErrorBody
		if json.Unmarshal(rawResp, &eb) == nil {
			ue.Code, ue.Message = eb.Error.Code, eb.Error.Message
		}
		if ue.Message == "" {
			ue.Message = http.StatusText(resp.StatusCode)
		}
		return ue
	}
	if err := json.Unmarshal(rawResp, out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// readBody reads an answer's body (at most maxUpstreamBody bytes) into a buffer of its length
// when the server said it, rather than growing one from 512 bytes (a token's answer is ~1.5 kB).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxUpstreamBody {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
}

func (u *upstream) enroll(ctx context.Context, req agentapi.EnrollRequest) (agentapi.EnrollResponse, error) {
	var out agentapi.EnrollResponse
	err := u.call(ctx, plainClient, http.MethodPost, agentapi.PathEnroll, req, &out, false)
	return out, err
}

func (u *upstream) renew(ctx context.Context, csr []byte) (agentapi.RenewResponse, error) {
	var out agentapi.RenewResponse
	err := u.call(ctx, mtlsClient, http.MethodPost, agentapi.PathRenew, agentapi.RenewRequest{CSR: csr}, &out, true)
	return out, err
}

// events long-polls the events after Seq after; after < 0 is the first call.
func (u *upstream) events(ctx context.Context, after int64, wait time.Duration) (agentapi.EventsResponse, error) {
	q := url.Values{agentapi.QueryWait: {wait.String()}}
	if after >= 0 {
		q.Set(agentapi.QueryAfter, strconv.FormatInt(after, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, wait+20*time.Second)
	defer cancel()
	var out agentapi.EventsResponse
	err := u.call(ctx, mtlsClient, http.MethodGet, agentapi.PathEvents+"?"+q.Encode(), nil, &out, true)
	return out, err
}

// sites asks the server for the front door's view of the agent's sites.
func (u *upstream) sites(ctx context.Context, req agentapi.SitesRequest) (agentapi.SitesResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out agentapi.SitesResponse
	err := u.call(ctx, mtlsClient, http.MethodPost, agentapi.PathSites, req, &out, true)
	return out, err
}

// sandboxCA reads the sandbox CA's certificate (PEM), which the servers present for Azure's
// names.
func (u *upstream) sandboxCA(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out agentapi.SandboxCAResponse
	if err := u.call(ctx, mtlsClient, http.MethodGet, agentapi.PathSandboxCA, nil, &out, true); err != nil {
		return nil, fmt.Errorf("the sandbox CA's certificate: %w", err)
	}
	if b, _ := pem.Decode([]byte(out.Certificate)); b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("the server's sandbox CA is not a PEM certificate")
	}
	return []byte(out.Certificate), nil
}

// public returns a client of the server's public documents (no client certificate) and the
// base URL it reaches: the first endpoint's (the front door's JWKS, the sandboxes' cloud
// metadata; reads that are retried later when they fail).
func (u *upstream) public() (*http.Client, string) {
	e := u.order()[0]
	return e.plain, e.base
}

// token asks the server to mint. Its errors are *errs.Error whose Code is the OAuth2 error code
// the identity endpoints answer with.
func (u *upstream) token(ctx context.Context, req agentapi.TokenRequest) (agentapi.TokenResponse, error) {
	var out agentapi.TokenResponse
	err := u.call(ctx, mintClient, http.MethodPost, agentapi.PathToken, req, &out, true)
	if err == nil && (out.AccessToken == "" || out.ExpiresOn == 0 || out.ObjectID == "") {
		err = errors.New("the control plane's token answer lacks accessToken, expiresOn or objectId")
	}
	if err != nil {
		return out, mintError(err)
	}
	return out, nil
}

// mintError classifies an error of the token call for the identity endpoints.
func mintError(err error) error {
	var ue *upstreamError
	var unreachable *unreachableError
	switch {
	case errors.As(err, &unreachable):
		return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
			Msg: "the Lanyard control plane is unreachable and no token for this identity and resource is cached; retry shortly"}
	case errors.Is(err, context.DeadlineExceeded):
		return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
			Msg: "the Lanyard control plane did not answer in time and no token for this identity and resource is cached; retry shortly"}
	case !errors.As(err, &ue):
		return &errs.Error{Kind: errs.Internal, Err: err, Msg: "internal error"}
	}
	switch {
	case ue.Status == http.StatusBadRequest && ue.Code == agentapi.CodeIdentityNotFound:
		return &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Msg: "Identity not found", Err: err}
	case ue.Status == http.StatusBadRequest && ue.Code == agentapi.CodeInvalidResource:
		return &errs.Error{Kind: errs.Invalid, Code: "invalid_resource", Msg: ue.Message, Err: err}
	case ue.Status == http.StatusBadRequest:
		return &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Msg: ue.Message, Err: err}
	case ue.Status == http.StatusForbidden:
		return &errs.Error{Kind: errs.Denied, Code: "access_denied", Msg: ue.Message, Err: err}
	case ue.Status == http.StatusUnauthorized:
		return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
			Msg: "the Lanyard control plane refused this node's certificate (was the node removed?); enroll the node again"}
	case ue.Status == http.StatusTooManyRequests:
		return &errs.Error{Kind: errs.TooMany, Code: "temporarily_unavailable", Err: err,
			Msg: "the Lanyard control plane is throttling this node; retry shortly"}
	}
	return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
		Msg: fmt.Sprintf("the Lanyard control plane could not mint a token (status %d); retry shortly", ue.Status)}
}

// download GETs path (over mutual TLS) and hands the answer's body to consume, trying the
// endpoints in turn as call does; consume is called again, from the start, for each endpoint
// tried, and its error ends the download (a body that fails its checks is not asked again).
func (u *upstream) download(ctx context.Context, path string, consume func(io.Reader) error) error {
	var last error
	for _, e := range u.order() {
		err := e.download(ctx, path, consume)
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			if err == nil {
				e.downUntil.Store(0)
			}
			return err
		}
		e.downUntil.Store(time.Now().Add(endpointCooldown).UnixNano())
		last = err
	}
	return last
}

func (e *endpoint) download(ctx context.Context, path string, consume func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := e.mtls.Do(req)
	if err != nil {
		return &unreachableError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
		ue := &upstreamError{Status: resp.StatusCode}
		var eb agentapi.ErrorBody
		if json.Unmarshal(raw, &eb) == nil {
			ue.Code, ue.Message = eb.Error.Code, eb.Error.Message
		}
		if ue.Message == "" {
			ue.Message = http.StatusText(resp.StatusCode)
		}
		return ue
	}
	return consume(resp.Body)
}

// claimTimer asks whether this node runs one tick of a timer function.
func (u *upstream) claimTimer(ctx context.Context, req agentapi.TimerClaim) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out agentapi.TimerClaimResponse
	// Retried on another server when one does not answer: the server answers the same node the
	// same way for the same tick (the claim is the node's), so asking twice is safe.
	err := u.call(ctx, mtlsClient, http.MethodPost, agentapi.PathTimerClaim, req, &out, true)
	return out.Claimed, err
}
