package nodeworker

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchConcurrency = 16

// BenchmarkV4HTTPVsBareNode measures HTTP invocations per second of a v4 function (the real
// @azure/functions, returning a small JSON body) through the worker, POSTing custom-handler
// bodies with 16 concurrent keep-alive clients, against a bare Node HTTP server answering the
// same JSON to the same requests, in the same run. It reports both rates and worker/bare.
func BenchmarkV4HTTPVsBareNode(b *testing.B) {
	nodeBinary(b)
	needModules(b, v4App)
	w := startWorker(b, v4App)
	var d struct {
		Functions []struct {
			Name     string
			Bindings []map[string]any
		}
	}
	w.getJSON(b, "/.lanyard/functions", &d)
	trigger := ""
	for _, f := range d.Functions {
		if f.Name == "bench" {
			trigger = f.Bindings[0]["name"].(string)
		}
	}
	if trigger == "" {
		b.Fatal("no bench function")
	}
	benchVsBare(b, w, trigger)
}

// BenchmarkV3HTTPVsBareNode is the same for a v3 function (the worker's own v3 model).
func BenchmarkV3HTTPVsBareNode(b *testing.B) {
	benchVsBare(b, startWorker(b, "testdata/v3app"), "req")
}

func benchVsBare(b *testing.B, w *worker, trigger string) {
	node := nodeBinary(b)
	payload, err := json.Marshal(map[string]any{
		"Data":     map[string]any{trigger: httpTrigger("GET", "http://app.example/api/bench", map[string][]string{"Host": {"app.example"}}, nil)},
		"Metadata": map[string]any{},
	})
	if err != nil {
		b.Fatal(err)
	}

	bare := startBare(b, node)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency, MaxConnsPerHost: benchConcurrency}}
	run := func(url string, n int) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		start := time.Now()
		for i := 0; i < benchConcurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
					if err != nil {
						failed.Store(err.Error())
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Store(url + ": " + resp.Status)
						return
					}
				}
			}()
		}
		wg.Wait()
		if f := failed.Load(); f != nil {
			b.Fatal(f)
		}
		return time.Since(start)
	}
	run(w.base+"/bench", 200) // warm both up (JIT, connections)
	run(bare+"/", 200)

	b.ResetTimer()
	var tw, tb time.Duration
	// Alternate in rounds so that drift in the machine's load falls on both alike.
	const rounds = 4
	for r := 0; r < rounds; r++ {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - 3*(b.N/rounds)
		}
		if n == 0 {
			continue
		}
		tb += run(bare+"/", n)
		tw += run(w.base+"/bench", n)
	}
	b.StopTimer()
	workerRate := float64(b.N) / tw.Seconds()
	bareRate := float64(b.N) / tb.Seconds()
	b.ReportMetric(workerRate, "worker-inv/s")
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(workerRate/bareRate, "worker/bare")
}

// startBare runs testdata/bare.js on a free loopback port.
func startBare(b *testing.B, node string) string {
	port := freePort(b)
	abs, err := filepath.Abs("testdata/bare.js")
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(node, abs)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT=" + strconv.Itoa(port)}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			b.Fatal("the bare server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
