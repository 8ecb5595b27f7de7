// Package backend is the HTTP/1.1 client with which the front door reaches a site's app and the
// function host reaches its worker, both on this node: a pool of keep-alive connections per
// app, and a round trip done in the caller's goroutine. The request head is written straight
// into the connection's buffer and the answer is parsed by net/http's own http.ReadResponse;
// there is none of net/http.Transport's reader and writer goroutines per connection and the
// channel handoffs between them, which were most of the front door's cost per request
// (docs/performance.md, issue 13). It is Lanyard's own; it covers what a proxy to a local app
// needs and no more: a request body of known length up to MaxBody (callers send a larger body
// or one of unknown length, an Upgrade, Expect: 100-continue or trailers through net/http's
// Transport instead), plain TCP (no TLS, no HTTP/2, no proxy).
package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxBody is the largest request body a caller should send through a Pool. RoundTrip writes the
// whole request before it reads the answer, so an app that streams its answer while it reads the
// request (an echo) would fill both directions' socket buffers with a larger body and wait
// forever. 64 KiB fits in a loopback socket's buffers. A larger body, or one of unknown length,
// goes through net/http's Transport, which reads the answer while it writes.
const MaxBody = 64 << 10

// DialFunc connects to addr; nil means a net.Dialer with a 5 s timeout.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Defaults.
const (
	DefaultMaxIdle     = 256              // idle connections kept per pool (as the front door's Transport had per host)
	DefaultIdleTimeout = 90 * time.Second // an idle connection older than this is closed (net/http's default)

	max1xx = 5 // informational answers taken before the final one (net/http's Transport's bound)
)

// Pool is a set of keep-alive connections to one address. It is safe for concurrent use.
type Pool struct {
	addr        string
	maxIdle     int
	idleTimeout time.Duration

	dials atomic.Int64 // connections made, for tests and metrics

	mu      sync.Mutex
	dial    DialFunc
	idle    []*conn // oldest first; taken from the end
	closed  bool
	janitor *time.Timer
}

// NewPool makes a pool of connections to addr (host:port), made with dial.
func NewPool(addr string, dial DialFunc) *Pool {
	return &Pool{addr: addr, dial: dial, maxIdle: DefaultMaxIdle, idleTimeout: DefaultIdleTimeout}
}

// SetDial changes how new connections are made; idle ones are kept.
func (p *Pool) SetDial(dial DialFunc) {
	p.mu.Lock()
	p.dial = dial
	p.mu.Unlock()
}

// Dials is the number of connections the pool has made.
func (p *Pool) Dials() int64 { return p.dials.Load() }

// Idle is the number of idle connections in the pool.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Close closes the idle connections; connections in use are closed when their answers end.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	if p.janitor != nil {
		p.janitor.Stop()
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// Request is one request to the app.
type Request struct {
	Method string
	URI    string // the request target in origin form: path and query
	Host   string
	// Header is written as it is (values with a CR, LF or NUL have it replaced by a space), but
	// for Host, Content-Length, Transfer-Encoding and Connection, which RoundTrip writes itself.
	// The caller removes hop-by-hop headers.
	Header http.Header
	// Body is the request's body, exactly ContentLength bytes; nil when ContentLength is 0.
	Body          io.Reader
	ContentLength int64
	// HeaderTimeout bounds the wait for the answer's head (0: none); the body is not bounded.
	HeaderTimeout time.Duration
	// Got1xx receives the informational answers (103 Early Hints, …) before the final one;
	// nil: they are dropped.
	Got1xx func(code int, h http.Header)
}

// errBodyLength is returned for a request whose body is shorter than its ContentLength.
var errBodyLength = errors.New("backend: the request body is not ContentLength bytes")

// RoundTrip sends req on a pooled connection (or a new one) and returns the app's answer. The
// connection goes back to the pool when the answer's body has been read to its end and the app
// did not ask to close it; closing the body earlier closes the connection. When the context
// ends, the connection is closed and whatever is waiting on it fails. A request that failed on
// a reused connection before any byte of an answer came back is sent once more on a new
// connection when that is safe: an idempotent method (GET, HEAD, OPTIONS, TRACE) and no body
// (the app may have closed the idle connection as the request was sent).
func (p *Pool) RoundTrip(ctx context.Context, req *Request) (*http.Response, error) {
	if req.ContentLength < 0 || (req.ContentLength > 0) != (req.Body != nil) {
		return nil, errors.New("backend: a body needs its exact length")
	}
	retryable := req.Body == nil && idempotent(req.Method)
	c, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, answered, err := c.roundTrip(ctx, req)
	if err != nil && c.reused && !answered && retryable && ctx.Err() == nil && !isTimeout(err) {
		if c, err2 := p.connect(ctx); err2 == nil {
			resp, _, err = c.roundTrip(ctx, req)
		}
	}
	return resp, err
}

func idempotent(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// get takes the newest idle connection that is still open and quiet, or makes one.
func (p *Pool) get(ctx context.Context) (*conn, error) {
	for {
		var c *conn
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			return p.connect(ctx)
		}
		// Every reuse is checked, however short the idle time: bytes the app wrote after its
		// last answer (more than its Content-Length, in a later TCP segment) would otherwise be
		// read as the next request's answer, which may be another user's. The peek costs a
		// system call; it cannot see bytes still on their way, which is why answers that
		// commonly carry stray bytes (HEAD, 204, 304) do not give their connection back at all
		// (body.release).
		if time.Since(c.idleSince) < p.idleTimeout && c.alive() {
			c.reused = true
			return c, nil
		}
		c.close()
	}
}

var defaultDialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// connect makes a new connection.
func (p *Pool) connect(ctx context.Context) (*conn, error) {
	p.mu.Lock()
	dial := p.dial
	p.mu.Unlock()
	if dial == nil {
		dial = defaultDialer.DialContext
	}
	nc, err := dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	p.dials.Add(1)
	c := &conn{nc: nc, pool: p}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c, nil
}

// put keeps c for the next request, or closes it when the pool is full or closed.
func (p *Pool) put(c *conn) {
	c.idleSince = time.Now()
	c.reused = false
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	if p.janitor == nil {
		p.janitor = time.AfterFunc(p.idleTimeout, p.prune)
	}
	p.mu.Unlock()
}

// prune closes the connections idle for longer than the idle timeout.
func (p *Pool) prune() {
	cut := time.Now().Add(-p.idleTimeout)
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && p.idle[n].idleSince.Before(cut) {
		n++
	}
	old := append([]*conn(nil), p.idle[:n]...)
	p.idle = append(p.idle[:0], p.idle[n:]...)
	clear(p.idle[len(p.idle):cap(p.idle)])
	if len(p.idle) > 0 && !p.closed {
		p.janitor.Reset(p.idleTimeout)
	} else {
		p.janitor = nil
	}
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// conn is one connection to the app with its buffers.
type conn struct {
	nc        net.Conn
	raw       syscall.RawConn // for the liveness check; nil when the conn has no file descriptor
	br        *bufio.Reader   // reads through conn.Read, which counts
	bw        *bufio.Writer
	pool      *Pool
	preq      *http.Request // given to http.ReadResponse
	nread     int64         // bytes read from nc
	reused    bool          // taken from the pool (not new) for the current request
	idleSince time.Time
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	return n, err
}

func (c *conn) close() { _ = c.nc.Close() }

// aLongTimeAgo is a deadline that has passed: setting it makes blocked reads and writes fail.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req and reads the answer's head. answered reports whether any byte of an
// answer came back (then the request is not sent again). On an error the connection is closed.
func (c *conn) roundTrip(ctx context.Context, req *Request) (resp *http.Response, answered bool, err error) {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	start := c.nread
	fail := func(err error) (*http.Response, bool, error) {
		stop()
		c.close()
		return nil, c.nread != start, err
	}
	if err := c.writeRequest(req); err != nil {
		return fail(err)
	}
	if req.HeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(req.HeaderTimeout))
		// The context may have ended while the request was written: its AfterFunc's deadline
		// in the past was just overwritten.
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
	}
	// ReadResponse needs the request only for its method (a HEAD's answer has no body); the
	// connection's own is reused, as it carries one request at a time.
	if c.preq == nil {
		c.preq = new(http.Request)
	}
	c.preq.Method = req.Method
	for n1xx := 0; ; n1xx++ {
		resp, err = http.ReadResponse(c.br, c.preq)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("backend: the app switched protocols without being asked"))
		}
		if n1xx == max1xx {
			// An app that sends informational answers without end would hold the request (the
			// function host sets no header timeout) and have each passed on; net/http's
			// Transport stops after 5 too. The caller answers 502.
			return fail(errors.New("backend: too many informational (1xx) answers"))
		}
		if req.Got1xx != nil {
			req.Got1xx(resp.StatusCode, resp.Header)
		}
	}
	if req.HeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		if ctx.Err() != nil { // ended while the deadline was cleared: the AfterFunc's may be lost
			_ = c.nc.SetDeadline(aLongTimeAgo)
		}
	}
	// An answer that has no body by its method or status (HEAD, 204, 304) is one after which
	// a faulty app often writes one anyway (the GET's body for a HEAD, a body on a 204):
	// those bytes may come in a later segment, after the connection went back to the pool and
	// after the peek of its next use, and would be taken for the next request's answer. Such a
	// connection is not kept.
	keep := !resp.Close && req.Method != http.MethodHead &&
		resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified
	resp.Body = &body{rc: resp.Body, c: c, stop: stop, keep: keep, empty: resp.Body == http.NoBody}
	return resp, true, nil
}

// writeRequest writes the request head and body and flushes them.
func (c *conn) writeRequest(req *Request) error {
	w := c.bw
	_, _ = w.WriteString(req.Method)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(req.URI)
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	writeValue(w, req.Host)
	_, _ = w.WriteString("\r\n")
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		if !validName(k) {
			continue
		}
		for _, v := range vv {
			_, _ = w.WriteString(k)
			_, _ = w.WriteString(": ")
			writeValue(w, v)
			_, _ = w.WriteString("\r\n")
		}
	}
	// As net/http's client: a length for a body, and a zero one for methods other than GET and
	// HEAD (many servers expect one for POST and PUT).
	if req.ContentLength > 0 || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		_, _ = w.WriteString("Content-Length: ")
		var nb [20]byte
		_, _ = w.Write(strconv.AppendInt(nb[:0], req.ContentLength, 10))
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString("\r\n")
	if req.ContentLength > 0 {
		n, err := io.Copy(w, io.LimitReader(req.Body, req.ContentLength))
		if err != nil {
			w.Reset(c.nc)
			return fmt.Errorf("sending the request body: %w", err)
		}
		if n != req.ContentLength {
			w.Reset(c.nc)
			return errBodyLength
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sending the request: %w", err)
	}
	return nil
}

// writeValue writes a header value with CR, LF and NUL replaced by spaces, as net/http does.
func writeValue(w *bufio.Writer, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			b := []byte(v)
			for j := i; j < len(b); j++ {
				if b[j] == '\r' || b[j] == '\n' || b[j] == 0 {
					b[j] = ' '
				}
			}
			_, _ = w.Write(b)
			return
		}
	}
	_, _ = w.WriteString(v)
}

// validName reports whether k is a header field name (RFC 9110 token); others are not sent.
func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ':' || c == '"' || c == '(' || c == ')' || c == ',' || c == '/' ||
			c == ';' || c == '<' || c == '=' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' ||
			c == ']' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// body is an answer's body; it gives the connection back at its end.
type body struct {
	rc    io.ReadCloser
	c     *conn
	stop  func() bool
	keep  bool // the app did not ask to close, and the answer is not one without a body by rule
	empty bool // no body at all (HEAD, 204, 304, Content-Length: 0)
	done  bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		b.release(false)
	}
	return n, err
}

// Close ends the answer: the connection goes back to the pool if the body was read to its end,
// else it is closed.
func (b *body) Close() error {
	if !b.done {
		b.release(b.empty)
	}
	return nil
}

func (b *body) release(complete bool) {
	b.done = true
	// stop is false when the context ended (its AfterFunc ran or runs): the connection's
	// deadline is in the past.
	if b.stop() && complete && b.keep && b.c.br.Buffered() == 0 {
		b.c.pool.put(b.c)
		return
	}
	b.c.close()
}
