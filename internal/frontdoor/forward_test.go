package frontdoor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The direct path (forward.go, package backend) keeps its connections to the app: many requests
// from one client, with and without a small body, reach the app on one connection.
func TestDirectPathReusesConnections(t *testing.T) {
	var conns atomic.Int64
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+string(b)+" "+r.Header.Get("X-Forwarded-For"))
	}))
	app.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	app.Start()
	t.Cleanup(app.Close)
	f, base := door(t, Config{}, Site{Name: "a", HostName: "a.sites.localhost", Backend: strings.TrimPrefix(app.URL, "http://")})
	client := &http.Client{Transport: &http.Transport{}}
	for i := range 30 {
		method, body := http.MethodGet, ""
		if i%3 == 0 {
			method, body = http.MethodPost, "small body"
		}
		req, _ := http.NewRequest(method, base+"/", strings.NewReader(body))
		req.Host = "a.sites.localhost"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := method + " " + body + " 127.0.0.1"; resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, got, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("30 requests reached the app on %d connections, want 1", n)
	}
	if d := f.lookup("a.sites.localhost").pool.Dials(); d != 1 {
		t.Errorf("the pool dialled %d times", d)
	}
	// Setting the same site again (the agent does every few seconds) keeps the connections.
	f.SetSite(Site{Name: "a", HostName: "a.sites.localhost", Backend: strings.TrimPrefix(app.URL, "http://")})
	if code, _, _ := get(t, base, "a.sites.localhost", "/", nil); code != 200 || conns.Load() != 1 {
		t.Errorf("after SetSite: %d, %d connections", code, conns.Load())
	}
}

// An answer cut in its head is a 502; one cut in its body resets the client's connection, so
// that the client does not take it for a whole answer. The cut answer is chunked: one cut short
// of its Content-Length would be refused by the client anyway, but a chunked one would be ended
// cleanly by the server unless the front door aborts it.
func TestTruncatedAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if r.URL.Path == "/head" {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
				} else {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n")
				}
			}()
		}
	}()
	_, base := door(t, Config{}, Site{Name: "a", HostName: "a.sites.localhost", Backend: ln.Addr().String()})
	if code, _, body := get(t, base, "a.sites.localhost", "/head", nil); code != 502 || !strings.Contains(body, "502 Bad Gateway") {
		t.Errorf("cut head: %d %q", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/body", nil)
	req.Host = "a.sites.localhost"
	// Either Do fails (the connection was reset before the head went out) or reading the body does.
	resp, err := http.DefaultClient.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("cut body: read %q (status %d) without an error", b, resp.StatusCode)
	}
}

// Both paths, the direct one and ReverseProxy's (a body of unknown length), set the forwarding
// headers themselves and drop the client's.
func TestForwardingHeadersOnBothPaths(t *testing.T) {
	a := newApp(t, "a")
	_, base := door(t, Config{RequestID: func() string { return "rid" }}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend()})
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader("x")
		if chunked {
			body = io.MultiReader(strings.NewReader("x")) // no length: chunked, ReverseProxy's path
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/p?q=1", body)
		req.Host = "a.sites.localhost"
		for _, k := range []string{"X-Forwarded-For", "X-Client-IP", "X-Original-URL", "X-ARR-LOG-ID", "X-MS-CLIENT-PRINCIPAL-ID", "X-Site-Deployment-Id"} {
			req.Header.Set(k, "spoofed")
		}
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "hop")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := decodeSeen(t, string(raw))
		want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Client-Ip": "127.0.0.1", "X-Original-Url": "/p?q=1", "X-Arr-Log-Id": "rid", "X-Site-Deployment-Id": "a"}
		for k, v := range want {
			if got := s.Header[k]; len(got) != 1 || got[0] != v {
				t.Errorf("chunked=%v: %s = %q, want [%q]", chunked, k, got, v)
			}
		}
		for _, k := range []string{"X-Ms-Client-Principal-Id", "X-Hop"} {
			if _, ok := s.Header[k]; ok {
				t.Errorf("chunked=%v: the client's %s reached the app", chunked, k)
			}
		}
	}
}

// chunkRecorder records each write.
type chunkRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (c *chunkRecorder) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// The access log's lines from many concurrent requests all arrive, whole, each write ending at a
// line's end and under the write bound.
func TestSiteLogBatchesWholeLines(t *testing.T) {
	rec := &chunkRecorder{}
	l := &siteLog{w: rec}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				l.add(fmt.Appendf(nil, "g%02d line %04d %s\n", g, i, strings.Repeat("x", 40)))
			}
		}()
	}
	wg.Wait()
	l.wait(10 * time.Second)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var all []byte
	for _, w := range rec.writes {
		if len(w) > maxLogWrite || w[len(w)-1] != '\n' {
			t.Fatalf("a write of %d bytes not ending a line", len(w))
		}
		all = append(all, w...)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	if len(lines) != 16*2000 {
		t.Fatalf("%d lines, want %d", len(lines), 16*2000)
	}
	next := map[string]int{}
	for _, line := range lines {
		var g string
		var i int
		if _, err := fmt.Sscanf(line, "%s line %d", &g, &i); err != nil || next[g] != i {
			t.Fatalf("line %q out of order or cut (want %s line %d)", line, g, next[g])
		}
		next[g]++
	}
	if len(rec.writes) >= len(lines) {
		t.Logf("no batching happened (%d writes): the machine ran the goroutines one at a time", len(rec.writes))
	}
}

// stuckWriter is an access log whose writes wait for release; entered is closed at the first.
type stuckWriter struct {
	entered, release chan struct{}
	once             sync.Once
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return len(p), nil
}

// RemoveSite waits for the site's last access log lines without holding the front door's lock:
// a slow disk does not hold up the other sites' changes.
func TestRemoveSiteWaitsForItsLogUnlocked(t *testing.T) {
	a := newApp(t, "a")
	w := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
	f, base := door(t, Config{}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend(), AccessLog: w})
	get(t, base, "a.sites.localhost", "/", nil)
	<-w.entered // the line's write is under way, and stuck
	removed := make(chan struct{})
	go func() { f.RemoveSite("a"); close(removed) }()
	time.Sleep(50 * time.Millisecond) // RemoveSite is waiting for the line by now
	start := time.Now()
	f.SetSite(Site{Name: "b", HostName: "b.sites.localhost", Backend: a.backend()})
	took := time.Since(start)
	waited := true
	select {
	case <-removed:
		waited = false
	default:
	}
	close(w.release)
	<-removed
	if took > time.Second {
		t.Errorf("SetSite waited %s for another site's RemoveSite", took.Round(time.Millisecond))
	} else if !waited {
		t.Error("RemoveSite did not wait for the log's pending line")
	}
}

// The buffer of a write is kept for the next lines, whole.
func TestSiteLogKeepsItsBuffer(t *testing.T) {
	l := &siteLog{w: io.Discard}
	line := []byte(strings.Repeat("x", 127) + "\n") // 128 bytes: a buffer of exactly that capacity
	l.add(line)
	l.wait(5 * time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writing || cap(l.spare) < len(line) {
		t.Errorf("after a write of %d bytes the spare buffer holds %d", len(line), cap(l.spare))
	}
}
