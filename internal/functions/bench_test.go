package functions

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/frontdoor"
)

// The function host's throughput against a bare net/http server doing the same work, in one
// run (STYLE.md: a ratio, never an absolute time):
//
//	go test -run '^$' -bench 'HTTPTrigger|KeyVault' -benchtime 3s ./internal/functions
//
// 16 concurrent keep-alive clients. "direct" is a Go net/http server answering what the test
// handler's "hello" function answers (201, "hello bob", a header); "host" is the front door
// (frontdoor.FrontDoor with Site.Handler = the Host) → the host → the Go custom handler
// (testdata/handler, default mode) → the response. BenchmarkHTTPTriggerRatio runs both and
// reports host/direct throughput. BenchmarkKeyVaultBinding measures the added cost of a
// keyVault input (a token from a cached identity endpoint answer, then a vault read on loopback
// per invocation) against the same function without it.

const benchClients = 16

// benchLoad sends n GETs (or b.N with RunParallel) from benchClients goroutines.
func benchLoad(b *testing.B, url, host string, n int, want int) time.Duration {
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients * 2, MaxConnsPerHost: benchClients * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	one := func() bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Errorf("status %d", resp.StatusCode)
			return false
		}
		return true
	}
	if n < 0 { // under the benchmark's own loop
		b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !one() {
					return
				}
			}
		})
		return 0
	}
	var left atomic.Int64
	left.Store(int64(n))
	done := make(chan struct{})
	start := time.Now()
	for range benchClients {
		go func() {
			defer func() { done <- struct{}{} }()
			for left.Add(-1) >= 0 {
				if !one() {
					return
				}
			}
		}()
	}
	for range benchClients {
		<-done
	}
	return time.Since(start)
}

func benchDirect(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["X-Test"] = []string{"a", "b"}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, "hello "+r.URL.Query().Get("name"))
	}))
	b.Cleanup(srv.Close)
	return srv.URL + "/api/hello?name=bob"
}

// benchHost starts a host for fns behind a front door and returns the base URL.
func benchHost(b *testing.B, fns map[string]string, secrets SecretReader) string {
	return benchHostVia(b, fns, secrets, false)
}

// benchHostVia is benchHost, with the host → worker calls through net/http's client (as
// before package backend) when transport is set.
func benchHostVia(b *testing.B, fns map[string]string, secrets SecretReader, transport bool) string {
	cfg := Config{Root: app(b, "", fns), Name: "app", HostName: "app.sites.localhost", Secrets: secrets, FunctionLog: io.Discard}
	if transport {
		cfg.viaTransport = viaTransport(b)
	}
	return behindDoor(b, startHost(b, cfg, nil))
}

// behindDoor serves h through a front door on loopback and returns its URL.
func behindDoor(b *testing.B, h *Host) string {
	fd := frontdoor.New(frontdoor.Config{})
	fd.SetSite(frontdoor.Site{Name: "app", HostName: "app.sites.localhost", Handler: h})
	fd.SetState("app", frontdoor.Running)
	srv := httptest.NewServer(fd)
	b.Cleanup(srv.Close)
	return srv.URL
}

// viaTransport is the host → worker call as it was before package backend: net/http's client
// and Transport (a reader and a writer goroutine per connection).
func viaTransport(b *testing.B) func(*http.Request, string) (*http.Response, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(req *http.Request, addr string) (*http.Response, error) {
		out := req.WithContext(req.Context())
		u := *req.URL
		out.URL = &u
		out.URL.Scheme, out.URL.Host = "http", addr
		out.Host = addr
		return client.Do(out)
	}
}

// benchTarget is one set-up of an interleaved benchmark.
type benchTarget struct {
	name, url, host string
	want            int
}

// interleaved sends n requests to each target in turn, rounds times, and returns each round's
// throughput (req/s) per target: the machine's noise weighs on all of them alike.
func interleaved(b *testing.B, rounds, n int, targets []benchTarget) map[string][]float64 {
	rates := map[string][]float64{}
	for range rounds {
		for _, tg := range targets {
			d := benchLoad(b, tg.url, tg.host, n, tg.want)
			rates[tg.name] = append(rates[tg.name], float64(n)/d.Seconds())
		}
	}
	return rates
}

// reportRatios reports the median over the rounds of num's throughput over den's, as "num/den".
func reportRatios(b *testing.B, rates map[string][]float64, pairs ...[2]string) {
	for _, p := range pairs {
		num, den := rates[p[0]], rates[p[1]]
		r := make([]float64, len(num))
		for i := range num {
			r[i] = num[i] / den[i]
		}
		slices.Sort(r)
		b.ReportMetric(r[len(r)/2], p[0]+"/"+p[1])
	}
}

var benchFns = map[string]string{"hello": httpFn(`,"authLevel":"anonymous"`)}

func BenchmarkHTTPTriggerDirect(b *testing.B) {
	benchLoad(b, benchDirect(b), "app.sites.localhost", -1, 201)
}

func BenchmarkHTTPTriggerHost(b *testing.B) {
	benchLoad(b, benchHost(b, benchFns, nil)+"/api/hello?name=bob", "app.sites.localhost", -1, 201)
}

// BenchmarkHTTPTriggerRatio sends b.N requests to each of: the bare server (direct), the host
// (front door → host → Go custom handler, package backend's connections) and the same host
// with net/http's client to the worker (host-transport), in nine interleaved rounds, and reports
// the medians of the rounds' throughput ratios.
func BenchmarkHTTPTriggerRatio(b *testing.B) {
	const path = "/api/hello?name=bob"
	targets := []benchTarget{
		{"direct", benchDirect(b), "app.sites.localhost", 201},
		{"host", benchHost(b, benchFns, nil) + path, "app.sites.localhost", 201},
		{"host-transport", benchHostVia(b, benchFns, nil, true) + path, "app.sites.localhost", 201},
	}
	const rounds = 9
	b.ResetTimer()
	rates := interleaved(b, rounds, max(b.N/rounds, 1), targets)
	reportRatios(b, rates, [2]string{"host", "direct"}, [2]string{"host-transport", "direct"}, [2]string{"host", "host-transport"})
	slices.Sort(rates["direct"])
	b.ReportMetric(rates["direct"][rounds/2], "direct-req/s")
}

// BenchmarkKeyVaultBinding: the same echo function with and without a keyVault input, in one
// run; reports the added time per invocation and the ratio of throughputs.
func BenchmarkKeyVaultBinding(b *testing.B) {
	f := newFakeIdentity(b)
	f.set("vault1/s1", "value")
	with := benchHost(b, map[string]string{
		"echo": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"},
			{"type":"keyVault","direction":"in","name":"mySecret","secretName":"s1","vaultName":"vault1"}]}`,
	}, f.reader()) + "/api/echo"
	without := benchHost(b, map[string]string{"echo": httpFn(`,"authLevel":"anonymous"`)}, nil) + "/api/echo"
	n := max(b.N/2, 1)
	var tw, to time.Duration
	b.ResetTimer()
	for range 2 {
		to += benchLoad(b, without, "app.sites.localhost", n, 200)
		tw += benchLoad(b, with, "app.sites.localhost", n, 200)
	}
	b.ReportMetric(float64(tw-to)/float64(2*n)*benchClients/1e3, "added-µs/invocation")
	b.ReportMetric(float64(to)/float64(tw), "with/without")
}
