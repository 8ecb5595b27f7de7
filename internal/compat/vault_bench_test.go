package compat

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// benchConcurrency is the number of clients sending at once.
const benchConcurrency = 16

// load sends total GETs of url from benchConcurrency goroutines over keep-alive connections and
// returns the elapsed time and every request's latency.
func load(b *testing.B, c *http.Client, url, token string, total int) (time.Duration, []time.Duration) {
	b.Helper()
	var next atomic.Int64
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Store(resp.Status)
					}
				} else {
					failed.Store(err.Error())
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("a request failed: %v", f)
	}
	return time.Since(start), lat
}

func percentile(lat []time.Duration, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkVaultGetSecret: GET /secrets/{name}/ with a bearer token (signature, issuer,
// audience and expiry verified), a live access-policy check, decryption of the sealed value and
// the audit record, over keep-alive TLS from 16 concurrent clients, against a bare TLS net/http
// handler answering a body of the same size, in the same run. It reports both rates, their
// ratio and the latency percentiles. Run:
//
//	go test ./internal/compat/ -run '^$' -bench BenchmarkVaultGetSecret -benchtime 4000x
func BenchmarkVaultGetSecret(b *testing.B) {
	e := newVaultEnv(b, lanyardtest.Options{})
	mi := e.identity("bench")
	e.createVault("kv-bench", map[string]any{"accessPolicies": []any{e.policy(mi, "get")}})
	e.adminSetSecret("kv-bench", "conn", strings.Repeat("s", 64))
	token := e.mint(mi, e.resource)
	url := e.vaultURL("kv-bench") + "/secrets/conn/?api-version=2026-04-01"

	// The body Lanyard answers, for the bare handler to answer too.
	resp, err := e.http.Do(mustReq(b, url, token))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("warm-up: %s %s", resp.Status, body)
	}
	bare := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	defer bare.Close()
	bareClient := bare.Client()
	bareClient.Transport.(*http.Transport).MaxIdleConnsPerHost = benchConcurrency * 2
	bareClient.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12

	b.ResetTimer()
	c0 := cpuTime()
	dl, latL := load(b, e.http, url, token, b.N)
	c1 := cpuTime()
	db, latB := load(b, bareClient, bare.URL+"/secrets/conn/", token, b.N)
	c2 := cpuTime()
	b.StopTimer()
	rateL, rateB := float64(b.N)/dl.Seconds(), float64(b.N)/db.Seconds()
	b.ReportMetric(rateL, "lanyard-req/s")
	b.ReportMetric(rateB, "bare-req/s")
	b.ReportMetric(rateL/rateB, "ratio")
	b.ReportMetric(float64(percentile(latL, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(latL, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(percentile(latB, 0.50).Microseconds())/1000, "bare-p50-ms")
	b.ReportMetric(float64(percentile(latB, 0.99).Microseconds())/1000, "bare-p99-ms")
	// CPU time of the whole process (servers and clients) per request: steadier than the rates
	// on a shared machine, and the cores used show whether the run was bound by CPU.
	b.ReportMetric(float64((c1-c0).Microseconds())/float64(b.N), "lanyard-cpu-us/req")
	b.ReportMetric(float64((c2-c1).Microseconds())/float64(b.N), "bare-cpu-us/req")
	b.ReportMetric(float64(c1-c0)/float64(dl), "lanyard-cores")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustReq(b *testing.B, url, token string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
