package frontdoor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// app is a site's app for the tests: a real HTTP server that answers with what it saw.
type app struct {
	*httptest.Server
	calls atomic.Int64
}

// seen is what the app answers: the request's host, path and headers.
type seen struct {
	Host   string              `json:"host"`
	Path   string              `json:"path"`
	Header map[string][]string `json:"header"`
	Name   string              `json:"name"`
}

func newApp(t *testing.T, name string) *app {
	t.Helper()
	a := &app{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Host: r.Host, Path: r.URL.Path, Header: r.Header, Name: name})
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the app dies without answering
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		var n int64
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		_, _ = io.Copy(w, io.LimitReader(zeros{}, n))
	})
	mux.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { _, _ = io.Copy(c, c) }))
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (a *app) backend() string { return strings.TrimPrefix(a.URL, "http://") }

// door starts a front door on loopback (plain HTTP) with the sites given, all running.
func door(t *testing.T, cfg Config, sites ...Site) (*FrontDoor, string) {
	t.Helper()
	f := New(cfg)
	for _, s := range sites {
		f.SetSite(s)
		f.SetState(s.Name, Running)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// get sends a request for host through the front door at base.
func get(t *testing.T, base, host, path string, h map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func decodeSeen(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("the app's answer %q: %v", body, err)
	}
	return s
}

func TestRoutesByHostName(t *testing.T) {
	a, b := newApp(t, "a"), newApp(t, "b")
	_, base := door(t, Config{},
		Site{Name: "site-a", HostName: "site-a.sites.localhost", Backend: a.backend()},
		Site{Name: "site-b", HostName: "site-b.sites.localhost", Backend: b.backend()})
	for host, want := range map[string]string{
		"site-a.sites.localhost:8443": "a", "SITE-B.sites.localhost": "b", "site-b.sites.localhost.": "b",
	} {
		code, _, body := get(t, base, host, "/x", nil)
		if code != 200 || decodeSeen(t, body).Name != want {
			t.Errorf("%s: %d %s, want app %s", host, code, body, want)
		}
	}
	if code, _, body := get(t, base, "other.sites.localhost", "/", nil); code != 404 || !strings.Contains(body, "other.sites.localhost") {
		t.Errorf("unknown host: %d %q", code, body)
	}
}

func TestForwardingHeadersAreTheFrontDoors(t *testing.T) {
	a := newApp(t, "a")
	_, base := door(t, Config{RequestID: func() string { return "req-1" }}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend()})
	code, _, body := get(t, base, "a.sites.localhost", "/p/q?x=1", map[string]string{
		"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil", "X-Forwarded-Proto": "https", "X-Client-IP": "203.0.113.9",
		"X-Original-URL": "/admin", "X-ARR-LOG-ID": "mine", "Forwarded": "for=203.0.113.9",
		"X-MS-CLIENT-PRINCIPAL": "e30=", "X-MS-CLIENT-PRINCIPAL-ID": "spoof", "X-Ms-Token-Aad-Access-Token": "spoof",
		"X_MS_CLIENT_PRINCIPAL": "e30=", "X_Forwarded_For": "203.0.113.9",
	})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	s := decodeSeen(t, body)
	want := map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "a.sites.localhost", "X-Forwarded-Proto": "http",
		"X-Client-Ip": "127.0.0.1", "X-Original-Url": "/p/q?x=1", "X-Arr-Log-Id": "req-1",
	}
	for k, v := range want {
		if got := s.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	for k := range s.Header {
		u := strings.ReplaceAll(strings.ToUpper(k), "_", "-")
		if strings.HasPrefix(u, "X-MS-") || u == "FORWARDED" || k == "X_Forwarded_For" {
			t.Errorf("the client's %s reached the app", k)
		}
	}
	if s.Host != "a.sites.localhost" {
		t.Errorf("the app saw Host %q", s.Host)
	}
}

func TestUnavailableAndFailures(t *testing.T) {
	a := newApp(t, "a")
	f, base := door(t, Config{RequestTimeout: 200 * time.Millisecond}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend()})
	f.SetState("a", Starting)
	if code, h, body := get(t, base, "a.sites.localhost", "/", nil); code != 503 || !strings.Contains(body, "starting") || h.Get("Retry-After") == "" {
		t.Errorf("starting: %d %q", code, body)
	}
	f.SetState("a", Stopped)
	if code, _, body := get(t, base, "a.sites.localhost", "/", nil); code != 503 || !strings.Contains(body, "stopped") {
		t.Errorf("stopped: %d %q", code, body)
	}
	f.SetState("a", Running)
	if code, _, body := get(t, base, "a.sites.localhost", "/crash", nil); code != 502 || !strings.Contains(body, "502") {
		t.Errorf("crash: %d %q", code, body)
	}
	if code, _, body := get(t, base, "a.sites.localhost", "/slow", nil); code != 504 {
		t.Errorf("slow: %d %q", code, body)
	}
	if code, _, _ := get(t, base, "a.sites.localhost", "/", nil); code != 200 {
		t.Errorf("after the failures: %d", code)
	}
	// The app is gone altogether: 502.
	a.Close()
	if code, _, body := get(t, base, "a.sites.localhost", "/", nil); code != 502 {
		t.Errorf("app down: %d %q", code, body)
	}
}

func TestBodyLimit(t *testing.T) {
	a := newApp(t, "a")
	_, base := door(t, Config{MaxBodyBytes: 1000}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend()})
	post := func(body io.Reader, length int64) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/upload", body)
		req.Host = "a.sites.localhost"
		req.ContentLength = length
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	before := a.calls.Load()
	if code := post(bytes.NewReader(make([]byte, 2000)), 2000); code != 413 {
		t.Errorf("declared length over the limit: %d", code)
	}
	if a.calls.Load() != before {
		t.Error("the app was called for a body over the limit")
	}
	if code := post(io.LimitReader(zeros{}, 5000), -1); code != 413 && code != 400 {
		t.Errorf("chunked body over the limit: %d", code)
	}
	if code := post(bytes.NewReader(make([]byte, 999)), 999); code != 200 {
		t.Errorf("under the limit: %d", code)
	}
}

func TestWebSocketEcho(t *testing.T) {
	a := newApp(t, "a")
	_, base := door(t, Config{}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend()})
	cfg, err := websocket.NewConfig("ws://a.sites.localhost/ws", "http://a.sites.localhost/")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatalf("WebSocket handshake through the front door: %v", err)
	}
	defer ws.Close()
	for _, msg := range []string{"hello", strings.Repeat("x", 2000)} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("echo: %d bytes, %v", len(got), err)
		}
	}
}

// TestStreamsLargeBodies sends 100 MB up (ReverseProxy's path: a large body) and 100 MB down
// (the direct path) through the front door; the process allocates a small fraction of that, so
// nothing buffers a whole body.
func TestStreamsLargeBodies(t *testing.T) {
	a := newApp(t, "a")
	f, base := door(t, Config{}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend()})
	const size = 100 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest(http.MethodPost, base+"/upload", io.LimitReader(zeros{}, size))
	req.Host = "a.sites.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != fmt.Sprint(size) {
		t.Fatalf("upload: %d %q", resp.StatusCode, got)
	}
	req, _ = http.NewRequest(http.MethodGet, base+fmt.Sprintf("/download?n=%d", size), nil)
	req.Host = "a.sites.localhost"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if f.lookup("a.sites.localhost").pool.Dials() != 1 {
		t.Error("the download did not take the direct path")
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("moving 200 MB allocated %d MB: a body is being buffered", alloc>>20)
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	a := newApp(t, "a")
	log := &syncBuffer{}
	f, base := door(t, Config{RequestID: func() string { return "rid" }}, Site{Name: "a", HostName: "a.sites.localhost", Backend: a.backend(), AccessLog: log})
	get(t, base, "a.sites.localhost", "/hello?code=secret", map[string]string{"User-Agent": "test agent"})
	f.SetState("a", Stopped)
	get(t, base, "a.sites.localhost", "/x", nil)
	// the lines are written just after the answers (siteLog); RemoveSite waits for them
	f.RemoveSite("a")
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log: %q", log.String())
	}
	fields := strings.Fields(lines[0])
	if len(fields) < 9 || fields[1] != "rid" || fields[2] != "127.0.0.1" || fields[3] != "GET" || fields[4] != "/hello" || fields[5] != "200" || !strings.HasSuffix(lines[0], `"test agent"`) {
		t.Errorf("line: %q", lines[0])
	}
	if strings.Contains(log.String(), "secret") {
		t.Error("the query string went into the access log")
	}
	if f := strings.Fields(lines[1]); f[5] != "503" {
		t.Errorf("second line: %q", lines[1])
	}
	_ = context.Background
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
