package frontdoor

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The front door's throughput against its baselines, in one run (docs/performance.md):
//
//	go test -run '^$' -bench 'Proxy' -benchtime 3s -count 3 ./internal/frontdoor
//
// Every benchmark drives the same small app (13 bytes per answer) over plain HTTP/1.1 with
// keep-alive from 16 concurrent clients: directly (the baseline), through the front door (with
// its access log written to a file, as the agent does), through the front door with Easy Auth and
// the same token on every request, and through Debian's nginx as a reverse proxy (access log on,
// upstream keep-alive), when /usr/sbin/nginx exists.

const benchClients = 16

func benchApp(b *testing.B) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello, world\n")
	}))
	srv.Start()
	b.Cleanup(srv.Close)
	return srv
}

// load sends b.N GETs to url with Host host from benchClients goroutines.
func load(b *testing.B, url, host string, header http.Header) {
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients * 2, MaxConnsPerHost: benchClients * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism((benchClients + 1) / max(1, runtimeProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Host = host
			for k, v := range header {
				req.Header[k] = v
			}
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
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func BenchmarkProxyDirect(b *testing.B) {
	app := benchApp(b)
	load(b, app.URL+"/", "app.sites.localhost", nil)
}

func benchDoor(b *testing.B, auth *Auth, keys KeySource) string {
	app := benchApp(b)
	f := New(Config{Keys: keys})
	logf, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logf.Close() })
	f.SetSite(Site{Name: "app", HostName: "app.sites.localhost", Backend: strings.TrimPrefix(app.URL, "http://"), Auth: auth, AccessLog: logf})
	f.SetState("app", Running)
	srv := httptest.NewServer(f)
	b.Cleanup(srv.Close)
	return srv.URL
}

func BenchmarkProxyFrontDoor(b *testing.B) {
	load(b, benchDoor(b, nil, nil)+"/", "app.sites.localhost", nil)
}

func BenchmarkProxyFrontDoorEasyAuth(b *testing.B) {
	k := newIssuer(b)
	tok := k.token(b, nil)
	url := benchDoor(b, &Auth{RequireAuthentication: true, Action: ActionReturn401, ClientID: apiID, Tenant: tenantA}, k.jwks)
	load(b, url+"/", "app.sites.localhost", http.Header{"Authorization": {"Bearer " + tok}})
}

func BenchmarkProxyNginx(b *testing.B) {
	if _, err := os.Stat(nginxBin); err != nil {
		b.Skip("nginx is not installed (apt-get install nginx-light)")
	}
	load(b, startNginx(b, benchApp(b))+"/", "app.sites.localhost", nil)
}

const nginxBin = "/usr/sbin/nginx"

// startNginx runs Debian's nginx as a reverse proxy to app and returns its base URL.
func startNginx(b *testing.B, app *httptest.Server) string {
	return startNginxTo(b, strings.TrimPrefix(app.URL, "http://"))
}

// startNginxTo runs Debian's nginx as a reverse proxy to backend (host:port).
func startNginxTo(b *testing.B, backend string) string {
	nginx := nginxBin
	dir := b.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream app { server %[2]s; keepalive 64; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Original-URL $request_uri;
    }
  }
}
`, dir, backend, addr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// SIGTERM: the master stops its workers (a SIGKILLed master leaves them running)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		t := time.AfterFunc(5*time.Second, func() { _ = cmd.Process.Kill() })
		_ = cmd.Wait()
		t.Stop()
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			b.Fatalf("nginx does not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// BenchmarkProxyRatios measures the set-ups in alternation, rounds of a fixed number of
// requests each, so that whatever else the machine does weighs on all of them alike, and reports
// each one's throughput as a ratio of the direct calls' in the same round (the median over the
// rounds): door/direct, auth/direct, door-rp/direct (the front door with every request on
// ReverseProxy's path), door-nolog/direct (without its access log), nginx/direct, door/nginx,
// door-rp/nginx, door/door-rp, door-nolog/door. The app and the front door each
// run in a process of their own (this test binary, re-executed), as nginx does, so that no
// set-up shares its process with the load generator.
//
//	go test -run '^$' -bench ProxyRatios -benchtime 1x ./internal/frontdoor
func BenchmarkProxyRatios(b *testing.B) {
	const rounds, perRound = 9, 6000
	app := child(b, "app", nil)
	k := newIssuer(b)
	bearer := http.Header{"Authorization": {"Bearer " + k.token(b, nil)}}
	targets := []struct {
		name, url string
		h         http.Header
	}{
		{"direct", app, nil},
		{"door", child(b, "door", []string{"LANYARD_BENCH_BACKEND=" + strings.TrimPrefix(app, "http://")}), nil},
		{"auth", child(b, "door", []string{"LANYARD_BENCH_BACKEND=" + strings.TrimPrefix(app, "http://"), "LANYARD_BENCH_JWKS=" + k.srv.URL}), bearer},
		// the front door with every request on httputil.ReverseProxy's path (as before the
		// direct path), for the comparison in the same run
		{"door-rp", child(b, "door", []string{"LANYARD_BENCH_BACKEND=" + strings.TrimPrefix(app, "http://"), "LANYARD_BENCH_REVERSEPROXY=1"}), nil},
		// the front door without its access log: what the log's write per request costs
		{"door-nolog", child(b, "door", []string{"LANYARD_BENCH_BACKEND=" + strings.TrimPrefix(app, "http://"), "LANYARD_BENCH_NOLOG=1"}), nil},
	}
	if _, err := os.Stat(nginxBin); err == nil {
		targets = append(targets, struct {
			name, url string
			h         http.Header
		}{"nginx", startNginxTo(b, strings.TrimPrefix(app, "http://")), nil})
	}
	ratios := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		rate := map[string]float64{}
		for _, tg := range targets {
			rate[tg.name] = float64(perRound) / fixedLoad(b, tg.url+"/", tg.h, perRound).Seconds()
		}
		for _, tg := range targets[1:] {
			ratios[tg.name+"/direct"] = append(ratios[tg.name+"/direct"], rate[tg.name]/rate["direct"])
		}
		ratios["direct-rps"] = append(ratios["direct-rps"], rate["direct"])
		ratios["door/door-rp"] = append(ratios["door/door-rp"], rate["door"]/rate["door-rp"])
		ratios["door-nolog/door"] = append(ratios["door-nolog/door"], rate["door-nolog"]/rate["door"])
		if n, ok := rate["nginx"]; ok {
			ratios["door/nginx"] = append(ratios["door/nginx"], rate["door"]/n)
			ratios["door-rp/nginx"] = append(ratios["door-rp/nginx"], rate["door-rp"]/n)
		}
	}
	for name, v := range ratios {
		slices.Sort(v)
		b.ReportMetric(v[len(v)/2], name)
	}
}

// child runs this test binary again as the app or the front door (see TestMain) on a free
// loopback port and returns its base URL once it listens.
func child(b *testing.B, role string, env []string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "LANYARD_BENCH_CHILD="+role, "LANYARD_BENCH_ADDR="+addr, "LANYARD_BENCH_LOG="+filepath.Join(b.TempDir(), "access.log"))...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if i > 200 {
			b.Fatalf("%s does not listen: %v", role, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestMain runs the benchmark's child processes: LANYARD_BENCH_CHILD=app serves the small app,
// =door a front door (with its access log) for site app.sites.localhost in front of
// LANYARD_BENCH_BACKEND, with Easy Auth when LANYARD_BENCH_JWKS names the test issuer.
func TestMain(m *testing.M) {
	role := os.Getenv("LANYARD_BENCH_CHILD")
	if role == "" {
		os.Exit(m.Run())
	}
	addr := os.Getenv("LANYARD_BENCH_ADDR")
	var h http.Handler
	switch role {
	case "app":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello, world\n")
		})
	case "door":
		var keys KeySource
		var auth *Auth
		if u := os.Getenv("LANYARD_BENCH_JWKS"); u != "" {
			keys = &JWKS{BaseURL: u}
			auth = &Auth{RequireAuthentication: true, Action: ActionReturn401, ClientID: apiID, Tenant: tenantA}
		}
		var logw io.Writer
		if os.Getenv("LANYARD_BENCH_NOLOG") == "" {
			logf, err := os.Create(os.Getenv("LANYARD_BENCH_LOG"))
			if err != nil {
				panic(err)
			}
			logw = logf
		}
		f := New(Config{Keys: keys})
		f.viaReverseProxy = os.Getenv("LANYARD_BENCH_REVERSEPROXY") != ""
		f.SetSite(Site{Name: "app", HostName: "app.sites.localhost", Backend: os.Getenv("LANYARD_BENCH_BACKEND"), Auth: auth, AccessLog: logw})
		f.SetState("app", Running)
		h = f
	}
	if p := os.Getenv("LANYARD_BENCH_CPUPROFILE"); p != "" {
		// a CPU profile of this child for its first 15 s (profiling the front door alone)
		pf, err := os.Create(p)
		if err != nil {
			panic(err)
		}
		_ = pprof.StartCPUProfile(pf)
		time.AfterFunc(15*time.Second, func() { pprof.StopCPUProfile(); pf.Close() })
	}
	srv := &http.Server{Addr: addr, Handler: h}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}

// fixedLoad sends n GETs from benchClients goroutines (fresh keep-alive connections) and returns
// the time they took.
func fixedLoad(b *testing.B, url string, h http.Header, n int) time.Duration {
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Host = "app.sites.localhost"
				for k, v := range h {
					req.Header[k] = v
				}
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
		}()
	}
	wg.Wait()
	return time.Since(start)
}
