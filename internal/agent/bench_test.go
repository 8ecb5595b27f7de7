package agent

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"
)

// The cached-token benchmark and its baseline: the same client, the same loopback, keep-alive
// connections, the same request header and an answer of the same size; the only difference is
// the handler. Compare them at the same concurrency:
//
//	go test -run '^$' -bench 'CachedToken|BareHandler' -benchtime 2s -count 3 ./internal/agent

var benchParallelism = []int{1, 16, 64}

// benchGet runs GET u with header h from p×GOMAXPROCS goroutines.
func benchGet(b *testing.B, u, h string, size int) {
	for _, p := range benchParallelism {
		b.Run(fmt.Sprintf("p%d", p), func(b *testing.B) {
			conns := p * runtime.GOMAXPROCS(0)
			client := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}}
			defer client.CloseIdleConnections()
			b.SetParallelism(p)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, u, nil)
					req.Header.Set("X-IDENTITY-HEADER", h)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || int(n) != size {
						b.Errorf("%d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
		})
	}
}

// cachedTokenTarget starts an agent with a cached token and returns its URL, header and the
// answer's size.
func cachedTokenTarget(b *testing.B) (string, string, int) {
	s := newStub(b)
	a := startAgent(b, s, func(c *Config) {
		c.HitRate = 1e12
		c.Log = slog.New(slog.DiscardHandler)
	})
	env := startApp(b, a, siteA, "app-a")
	u := a.URL() + PathAppService + "?" + url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}}.Encode()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%d %s", resp.StatusCode, body)
	}
	return u, env["IDENTITY_HEADER"], len(body)
}

func BenchmarkCachedToken(b *testing.B) {
	u, h, size := cachedTokenTarget(b)
	benchGet(b, u, h, size)
}

// BenchmarkBareHandler is the baseline: a net/http handler that writes a fixed body of the size
// of a token answer.
func BenchmarkBareHandler(b *testing.B) {
	_, h, size := cachedTokenTarget(b)
	body := make([]byte, size)
	for i := range body {
		body[i] = 'x'
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	benchGet(b, "http://"+ln.Addr().String()+PathAppService+"?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net", h, size)
}

// BenchmarkColdMint is a cache miss end to end in one process: the IMDS endpoint, the single
// flight, the mutual-TLS call to a stub control plane (which answers at once, without signing),
// the cache. The agent keeps one token and the requests cycle through 256 resources, so every
// request is a miss. The sub-benchmarks compare the token client's transports in the same run:
// http1 is the agent's (a pool of keep-alive HTTP/1.1 connections), http2 the one connection
// multiplexed that the agent's other calls use. The CPU is the agent's and the stub's together.
//
//	go test -run '^$' -bench ColdMint -benchtime 2s -count 3 ./internal/agent
func BenchmarkColdMint(b *testing.B) {
	s := newStubWith(b, true)
	a := startAgent(b, s, func(c *Config) {
		c.HitRate, c.MissRate, c.MissConcurrency = 1e12, 1e12, 64
		c.TokenCache.MaxTokens = 1
		c.Log = slog.New(slog.DiscardHandler)
	})
	mint := make([]*http.Client, len(a.up.eps))
	for i, e := range a.up.eps {
		mint[i] = e.mint
	}
	urls := make([]string, 256)
	for i := range urls {
		urls[i] = a.URL() + "/metadata/identity/oauth2/token?" + url.Values{"api-version": {"2018-02-01"}, "resource": {fmt.Sprintf("api://bench-%d", i)}}.Encode()
	}
	for _, transport := range []string{"http1", "http2"} {
		for i, e := range a.up.eps {
			if e.mint = mint[i]; transport == "http2" {
				e.mint = e.mtls
			}
		}
		for _, p := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/p%d", transport, p), func(b *testing.B) {
				conns := p * runtime.GOMAXPROCS(0)
				client := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}}
				defer client.CloseIdleConnections()
				var next atomic.Int64
				b.SetParallelism(p)
				b.ReportAllocs()
				misses := s.tokenCalls.Load()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodGet, urls[next.Add(1)%int64(len(urls))], nil)
						req.Header.Set("Metadata", "true")
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(s.tokenCalls.Load()-misses)/float64(b.N), "mints/op")
			})
		}
	}
}
