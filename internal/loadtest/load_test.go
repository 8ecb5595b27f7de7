package loadtest

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The bare handler runs in a process of its own (this test binary, started again with envBare
// set): it answers every request with the bytes of the file envBareBody names, over plain HTTP
// and over TLS, and prints "http=ADDR tls=ADDR" on its stdout.
const (
	envBare     = "LANYARD_LOAD_BARE"
	envBareBody = "LANYARD_LOAD_BARE_BODY"
)

func serveBare() {
	body, err := os.ReadFile(os.Getenv(envBareBody))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
	plain, _ := net.Listen("tcp", "127.0.0.1:0")
	tlsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bare"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	fmt.Printf("http=%s tls=%s\n", plain.Addr(), tlsLn.Addr())
	go func() { _ = (&http.Server{Handler: h}).Serve(plain) }()
	_ = (&http.Server{Handler: h}).Serve(tls.NewListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}}))
}

// bare is a running bare handler.
type bare struct {
	cmd              *exec.Cmd
	httpURL, tlsAddr string
}

func startBare(t testing.TB, body []byte) *bare {
	t.Helper()
	f := t.TempDir() + "/body"
	if err := os.WriteFile(f, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envBare+"=1", envBareBody+"="+f)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	b := &bare{cmd: cmd}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "http":
			b.httpURL = "http://" + v
		case "tls":
			b.tlsAddr = v
		}
	}
	return b
}

// tlsClient is a keep-alive HTTP/1.1 client of the bare TLS listener.
func (b *bare) tlsClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // a throwaway certificate; verified once per connection anyway
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}, Timeout: 30 * time.Second}
}

// target is what one run drives.
type target struct {
	name   string
	client func(conns int) *http.Client
	url    func(i int64) string // the URL of the i-th request
	header http.Header
	host   string // Host header, if not the URL's
	pids   []int  // processes whose CPU the run counts
	stk    *stack // for a cold mint: the stack whose agent's cache counters are read
	server *stack // the stack whose server is profiled (LANYARD_LOAD_PROFILE); nil: none
}

// result is one run of a target.
type result struct {
	n, errors int64
	rate      float64         // answered requests per second
	p50, p99  time.Duration   // latency
	cpu       time.Duration   // CPU of the target's processes per request
	cpuEach   []time.Duration // the same, process by process
}

// drive runs t with c keep-alive clients for d (after a short warm-up) and measures.
func drive(tb testing.TB, t target, c int, d time.Duration) result {
	hc := t.client(c)
	defer hc.CloseIdleConnections()
	var seq atomic.Int64
	one := func() (time.Duration, bool) {
		req, _ := http.NewRequest(http.MethodGet, t.url(seq.Add(1)), nil)
		for k, v := range t.header {
			req.Header[k] = v
		}
		if t.host != "" {
			req.Host = t.host
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode == 200
	}
	loop := func(until time.Time, record bool) ([]time.Duration, int64, int64) {
		var mu sync.Mutex
		var all []time.Duration
		var n, bad atomic.Int64
		var wg sync.WaitGroup
		for range c {
			wg.Go(func() {
				lat := make([]time.Duration, 0, 1<<14)
				for time.Now().Before(until) {
					l, ok := one()
					if !ok {
						bad.Add(1)
						continue
					}
					n.Add(1)
					if record {
						lat = append(lat, l)
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return all, n.Load(), bad.Load()
	}
	loop(time.Now().Add(300*time.Millisecond), false)
	cpu0 := make([]time.Duration, len(t.pids))
	for i, p := range t.pids {
		cpu0[i] = procCPU(p)
	}
	t0 := time.Now()
	lat, n, bad := loop(t0.Add(d), true)
	el := time.Since(t0)
	var used time.Duration
	each := make([]time.Duration, len(t.pids))
	for i, p := range t.pids {
		each[i] = procCPU(p) - cpu0[i]
		used += each[i]
	}
	slices.Sort(lat)
	r := result{n: n, errors: bad, rate: float64(n) / el.Seconds()}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	if n > 0 {
		r.cpu = used / time.Duration(n)
		for _, e := range each {
			r.cpuEach = append(r.cpuEach, e/time.Duration(n))
		}
	}
	if bad > 0 {
		tb.Logf("%s c=%d: %d requests failed", t.name, c, bad)
	}
	return r
}

// signer returns a function that makes one raw signature of a token-sized input (SHA-256, then
// RSA PKCS#1 v1.5 with a 2048-bit key or ECDSA P-256), as a mint does.
func signer(alg string) func() error {
	input := make([]byte, 900)
	if alg == "RS256" {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		return func() error {
			h := sha256.Sum256(input)
			_, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
			return err
		}
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return func() error {
		h := sha256.Sum256(input)
		_, err := ecdsa.SignASN1(rand.Reader, k, h[:])
		return err
	}
}

// rawSigning measures sign: the CPU one signature takes (user + system time of this process over
// signatures made one after another while the load generator is idle, so that other processes on
// the machine do not inflate it), and the rate every core of the machine would sign at,
// NumCPU / that CPU: the floor of a cold mint.
func rawSigning(sign func() error, d time.Duration) (rate float64, each time.Duration) {
	var n int
	c0 := selfCPU()
	for start := time.Now(); time.Since(start) < d; n++ {
		_ = sign()
	}
	each = (selfCPU() - c0) / time.Duration(n)
	if each <= 0 {
		each = time.Nanosecond
	}
	return float64(runtime.NumCPU()) / each.Seconds(), each
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
