package loadtest

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lanyardhq/lanyard/client"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	if os.Getenv(envBare) != "" {
		serveBare()
		return
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// lanyardBin builds cmd/lanyard once per test binary.
func lanyardBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "lyload")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "lanyard")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/lanyard").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a process of the real binary, its output in a file.
type proc struct {
	cmd    *exec.Cmd
	log    string
	waited chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// start runs bin with args, its stdout and stderr appended to logPath.
func start(t testing.TB, logPath string, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := &proc{cmd: cmd, log: logPath, waited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.waited) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the process with SIGINT, then SIGKILL after 10 s.
func (p *proc) stop() {
	select {
	case <-p.waited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.waited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.waited
	}
}

// kill ends the process with SIGKILL and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.waited
}

// cpu is the user and system CPU time the process used so far (/proc/PID/stat, in clock ticks
// of 10 ms).
func (p *proc) cpu() time.Duration { return procCPU(p.pid()) }

func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields after it start after the last ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rss is the process's resident set (/proc/PID/status VmRSS).
func (p *proc) rss() int64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stackOptions shape a server and its agent.
type stackOptions struct {
	alg       string // RS256 or ES256
	store     string // DSN; "" for SQLite in the data directory
	maxTokens int    // the agent's token_cache.max_tokens; 0 for its default
	noAgent   bool
	publicURL string // the server's --public-url; "" for its own
	kek       string // the KEK file; "" for kek in the stack's directory
	bin       string // the lanyard binary; "" for the one built from this tree
}

// stack is a running `lanyard server` and `lanyard agent` enrolled with it.
type stack struct {
	t        testing.TB
	dir      string
	port     int
	server   *proc
	agent    *proc
	admin    *client.Client
	pool     *x509.CertPool
	caFile   string
	agentURL string
	sub      string
	tenant   string
}

func startStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	bin := cmp.Or(o.bin, lanyardBin(t))
	dir, err := os.MkdirTemp("", "lys") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &stack{t: t, dir: dir, port: freePort(t)}
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	if err := os.WriteFile(filepath.Join(dir, "kek"), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	s.startServer(o)
	if o.noAgent {
		return s
	}
	ctx := context.Background()
	jt, err := s.admin.CreateJoinToken(ctx, "bench", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "join"), []byte(jt.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agentPort := freePort(t)
	maxTokens := ""
	if o.maxTokens != 0 {
		maxTokens = fmt.Sprintf("token_cache:\n  max_tokens: %d\n", o.maxTokens)
	}
	cfg := fmt.Sprintf("server: https://localhost:%d\nca_file: %s\njoin_token_file: %s\nstate_dir: %s\nnode_name: bench\nlisten: 127.0.0.1:%d\n"+
		"miss_rate: 1000000\nmiss_concurrency: 64\nhit_rate: 1000000\n%s",
		s.port, s.caFile, filepath.Join(dir, "join"), filepath.Join(dir, "agent"), agentPort, maxTokens)
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.agent = start(t, filepath.Join(dir, "agent.log"), bin, "agent", "--config", filepath.Join(dir, "agent.yaml"))
	s.agentURL = fmt.Sprintf("http://127.0.0.1:%d", agentPort)
	s.waitFor("the agent", s.agent, func() bool {
		resp, err := http.Get(s.agentURL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return s
}

// startServer starts (or restarts) the server on the stack's data directory.
func (s *stack) startServer(o stackOptions) {
	t := s.t
	kek := o.kek
	if kek == "" {
		kek = filepath.Join(s.dir, "kek")
	}
	args := []string{"server", "--listen", fmt.Sprintf("127.0.0.1:%d", s.port), "--data-dir", filepath.Join(s.dir, "data"),
		"--kek-file", kek}
	if o.publicURL != "" {
		args = append(args, "--public-url", o.publicURL)
	}
	if o.alg != "" {
		args = append(args, "--signing-alg", o.alg)
	}
	if o.store != "" {
		args = append(args, "--store", o.store)
	}
	if lvl := os.Getenv("LANYARD_LOAD_LOG_LEVEL"); lvl != "" {
		args = append(args, "--log-level", lvl)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.server = start(t, filepath.Join(s.dir, "server.log"), cmp.Or(o.bin, lanyardBin(t)), args...)
	s.admin = client.AdminSocket(filepath.Join(s.dir, "data", "admin.sock"))
	var caPEM []byte
	s.waitFor("the server's admin socket", s.server, func() bool {
		var err error
		caPEM, err = s.admin.CAPEM(context.Background())
		return err == nil
	})
	s.caFile = filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(s.caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	s.pool = x509.NewCertPool()
	s.pool.AppendCertsFromPEM(caPEM)
	hc := s.client("localhost", 1)
	s.waitFor("/readyz", s.server, func() bool {
		resp, err := hc.Get(fmt.Sprintf("https://localhost:%d/readyz", s.port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	ctx := context.Background()
	sub, err := s.admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.sub, s.tenant = sub.SubscriptionID, sub.TenantID
}

// waitFor polls cond until it holds; it fails if p exits or a minute passes.
func (s *stack) waitFor(what string, p *proc, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case <-p.waited:
			log, _ := os.ReadFile(p.log)
			s.t.Fatalf("waiting for %s: the process exited:\n%s", what, log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is an HTTPS client of the server that names host (SNI and Host) and dials the server's
// loopback port, HTTP/1.1 with keep-alive (as wrk is), trusting the server's CA.
func (s *stack) client(host string, conns int) *http.Client {
	addr := fmt.Sprintf("127.0.0.1:%d", s.port)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.pool, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}, Timeout: 30 * time.Second}
}

// imdsToken asks the agent's IMDS-style endpoint for a token of the node's machine identity.
func (s *stack) imdsToken(resource string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, s.agentURL+"/metadata/identity/oauth2/token?api-version=2018-02-01&resource="+resource, nil)
	req.Header.Set("Metadata", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		return "", fmt.Errorf("IMDS: %d %s", resp.StatusCode, raw)
	}
	return out.AccessToken, nil
}

// claim reads one string claim of a JWT (no verification: the harness minted it).
func claim(tok, name string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	v, _ := m[name].(string)
	return v
}

// registerResources creates n applications with identifier URIs api://bench-0 … and their
// service principals, so that tokens can be minted for n distinct resources.
func (s *stack) registerResources(n int) []string {
	s.t.Helper()
	out := make([]string, n)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(4)
	for i := range n {
		out[i] = fmt.Sprintf("api://bench-%d", i)
		g.Go(func() error {
			var app struct {
				AppID string `json:"appId"`
			}
			if err := s.admin.Graph(ctx, http.MethodPost, "/v1.0/applications",
				map[string]any{"displayName": fmt.Sprintf("bench-%d", i), "identifierUris": []string{out[i]}}, &app); err != nil {
				return err
			}
			return s.admin.Graph(ctx, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, nil)
		})
	}
	if err := g.Wait(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// createVault creates resource group "bench" and vault name with secret "conn" (64 bytes), which
// principalID may get. It returns the vault's host name.
func (s *stack) createVault(name, principalID string) string {
	s.t.Helper()
	ctx := context.Background()
	if err := s.admin.ARM(ctx, http.MethodPut, client.ResourceGroupPath(s.sub, "bench"), client.APIVersionResourceGroups,
		map[string]string{"location": "local"}, nil); err != nil {
		s.t.Fatal(err)
	}
	props := map[string]any{"tenantId": s.tenant, "sku": map[string]string{"family": "A", "name": "standard"},
		"accessPolicies": []any{map[string]any{"tenantId": s.tenant, "objectId": principalID, "permissions": map[string]any{"secrets": []string{"get"}}}}}
	if err := s.admin.ARM(ctx, http.MethodPut, client.ResourcePath(s.sub, "bench", client.TypeVaults, name), client.APIVersionVaults,
		map[string]any{"location": "local", "properties": props}, nil); err != nil {
		s.t.Fatal(err)
	}
	host := fmt.Sprintf("%s.vault.localhost:%d", name, s.port)
	if _, err := s.admin.Vault(host).SetSecret(ctx, "conn", client.SecretSet{Value: strings.Repeat("s", 64)}); err != nil {
		s.t.Fatal(err)
	}
	return host
}

// agentMetric reads a counter of the agent's /metrics (the sum over its label sets).
func (s *stack) agentMetric(name string) float64 {
	resp, err := http.Get(s.agentURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{' {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// fileSize is the size of path, 0 if it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// profile takes a CPU profile of the server for d through its admin socket.
func (s *stack) profile(d time.Duration) []byte {
	resp, err := s.admin.Send(context.Background(), http.MethodGet, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), nil, nil)
	if err != nil {
		return []byte(err.Error())
	}
	return resp.Body
}
