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
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// startSplice serves sp on a loopback listener and returns its address.
func startSplice(t testing.TB, sp *Splice) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sp.Serve(ln) }()
	stop := func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), stop
}

// TestSplicePassesBytes: what the app sends reaches the server whole, the end of it too (a
// half-close), and the server's answer, sent after that end, reaches the app; when the relay
// stops, the connections it passes are closed.
func TestSplicePassesBytes(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				got, _ := io.ReadAll(c) // until the app's half-close
				_, _ = c.Write(append([]byte("got "), got...))
			}()
		}
	}()
	addr, stop := startSplice(t, &Splice{Servers: func() []Server { return []Server{{Addr: srv.Addr().String()}} }})
	msg := bytes.Repeat([]byte("0123456789"), 100_000)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = c.Write(msg)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(got, append([]byte("got "), msg...)) {
		t.Fatalf("the answer: %v, %d bytes, want %d", err, len(got), len(msg)+4)
	}

	// A connection still open when the relay stops is closed.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = idle.Write([]byte("x"))
	time.Sleep(50 * time.Millisecond)
	stop()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("a connection outlived the relay")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("a connection was left open when the relay stopped")
	}
}

// TestSpliceFailover: with two servers, the first refusing connections, every connection
// reaches the second and the agent is told which did not answer and which did; with none
// answering, the app's connection is closed.
func TestSpliceFailover(t *testing.T) {
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("second")) }))
	defer srv.Close()
	var downs, ups atomic.Int32
	first := Server{URL: "https://a.lanyard.test:8443", Addr: goneAddr, Down: func() { downs.Add(1) }, Up: func() { t.Error("the first server is said to answer") }}
	second := Server{Addr: srv.Listener.Addr().String(), Down: func() { t.Error("the second server is said not to answer") }, Up: func() { ups.Add(1) }}
	var servers atomic.Pointer[[]Server]
	servers.Store(&[]Server{first, second})
	addr, _ := startSplice(t, &Splice{Servers: func() []Server { return *servers.Load() }})
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for range 3 {
		resp, err := hc.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "second" {
			t.Fatalf("answer %q", body)
		}
	}
	if downs.Load() != 3 || ups.Load() != 3 {
		t.Errorf("told: %d down, %d up; want 3 and 3", downs.Load(), ups.Load())
	}
	servers.Store(&[]Server{first})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("with no server answering, the app's connection read %d, %v; want its end", n, err)
	}
}

// BenchmarkSplice is the relay's own cost: a Graph-shaped GET answered by a bare handler over
// TLS with HTTP/2 (as the SDKs do), 16 clients, sent through the relay and straight to the
// server. What the relay adds is splice minus direct.
//
//	go test -run '^$' -bench Splice -benchmem ./internal/sandbox
func BenchmarkSplice(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "graph.microsoft.com"},
		DNSNames: []string{"graph.microsoft.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	body := []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id,displayName)/$entity","id":"5b1f0e0a-7c59-4d2e-9f0c-1b2a3c4d5e6f","displayName":"bench"}`)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	addr, _ := startSplice(b, &Splice{Servers: func() []Server { return []Server{{Addr: srv.Listener.Addr().String()}} }})
	client := func(addr string) *http.Client {
		return &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64,
		}}
	}
	run := func(b *testing.B, hc *http.Client) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := hc.Get("https://graph.microsoft.com/v1.0/servicePrincipals/x")
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	b.Run("direct", func(b *testing.B) { run(b, client(srv.Listener.Addr().String())) })
	b.Run("splice", func(b *testing.B) { run(b, client(addr)) })
}
