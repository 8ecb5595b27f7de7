package sandbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// lanyardCert returns a pool trusting a new CA and that CA's serving certificate for the test's
// Lanyard names: a.lanyard.test, b.lanyard.test and *.vault.lanyard.test.
func lanyardCert(t testing.TB) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test Lanyard CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lanyard"},
		DNSNames:  []string{"a.lanyard.test", "b.lanyard.test", "*.vault.lanyard.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return roots, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testServer starts an HTTPS server with Lanyard's test certificate.
func testServer(t testing.TB, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// newTestRelay returns a relay of servers, whose names (a.lanyard.test:8443, ...) are dialled at
// the addresses addrs maps them to.
func newTestRelay(t testing.TB, roots *x509.CertPool, servers func() []Server, addrs map[string]string, opts ...func(*Relay)) (*Relay, http.Handler) {
	t.Helper()
	ca, err := LoadCA(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rl := &Relay{Servers: servers, URLs: []string{"https://a.lanyard.test:8443"}, VaultDomain: "vault.lanyard.test:8443", Roots: roots, CA: ca}
	rl.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		to, ok := addrs[addr]
		if !ok {
			return nil, fmt.Errorf("the test dials no %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, to)
	}
	for _, o := range opts {
		o(rl)
	}
	h, err := rl.Handler()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rl.CloseIdleConnections)
	return rl, h
}

func do(h http.Handler, method, host, path, auth, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "https://"+host+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestRelayMapsAnswers: a vault request goes to the vault's Lanyard host, and the challenge,
// the ids in the answer, a Graph nextLink and an ARM Location come back with Azure's names,
// whether the answer is short (read whole) or long and of unknown length (mapped as it streams).
func TestRelayMapsAnswers(t *testing.T) {
	roots, cert := lanyardCert(t)
	var mu sync.Mutex
	var gotHost string
	long := strings.Repeat(`{"id":"https://a.lanyard.test:8443/v1.0/groups/x","n":"https://a.lanyard.test:8443"},`, 3000)
	srv := testServer(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost = r.Host
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case r.Header.Get("Authorization") == "" && strings.HasPrefix(r.Host, "kv1."):
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://a.lanyard.test:8443/tid", resource="https://vault.lanyard.test:8443"`)
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":{"code":"Unauthorized"}}`)
		case strings.HasPrefix(r.Host, "kv1."):
			_, _ = io.WriteString(w, `{"value":"v","id":"https://kv1.vault.lanyard.test:8443/secrets/s/abc"}`)
		case r.URL.Path == "/long": // long, of unknown length (chunked)
			_, _ = io.WriteString(w, `[`)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, long+`{}]`)
		case r.URL.Path == "/plain":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, `https://a.lanyard.test:8443/v1.0/x`)
		case strings.HasPrefix(r.URL.Path, "/subscriptions"):
			w.Header().Set("Location", "https://a.lanyard.test:8443/subscriptions/s/providers/x?api-version=1")
			w.WriteHeader(202)
		default:
			_, _ = io.WriteString(w, `{"@odata.nextLink":"https://a.lanyard.test:8443/v1.0/groups?$skiptoken=x","identifierUris":["https://a.lanyard.test:8443"]}`)
		}
	}))
	_, h := newTestRelay(t, roots, nil, map[string]string{"a.lanyard.test:8443": srv.Listener.Addr().String()},
		func(rl *Relay) { rl.ServerURL = "https://a.lanyard.test:8443" })
	rec := do(h, "GET", "kv1.vault.azure.net", "/x", "", "")
	if gotHost != "kv1.vault.lanyard.test:8443" || rec.Code != 401 ||
		rec.Header().Get("WWW-Authenticate") != `Bearer authorization="https://login.microsoftonline.com/tid", resource="https://vault.azure.net"` {
		t.Fatalf("challenge: host %q, %d %q", gotHost, rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if rec := do(h, "GET", "KV1.vault.azure.net", "/x", "Bearer x", ""); rec.Body.String() != `{"value":"v","id":"https://kv1.vault.azure.net/secrets/s/abc"}` ||
		rec.Header().Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
		t.Errorf("vault answer: %s (length %q)", rec.Body.String(), rec.Header().Get("Content-Length"))
	}
	rec = do(h, "GET", "graph.microsoft.com", "/x", "Bearer x", "")
	if gotHost != "a.lanyard.test:8443" || rec.Body.String() != `{"@odata.nextLink":"https://graph.microsoft.com/v1.0/groups?$skiptoken=x","identifierUris":["https://a.lanyard.test:8443"]}` {
		t.Errorf("graph answer (host %q): %s", gotHost, rec.Body.String())
	}
	rec = do(h, "GET", "management.azure.com", "/subscriptions/s", "Bearer x", "")
	if rec.Code != 202 || rec.Header().Get("Location") != "https://management.azure.com/subscriptions/s/providers/x?api-version=1" {
		t.Errorf("ARM Location: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := do(h, "GET", "example.com", "/x", "", ""); rec.Code != 404 {
		t.Errorf("a name that is not Azure's: %d", rec.Code)
	}
	want := "[" + strings.ReplaceAll(long, "https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0") + "{}]"
	if rec := do(h, "GET", "graph.microsoft.com", "/long", "Bearer x", ""); rec.Body.String() != want {
		t.Errorf("a long answer of unknown length: %d bytes reached the client, want %d mapped", rec.Body.Len(), len(want))
	}
	if rec := do(h, "GET", "graph.microsoft.com", "/plain", "Bearer x", ""); rec.Body.String() != `https://a.lanyard.test:8443/v1.0/x` {
		t.Errorf("a text answer was changed: %s", rec.Body.String())
	}
}

// TestRelayFailover: with two servers, the first down, every request reaches the second; with
// the first failing after the request reached it, a GET goes on to the second, a POST does not
// (it is never sent twice); the second's answer, naming its own URL, is mapped; the agent is
// told which server did not answer.
func TestRelayFailover(t *testing.T) {
	roots, cert := lanyardCert(t)
	var posts atomic.Int32
	b := testServer(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			body, _ := io.ReadAll(r.Body)
			if string(body) != `{"value":"s"}` {
				t.Errorf("the second server got the body %q", body)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"@odata.nextLink":"https://b.lanyard.test:8443/v1.0/groups?$skiptoken=y","from":"b"}`)
	}))
	// The first server: a listener that is closed (refused), or one that takes the request and
	// hangs up before answering.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	var reached atomic.Int32
	rude := testServer(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		panic(http.ErrAbortHandler) // the connection is dropped, nothing answered
	}))
	rude.Config.ErrorLog = nil
	var mu sync.Mutex
	var downs []string
	servers := func(first string) func() []Server {
		return func() []Server {
			return []Server{
				{URL: "https://a.lanyard.test:8443", Addr: first, Down: func() { mu.Lock(); downs = append(downs, "a"); mu.Unlock() }},
				{URL: "https://b.lanyard.test:8443", Down: func() { mu.Lock(); downs = append(downs, "b"); mu.Unlock() }},
			}
		}
	}
	addrs := map[string]string{"dead:1": deadAddr, "rude:1": rude.Listener.Addr().String(), "b.lanyard.test:8443": b.Listener.Addr().String()}
	want := `{"@odata.nextLink":"https://graph.microsoft.com/v1.0/groups?$skiptoken=y","from":"b"}`

	_, h := newTestRelay(t, roots, servers("dead:1"), addrs)
	for _, m := range []string{"GET", "POST"} {
		body := ""
		if m == "POST" {
			body = `{"value":"s"}`
		}
		if rec := do(h, m, "graph.microsoft.com", "/v1.0/groups", "Bearer x", body); rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s with the first server down: %d %s", m, rec.Code, rec.Body.String())
		}
	}
	if posts.Load() != 1 || len(downs) != 2 || downs[0] != "a" {
		t.Errorf("the second server got %d POSTs (want 1); servers set aside: %v", posts.Load(), downs)
	}

	downs, posts = nil, atomic.Int32{}
	_, h = newTestRelay(t, roots, servers("rude:1"), addrs)
	if rec := do(h, "GET", "graph.microsoft.com", "/v1.0/groups", "Bearer x", ""); rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("GET with the first server hanging up: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(h, "POST", "graph.microsoft.com", "/v1.0/groups", "Bearer x", `{"value":"s"}`); rec.Code != http.StatusBadGateway {
		t.Errorf("POST with the first server hanging up: %d, want 502 (not replayed)", rec.Code)
	}
	if posts.Load() != 0 || reached.Load() < 2 {
		t.Errorf("a POST that reached the first server was sent to the second (%d), or the first was not reached (%d)", posts.Load(), reached.Load())
	}
}

// TestRelayClientBodyFails: a request whose client's body fails part way (the client went away
// during an upload) gets 502 and is not sent to the next server, and no server is set aside.
func TestRelayClientBodyFails(t *testing.T) {
	roots, cert := lanyardCert(t)
	for _, n := range []int{2, 1} {
		// Servers of this round's own: a request of the round before may reach its server after
		// that round is over, and must not count here.
		var reached atomic.Int32
		srv := func() *httptest.Server {
			return testServer(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{}`)
			}))
		}
		a, b := srv(), srv()
		var mu sync.Mutex
		var downs []string
		servers := func() []Server {
			return []Server{
				{URL: "https://a.lanyard.test:8443", Down: func() { mu.Lock(); downs = append(downs, "a"); mu.Unlock() }},
				{URL: "https://b.lanyard.test:8443", Down: func() { mu.Lock(); downs = append(downs, "b"); mu.Unlock() }},
			}
		}
		addrs := map[string]string{"a.lanyard.test:8443": a.Listener.Addr().String(), "b.lanyard.test:8443": b.Listener.Addr().String()}
		_, h := newTestRelay(t, roots, func() []Server { return servers()[:n] }, addrs)
		for _, m := range []string{"POST", "PUT"} {
			// of unknown length (chunked to the server), cut after a few bytes
			body := io.MultiReader(strings.NewReader(`{"value":`), iotest.ErrReader(io.ErrUnexpectedEOF))
			req := httptest.NewRequest(m, "https://graph.microsoft.com/v1.0/groups", body)
			req.Header.Set("Authorization", "Bearer x")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadGateway {
				t.Errorf("%d servers, %s with a cut body: %d, want 502", n, m, rec.Code)
			}
		}
		mu.Lock()
		if len(downs) != 0 || reached.Load() > 2 {
			t.Errorf("%d servers: servers set aside for the client's failure: %v; %d requests reached a server (want at most 2)", n, downs, reached.Load())
		}
		mu.Unlock()
	}
}

// TestMapReader: mapping as the answer streams, in reads of any size, gives what mapping it
// whole gives, prefixes split across reads included.
func TestMapReader(t *testing.T) {
	m := newMapper([][2]string{{"https://localhost:8443/v1.0", "https://graph.microsoft.com/v1.0"}, {"https://lan:1/v1.0", "https://graph.microsoft.com/v1.0"}})
	src := []byte(strings.Repeat(`{"a":"https://localhost:8443/v1.0/x","b":"https://lan:1/v1.0","c":"https://localhost:8443/v2","d":"https://https://lan:1/v1.0"}`, 500) + "https://localhost:8443/v1.")
	want := bytes.ReplaceAll(bytes.ReplaceAll(src, []byte("https://localhost:8443/v1.0"), []byte("https://graph.microsoft.com/v1.0")), []byte("https://lan:1/v1.0"), []byte("https://graph.microsoft.com/v1.0"))
	if got := m.mapAll(nil, src); !bytes.Equal(got, want) {
		t.Fatal("mapAll differs from bytes.ReplaceAll")
	}
	for _, rd := range []io.Reader{bytes.NewReader(src), iotest.OneByteReader(bytes.NewReader(src)), iotest.HalfReader(bytes.NewReader(src)), iotest.DataErrReader(bytes.NewReader(src))} {
		r := &mapReader{rc: io.NopCloser(rd), m: m}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("streamed: %v, %d bytes, want %d", err, len(got), len(want))
		}
		r.Close()
	}
	if m.first([]byte(`{"id":"https://example.com/v1.0"}`)) != -1 || m.first(src) != 6 {
		t.Error("first")
	}
}

// TestMapperNeedsDelimiter: a prefix is mapped only where a delimiter or the end of the input
// follows it, in one pass and as the answer streams (the byte after a prefix may come in a later
// read).
func TestMapperNeedsDelimiter(t *testing.T) {
	vault := newMapper([][2]string{{"https://kv.vault.lanyard.test", "https://kv.vault.azure.net"}})
	graph := newMapper([][2]string{{"https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0"}, {"https://lan:1/v1.0", "https://graph.microsoft.com/v1.0"}})
	for _, tc := range []struct {
		m    *mapper
		pair [2]string // a mapped prefix and what it becomes
		kept []string  // what follows the prefix in cases not mapped
		ends []string  // what follows it in cases mapped
	}{
		{vault, [2]string{"https://kv.vault.lanyard.test", "https://kv.vault.azure.net"},
			[]string{"ing/x", ".evil/x", ":8443/x", "-2/x", "x", "_"},
			[]string{"/secrets/s", `"`, "?a=1", "#f", `\/x`, ",", "'", " ", "\t", "\n", "\r"}},
		{graph, [2]string{"https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0"},
			[]string{"0/x", "beta/x", ".1", "-x"},
			[]string{"/users", `"`, "?$top=1"}},
	} {
		var src, want []byte
		for _, k := range tc.kept {
			src = append(src, `{"u":"`+tc.pair[0]+k+`"}`...)
			want = append(want, `{"u":"`+tc.pair[0]+k+`"}`...)
		}
		for _, e := range tc.ends {
			src = append(src, `{"u":"`+tc.pair[0]+e+`"}`...)
			want = append(want, `{"u":"`+tc.pair[1]+e+`"}`...)
		}
		// a long run, so that prefixes fall at every place of the streaming reads, then one at
		// the very end of the input (mapped) and, in another input, one cut there (not mapped)
		src, want = bytes.Repeat(src, 200), bytes.Repeat(want, 200)
		for _, in := range []struct{ src, want []byte }{
			{append(append([]byte{}, src...), tc.pair[0]...), append(append([]byte{}, want...), tc.pair[1]...)},
			{append(append([]byte{}, src...), tc.pair[0][:len(tc.pair[0])-1]...), append(append([]byte{}, want...), tc.pair[0][:len(tc.pair[0])-1]...)},
		} {
			if got := tc.m.mapAll(nil, in.src); !bytes.Equal(got, in.want) {
				t.Errorf("%s, one pass:\n got %.300s\nwant %.300s", tc.pair[0], got, in.want)
			}
			for _, rd := range []io.Reader{bytes.NewReader(in.src), iotest.OneByteReader(bytes.NewReader(in.src)), iotest.HalfReader(bytes.NewReader(in.src)), iotest.DataErrReader(bytes.NewReader(in.src))} {
				r := &mapReader{rc: io.NopCloser(rd), m: tc.m}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, in.want) {
					t.Errorf("%s, streamed (%T): %v\n got %.300s\nwant %.300s", tc.pair[0], rd, err, got, in.want)
				}
				r.Close()
			}
		}
		if tc.m.first([]byte(`{"u":"`+tc.pair[0]+tc.kept[0]+`"}`)) != -1 {
			t.Errorf("%s: first found a prefix followed by %q", tc.pair[0], tc.kept[0])
		}
	}
}

// BenchmarkRelay is the relay's own cost: a Graph-shaped GET answered by a bare handler, sent
// through the relay and straight to the server, 16 clients, over TLS with HTTP/2 from the
// client (as the SDKs do). What the relay adds is relay minus direct.
//
//	go test -run '^$' -bench Relay -benchmem ./internal/sandbox
func BenchmarkRelay(b *testing.B) {
	roots, cert := lanyardCert(b)
	body := []byte(`{"@odata.context":"https://a.lanyard.test:8443/v1.0/$metadata#servicePrincipals(id,displayName)/$entity","id":"5b1f0e0a-7c59-4d2e-9f0c-1b2a3c4d5e6f","displayName":"bench"}`)
	srv := testServer(b, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	}))
	for _, h2 := range []bool{false, true} {
		rl, h := newTestRelay(b, roots, nil, map[string]string{"a.lanyard.test:8443": srv.Listener.Addr().String()},
			func(rl *Relay) { rl.ServerURL, rl.HTTP2 = "https://a.lanyard.test:8443", h2 })
		rs := httptest.NewUnstartedServer(h)
		rs.TLS = rl.TLSConfig()
		rs.EnableHTTP2 = true
		rs.StartTLS()
		sbRoots := x509.NewCertPool()
		sbRoots.AppendCertsFromPEM(rl.CA.CertPEM())
		client := func(addr, name string, pool *x509.CertPool) *http.Client {
			return &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
				TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64,
			}}
		}
		run := func(b *testing.B, hc *http.Client, url string) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := hc.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		direct := client(srv.Listener.Addr().String(), "a.lanyard.test", roots)
		relayed := client(rs.Listener.Addr().String(), "graph.microsoft.com", sbRoots)
		name := "http1"
		if h2 {
			name = "http2"
		}
		b.Run("direct", func(b *testing.B) { run(b, direct, "https://a.lanyard.test:8443/v1.0/servicePrincipals/x") })
		b.Run("relay-"+name, func(b *testing.B) { run(b, relayed, "https://graph.microsoft.com/v1.0/servicePrincipals/x") })
		rs.Close()
	}
}

// TestRelayResumesSessions: an app that connects again to the relay resumes its TLS session (no
// full handshake), as it would with Azure's front ends.
func TestRelayResumesSessions(t *testing.T) {
	roots, _ := lanyardCert(t)
	rl, h := newTestRelay(t, roots, nil, nil, func(rl *Relay) { rl.ServerURL = "https://a.lanyard.test:8443" })
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = rl.TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	sbRoots := x509.NewCertPool()
	sbRoots.AppendCertsFromPEM(rl.CA.CertPEM())
	cfg := &tls.Config{RootCAs: sbRoots, ServerName: "graph.microsoft.com", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	var resumed []bool
	for range 2 {
		c, err := tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// TLS 1.3 sends the ticket after the handshake: read until the server has spoken.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = c.Read(make([]byte, 1))
		resumed = append(resumed, c.ConnectionState().DidResume)
		c.Close()
	}
	if resumed[0] || !resumed[1] {
		t.Errorf("resumed: %v, want [false true]", resumed)
	}
}
