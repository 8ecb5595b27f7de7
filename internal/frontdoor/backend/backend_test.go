package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// get sends a request through p and reads the whole answer.
func do(t *testing.T, p *Pool, method, uri, body string) (int, string, error) {
	t.Helper()
	req := &Request{Method: method, URI: uri, Host: "app.sites.localhost", Header: http.Header{"X-Test": {"1"}}}
	if body != "" {
		req.Body, req.ContentLength = strings.NewReader(body), int64(len(body))
	}
	resp, err := p.RoundTrip(context.Background(), req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// countingServer is an httptest server that counts the connections it accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestReusesConnections(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Host", r.Host)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Test")+" "+string(b))
	}))
	p := NewPool(srv.Listener.Addr().String(), nil)
	defer p.Close()
	for i := range 20 {
		method, body := http.MethodGet, ""
		if i%2 == 1 {
			method, body = http.MethodPost, "data"
		}
		code, got, err := do(t, p, method, "/a?b=c", body)
		want := method + " /a?b=c 1 " + body
		if err != nil || code != 200 || got != want {
			t.Fatalf("request %d: %d %q %v, want %q", i, code, got, err, want)
		}
	}
	if n := conns.Load(); n != 1 || p.Dials() != 1 {
		t.Errorf("20 requests in a row used %d connections (%d dials), want 1", n, p.Dials())
	}
	if p.Idle() != 1 {
		t.Errorf("%d idle connections, want 1", p.Idle())
	}
	// In parallel: at most one connection per concurrent request, all given back.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if code, _, err := do(t, p, http.MethodGet, "/", ""); err != nil || code != 200 {
					t.Errorf("%d %v", code, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := conns.Load(); n > 9 {
		t.Errorf("8 concurrent clients used %d connections", n)
	}
	// An answer not read to its end does not give its connection back.
	resp, err := p.RoundTrip(context.Background(), &Request{Method: http.MethodGet, URI: "/", Host: "x"})
	if err != nil {
		t.Fatal(err)
	}
	idle := p.Idle()
	resp.Body.Close()
	if p.Idle() != idle {
		t.Error("a connection with an unread answer went back to the pool")
	}
}

// rawServer accepts connections and runs serve on each.
func rawServer(t *testing.T, serve func(n int, c net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(n, c)
		}
	}()
	return ln.Addr().String()
}

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	r, err := http.ReadRequest(br)
	if err == nil {
		_, err = io.Copy(io.Discard, r.Body)
	}
	return r, err
}

// An app that answers and closes without saying so: the next request is not lost. A GET on the
// dead connection is sent again on a new one; a POST's connection is checked before use.
func TestAppClosesAfterAnAnswer(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		if _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := NewPool(addr, nil)
	defer p.Close()
	for i, method := range []string{http.MethodGet, http.MethodGet, http.MethodPost, http.MethodGet, http.MethodPut} {
		time.Sleep(20 * time.Millisecond) // the app has closed the connection by now
		body := ""
		if method != http.MethodGet {
			body = "x"
		}
		if code, got, err := do(t, p, method, "/", body); err != nil || code != 200 || got != "ok" {
			t.Fatalf("request %d (%s): %d %q %v", i, method, code, got, err)
		}
	}
	// And one that says so: its connection is not kept.
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	}))
	p2 := NewPool(srv.Listener.Addr().String(), nil)
	defer p2.Close()
	for range 3 {
		if code, got, err := do(t, p2, http.MethodPost, "/", "x"); err != nil || code != 200 || got != "bye" {
			t.Fatalf("%d %q %v", code, got, err)
		}
	}
	if conns.Load() != 3 || p2.Idle() != 0 {
		t.Errorf("Connection: close: %d connections, %d idle", conns.Load(), p2.Idle())
	}
}

func TestTruncatedAnswers(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		r, err := readRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		switch r.URL.Path {
		case "/head":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		case "/body":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
		case "/chunked":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n")
		}
	})
	p := NewPool(addr, nil)
	defer p.Close()
	if _, err := p.RoundTrip(context.Background(), &Request{Method: http.MethodPost, URI: "/head", Host: "x"}); err == nil {
		t.Error("a cut head was taken for an answer")
	}
	for _, path := range []string{"/body", "/chunked"} {
		code, got, err := do(t, p, http.MethodPost, path, "")
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %d %q %v, want an unexpected EOF", path, code, got, err)
		}
	}
	if p.Idle() != 0 {
		t.Error("a connection with a cut answer went back to the pool")
	}
}

func TestHeaderTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		_, _ = readRequest(bufio.NewReader(c))
		<-release
	})
	p := NewPool(addr, nil)
	defer p.Close()
	_, err := p.RoundTrip(context.Background(), &Request{Method: http.MethodGet, URI: "/", Host: "x", HeaderTimeout: 100 * time.Millisecond})
	if !isTimeout(err) {
		t.Errorf("header timeout: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.RoundTrip(ctx, &Request{Method: http.MethodGet, URI: "/", Host: "x"}); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled: %v after %s", err, time.Since(start))
	}
}

func TestHeaderValuesCannotSplitTheRequest(t *testing.T) {
	got := make(chan *http.Request, 1)
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		r, err := readRequest(bufio.NewReader(c))
		if err == nil {
			got <- r
		}
		_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	p := NewPool(addr, nil)
	defer p.Close()
	h := http.Header{"X-A": {"1\r\nX-Injected: yes"}, "Bad Name": {"v"}, "Content-Length": {"999"}}
	resp, err := p.RoundTrip(context.Background(), &Request{Method: http.MethodGet, URI: "/", Host: "x", Header: h})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	if r.Header.Get("X-Injected") != "" || r.Header.Get("X-A") != "1  X-Injected: yes" || r.ContentLength != 0 {
		t.Errorf("the app saw %v (length %d)", r.Header, r.ContentLength)
	}
	if resp.StatusCode != 204 || p.Idle() != 0 {
		t.Errorf("204: status %d, %d idle (a 204's connection is not kept)", resp.StatusCode, p.Idle())
	}
}

// Idle connections are closed after the idle timeout, and never handed out once that old.
func TestIdleTimeout(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	p := NewPool(srv.Listener.Addr().String(), nil)
	defer p.Close()
	p.idleTimeout = 50 * time.Millisecond
	if code, _, err := do(t, p, http.MethodGet, "/", ""); err != nil || code != 200 || p.Idle() != 1 {
		t.Fatalf("%d %v, %d idle", code, err, p.Idle())
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Idle() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Idle() != 0 {
		t.Fatal("an idle connection outlived the idle timeout")
	}
	if code, _, err := do(t, p, http.MethodGet, "/", ""); err != nil || code != 200 || conns.Load() != 2 {
		t.Errorf("after the timeout: %d %v, %d connections", code, err, conns.Load())
	}
}

// Informational answers come to Got1xx; HEAD's answer has no body and its connection is not kept
// (TestStrayBytesAfterAnAnswer).
func TestInformationalAndHead(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	}))
	p := NewPool(srv.Listener.Addr().String(), nil)
	defer p.Close()
	var hints []string
	resp, err := p.RoundTrip(context.Background(), &Request{Method: http.MethodGet, URI: "/", Host: "x",
		Got1xx: func(code int, h http.Header) { hints = append(hints, strconv.Itoa(code)+" "+h.Get("Link")) }})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" || len(hints) != 1 || hints[0] != "103 </a.css>; rel=preload" {
		t.Errorf("body %q, 1xx %q", b, hints)
	}
	resp, err = p.RoundTrip(context.Background(), &Request{Method: http.MethodHead, URI: "/", Host: "x"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != 5 || p.Idle() != 0 {
		t.Errorf("HEAD: length %d, %d idle", resp.ContentLength, p.Idle())
	}
	if code, got, err := do(t, p, http.MethodGet, "/", ""); err != nil || code != 200 || got != "hello" {
		t.Errorf("after HEAD: %d %q %v", code, got, err)
	}
}

// An app that writes bytes after its answer, in a later segment (a body after its answer to HEAD,
// a body on a 204 or 304, more than its Content-Length): the next request, sent at once on the
// pool's connection, gets its own answer, never those bytes.
func TestStrayBytesAfterAnAnswer(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			r, err := readRequest(br)
			if err != nil {
				return
			}
			switch r.URL.Path {
			case "/head":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
				time.Sleep(5 * time.Millisecond)
				_, _ = io.WriteString(c, "hello world") // the GET's body, written for a HEAD
			case "/204", "/304":
				_, _ = io.WriteString(c, "HTTP/1.1 "+r.URL.Path[1:]+" X\r\n\r\n")
				time.Sleep(5 * time.Millisecond)
				_, _ = io.WriteString(c, "stray body")
			case "/long":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(5 * time.Millisecond)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged") // beyond the length
			default:
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright")
			}
		}
	})
	p := NewPool(addr, nil)
	defer p.Close()
	for _, tc := range []struct {
		method, path string
		wait         time.Duration // before the next request
	}{
		{http.MethodHead, "/head", 0},
		{http.MethodGet, "/204", 0},
		{http.MethodGet, "/304", 0},
		// Bytes past the length that came in before the next request: the peek finds them.
		{http.MethodGet, "/long", 30 * time.Millisecond},
	} {
		for _, next := range []string{http.MethodGet, http.MethodPost} {
			resp, err := p.RoundTrip(context.Background(), &Request{Method: tc.method, URI: tc.path, Host: "x"})
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(tc.wait)
			if code, got, err := do(t, p, next, "/next", ""); err != nil || code != 200 || got != "right" {
				t.Errorf("%s after %s %s: %d %q %v, want 200 \"right\"", next, tc.method, tc.path, code, got, err)
			}
		}
	}
}

// cancelOnWrite is a connection whose first write, once sent, ends the request's context and
// returns only when the context's hook has set the deadline in the past: the context ends
// between the request's write and the wait for its answer.
type cancelOnWrite struct {
	net.Conn
	cancel context.CancelFunc
	once   sync.Once
	past   chan struct{} // closed when a deadline in the past is set
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.once.Do(func() {
		c.cancel()
		select {
		case <-c.past:
		case <-time.After(5 * time.Second):
		}
	})
	return n, err
}

func (c *cancelOnWrite) SetDeadline(t time.Time) error {
	if t.Before(time.Now()) {
		select {
		case <-c.past:
		default:
			close(c.past)
		}
	}
	return c.Conn.SetDeadline(t)
}

// A context that ends as the request is written fails the request, though a header timeout is
// set after the write.
func TestCancelDuringWriteWithHeaderTimeout(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		if _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := NewPool(addr, func(ctx context.Context, network, a string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		return &cancelOnWrite{Conn: nc, cancel: cancel, past: make(chan struct{})}, nil
	})
	defer p.Close()
	resp, err := p.RoundTrip(ctx, &Request{Method: http.MethodGet, URI: "/", Host: "x", HeaderTimeout: 10 * time.Second})
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the request's context ended as it was written, and its answer (%d) came back anyway", resp.StatusCode)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v, want the context's error", err)
	}
}

// Five informational answers are passed on; a sixth fails the request, as net/http's Transport.
func TestTooManyInformationalAnswers(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		defer c.Close()
		r, err := readRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for range n {
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := NewPool(addr, nil)
	defer p.Close()
	for _, n := range []int{5, 6, 100} {
		hints := 0
		resp, err := p.RoundTrip(context.Background(), &Request{Method: http.MethodGet, URI: "/?n=" + strconv.Itoa(n), Host: "x",
			Got1xx: func(int, http.Header) { hints++ }})
		if n <= 5 {
			if err != nil || resp.StatusCode != 200 || hints != n {
				t.Errorf("%d 1xx answers: %v, %d passed on", n, err, hints)
			}
			if err == nil {
				resp.Body.Close()
			}
			continue
		}
		if err == nil {
			resp.Body.Close()
			t.Errorf("%d 1xx answers: the final answer (%d) was taken", n, resp.StatusCode)
		}
		if hints != 5 {
			t.Errorf("%d 1xx answers: %d passed on, want 5", n, hints)
		}
	}
}
