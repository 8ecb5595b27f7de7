package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/functions"
)

// The function apps' side of the agent against the stub control plane (sites, packages and
// timer claims added to it here) and a small stand-in for the function host (fakeHost), until
// the real host (package functions) is built: it answers every request with the version.txt of
// the package it was started on.

// fnControl is the stub's function-app routes.
type fnControl struct {
	mu      sync.Mutex
	site    agentapi.Site     // siteA, as the server describes it
	zips    map[string][]byte // served under PathPackages/{digest}
	claims  map[string]string // function + tick → the node (certificate subject) holding it
	fetches atomic.Int64      // package downloads
	certs   atomic.Int64      // of which with a client certificate
}

func addFnRoutes(s *stub) *fnControl {
	c := &fnControl{zips: map[string][]byte{}, claims: map[string]string{}, site: agentapi.Site{
		App: siteA, Name: "app-a", HostName: "app-a.sites.test", TenantID: "tenant-1", Kind: "functionapp,linux",
		Settings:  map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "GREETING": "hello"},
		Functions: &agentapi.SiteFunctions{Keys: agentapi.FunctionKeys{Master: "master-1", Host: map[string]string{"default": "host-1"}}},
	}}
	s.mux.HandleFunc("POST "+agentapi.PathSites, func(w http.ResponseWriter, r *http.Request) {
		if !s.node(w, r) {
			return
		}
		var req agentapi.SitesRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, 400, agentapi.CodeInvalidRequest, err.Error())
			return
		}
		var out agentapi.SitesResponse
		c.mu.Lock()
		for _, app := range req.Apps {
			if app == siteA {
				raw, _ := json.Marshal(c.site) // a copy
				var site agentapi.Site
				_ = json.Unmarshal(raw, &site)
				out.Sites = append(out.Sites, site)
			} else {
				out.Sites = append(out.Sites, agentapi.Site{App: app, Error: "the site is not placed on this node"})
			}
		}
		c.mu.Unlock()
		answer(w, out)
	})
	s.mux.HandleFunc("GET "+agentapi.PathPackages+"/{digest}", func(w http.ResponseWriter, r *http.Request) {
		c.fetches.Add(1)
		if !s.node(w, r) {
			return
		}
		c.certs.Add(1)
		c.mu.Lock()
		z, ok := c.zips[r.PathValue("digest")]
		c.mu.Unlock()
		if !ok {
			fail(w, 404, "NotFound", "no such package")
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(z)
	})
	s.mux.HandleFunc("POST "+agentapi.PathTimerClaim, func(w http.ResponseWriter, r *http.Request) {
		if !s.node(w, r) {
			return
		}
		var req agentapi.TimerClaim
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, 400, agentapi.CodeInvalidRequest, err.Error())
			return
		}
		k := req.App + "/" + req.Function + "/" + req.Tick.UTC().Format(time.RFC3339Nano)
		// As the server: the first node to claim a tick holds it, and is told so again when it
		// asks again (a retried call).
		node := r.TLS.PeerCertificates[0].Subject.String()
		c.mu.Lock()
		holder, ok := c.claims[k]
		if !ok {
			holder = node
			c.claims[k] = node
		}
		c.mu.Unlock()
		answer(w, agentapi.TimerClaimResponse{Claimed: holder == node})
	})
	return c
}

// deploy makes a package whose version.txt says version, serves it, and describes it in the
// site; served, when not nil, replaces the bytes served (a package that fails its digest).
func (c *fnControl) deploy(t *testing.T, version string, served []byte) agentapi.Package {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{"host.json": `{"version":"2.0"}`, "version.txt": version, "fn/function.json": `{"bindings":[]}`} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	p := agentapi.Package{Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(buf.Len())}
	if served == nil {
		served = buf.Bytes()
	}
	c.mu.Lock()
	c.zips[p.Digest] = served
	c.site.Functions.Package = &p
	c.mu.Unlock()
	return p
}

func (c *fnControl) edit(f func(s *agentapi.Site)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.site)
}

// fakeHost stands in for functions.Host: it serves its version and counts what it serves.
type fakeHost struct {
	version  string
	cfg      functions.Config
	inflight atomic.Int64
	closed   atomic.Bool
	late     atomic.Int64 // requests served after Close began: must stay 0
	// at Close, how many were in flight (must be 0: the agent drains first)
	inflightAtClose atomic.Int64
}

func (h *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	if h.closed.Load() {
		h.late.Add(1)
		http.Error(w, "closed", http.StatusInternalServerError)
		return
	}
	time.Sleep(time.Millisecond) // an invocation takes a moment, so that switches meet requests in flight
	_, _ = io.WriteString(w, h.version)
}

func (h *fakeHost) Close(context.Context) error {
	h.inflightAtClose.Store(h.inflight.Load())
	h.closed.Store(true)
	return nil
}

// hostFactory is Config.FunctionHost for the tests: it reads version.txt from the root; a
// version "fail" fails to start; gate, when set, holds a start until it is closed.
type hostFactory struct {
	mu      sync.Mutex
	hosts   []*fakeHost
	gate    chan struct{}
	entered chan string // each start's version, when not nil
}

func (f *hostFactory) start(ctx context.Context, cfg functions.Config) (FunctionHost, error) {
	raw, err := os.ReadFile(filepath.Join(cfg.Root, "version.txt"))
	if err != nil {
		return nil, err
	}
	v := string(raw)
	f.mu.Lock()
	gate, entered := f.gate, f.entered
	f.mu.Unlock()
	if entered != nil {
		entered <- v
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if v == "fail" {
		return nil, errors.New("host.json: version: must be 2.0")
	}
	h := &fakeHost{version: v, cfg: cfg}
	f.mu.Lock()
	f.hosts = append(f.hosts, h)
	f.mu.Unlock()
	return h, nil
}

func (f *hostFactory) all() []*fakeHost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hosts)
}

func (f *hostFactory) last() *fakeHost {
	hs := f.all()
	if len(hs) == 0 {
		return nil
	}
	return hs[len(hs)-1]
}

// fnSetup is an agent with a front door (plain HTTP) running app-a, a function-app site.
type fnSetup struct {
	stub    *stub
	ctl     *fnControl
	hosts   *hostFactory
	agent   *testAgent
	env     Env
	cancel  context.CancelFunc
	stateDr string
}

func newFnSetup(t *testing.T, stateDir string, s *stub, ctl *fnControl) *fnSetup {
	t.Helper()
	f := &fnSetup{stub: s, ctl: ctl, hosts: &hostFactory{}}
	if stateDir == "" {
		stateDir = filepath.Join(t.TempDir(), "state")
	}
	f.stateDr = stateDir
	f.agent = startAgent(t, s, func(c *Config) {
		c.StateDir = stateDir
		c.FrontDoor = FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}
		c.FunctionHost = f.hosts.start
	})
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	t.Cleanup(cancel)
	var err error
	if f.env, err = f.agent.StartApp(ctx, AppConfig{Site: siteA, Name: "app-a"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// get calls app-a through the front door.
func (f *fnSetup) get(path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, f.agent.FrontDoorHTTPURL()+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = "app-a.sites.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (f *fnSetup) sync(t *testing.T) {
	t.Helper()
	if err := f.agent.SyncSites(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (f *fnSetup) appLog(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(LogPath(f.stateDr, "app-a"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(raw)
}

// eventually waits (up to 20 s) for cond, failing with what otherwise.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fnSetup) waitServing(t *testing.T, version string) {
	t.Helper()
	eventually(t, "version "+version+" to serve", func() bool {
		code, body, err := f.get("/api/fn")
		return err == nil && code == 200 && body == version
	})
}

func versionDir(stateDir string, p agentapi.Package) string {
	return filepath.Join(stateDir, "functions", "app-a", strings.TrimPrefix(p.Digest, "sha256:"))
}

// TestFunctionAppRedeployUnderLoad: a function-app site with a deployed package is hosted
// in-process: the agent fetches the package over mutual TLS, unpacks it and serves it; a
// redeploy under load loses no request (every answer is 200, from either version, and the old
// host is closed only when its last request is done); the old version's directory goes; a
// version that fails to start, or whose download fails its digest, leaves the current one
// serving and says why in the app's log; keys change in place; settings restart the host on
// the same package.
func TestFunctionAppRedeployUnderLoad(t *testing.T) {
	s := newStub(t)
	ctl := addFnRoutes(s)
	f := newFnSetup(t, "", s, ctl)

	p1 := ctl.deploy(t, "v1", nil)
	f.sync(t)
	f.waitServing(t, "v1")
	if got := ctl.certs.Load(); got != 1 || ctl.fetches.Load() != 1 {
		t.Fatalf("package downloads: %d, with a client certificate %d; want 1 and 1", ctl.fetches.Load(), got)
	}
	if raw, err := os.ReadFile(filepath.Join(versionDir(f.stateDr, p1), "version.txt")); err != nil || string(raw) != "v1" {
		t.Fatalf("the unpacked package: %q %v", raw, err)
	}

	// Load: requests one after another on 8 connections until told to stop.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var failures []string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := f.get("/api/fn")
				mu.Lock()
				if err != nil || code != 200 {
					failures = append(failures, body+" "+errString(err))
				} else {
					seen[body]++
				}
				mu.Unlock()
			}
		}()
	}
	count := func(v string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[v]
	}

	// v2's host is slow to start: v1 keeps serving meanwhile.
	gate := make(chan struct{})
	entered := make(chan string, 4)
	f.hosts.mu.Lock()
	f.hosts.gate, f.hosts.entered = gate, entered
	f.hosts.mu.Unlock()
	p2 := ctl.deploy(t, "v2", nil)
	f.sync(t)
	if v := <-entered; v != "v2" {
		t.Fatalf("started %q, want v2", v)
	}
	before := count("v1")
	eventually(t, "v1 to keep serving while v2 starts", func() bool { return count("v1") > before+20 })
	if count("v2") != 0 {
		t.Fatal("v2 served before its host was ready")
	}
	f.hosts.mu.Lock()
	f.hosts.gate, f.hosts.entered = nil, nil
	f.hosts.mu.Unlock()
	close(gate)
	eventually(t, "v2 to serve under load", func() bool { return count("v2") > 20 })
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the switch, e.g. %q", len(failures), failures[0])
	}
	hosts := f.hosts.all()
	if len(hosts) != 2 || hosts[0].version != "v1" || hosts[1].version != "v2" {
		t.Fatalf("hosts started: %d", len(hosts))
	}
	eventually(t, "v1's host to be closed", func() bool { return hosts[0].closed.Load() })
	if n := hosts[0].inflightAtClose.Load(); n != 0 || hosts[0].late.Load() != 0 {
		t.Fatalf("v1's host was closed with %d requests in flight, and served %d after", n, hosts[0].late.Load())
	}
	eventually(t, "v1's directory to be removed", func() bool {
		_, err := os.Stat(versionDir(f.stateDr, p1))
		return errors.Is(err, os.ErrNotExist)
	})
	if _, err := os.Stat(versionDir(f.stateDr, p2)); err != nil {
		t.Fatalf("v2's directory: %v", err)
	}
	if log := f.appLog(t); !strings.Contains(log, "version "+p1.Digest+" serving") || !strings.Contains(log, "version "+p2.Digest+" serving") {
		t.Errorf("the app log does not say which versions served:\n%s", log)
	}

	// A version that fails to start: v2 keeps serving, the log says why.
	p3 := ctl.deploy(t, "fail", nil)
	f.sync(t)
	eventually(t, "the failure in the app log", func() bool {
		return strings.Contains(f.appLog(t), "version "+p3.Digest+" failed to start: host.json: version: must be 2.0; the previous version keeps serving")
	})
	f.waitServing(t, "v2")

	// A download that does not match its digest is refused before it is unpacked.
	other := ctl.deploy(t, "v5", nil) // the same size as v4's
	p4 := ctl.deploy(t, "v4", nil)
	ctl.mu.Lock()
	ctl.zips[p4.Digest] = ctl.zips[other.Digest]
	ctl.mu.Unlock()
	f.sync(t)
	eventually(t, "the digest refusal in the app log", func() bool {
		return strings.Contains(f.appLog(t), "does not have the digest "+p4.Digest)
	})
	f.waitServing(t, "v2")
	if _, err := os.Stat(versionDir(f.stateDr, p4)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused package was unpacked: %v", err)
	}
	served := testutil.ToFloat64(f.agent.met.deploys.WithLabelValues("app-a", "served"))
	failed := testutil.ToFloat64(f.agent.met.deploys.WithLabelValues("app-a", "failed"))
	if served != 2 || failed < 2 { // a failed version is tried again after 30 s: a slow run may count it twice
		t.Errorf("deploys counted: %v served, %v failed; want 2 and 2", served, failed)
	}

	// Back to v2's package: nothing to do. Keys change in place, on the same host.
	ctl.edit(func(s *agentapi.Site) {
		s.Functions.Package = &p2
		s.Functions.Keys = agentapi.FunctionKeys{Master: "master-2", Functions: map[string]map[string]string{"fn": {"default": "fn-2"}}}
	})
	f.sync(t)
	h := f.hosts.last()
	eventually(t, "the new master key", func() bool { return h.cfg.Keys.Level("fn", "master-2") == "admin" })
	if h.cfg.Keys.Level("fn", "master-1") != "" || h.cfg.Keys.Level("fn", "fn-2") != "function" || h.cfg.Keys.Level("other", "fn-2") != "" {
		t.Error("the keys did not change in place")
	}
	if n := len(f.hosts.all()); n != 2 {
		t.Fatalf("a key change started a host (%d started)", n)
	}

	// A settings change restarts the host on the same package.
	ctl.edit(func(s *agentapi.Site) { s.Settings["GREETING"] = "bonjour" })
	f.sync(t)
	eventually(t, "a host with the new settings", func() bool {
		h := f.hosts.last()
		return h.cfg.Settings["GREETING"] == "bonjour"
	})
	if h := f.hosts.last(); h.cfg.Root != versionDir(f.stateDr, p2) || h.version != "v2" {
		t.Errorf("the restarted host runs %s (%s), want v2's directory", h.cfg.Root, h.version)
	}
	f.waitServing(t, "v2")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFunctionAppConfig: what the host is given: the site's names, settings and keys, the app's
// identity environment as the agent gives apps, with App Service's function-app variables, and
// the app's log.
func TestFunctionAppConfig(t *testing.T) {
	s := newStub(t)
	ctl := addFnRoutes(s)
	f := newFnSetup(t, "", s, ctl)
	ctl.deploy(t, "v1", nil)
	f.sync(t)
	f.waitServing(t, "v1")
	cfg := f.hosts.last().cfg
	if cfg.Name != "app-a" || cfg.HostName != "app-a.sites.test" || cfg.Settings["GREETING"] != "hello" || cfg.FunctionLog == nil || cfg.Registerer == nil ||
		cfg.WorkDir != filepath.Join(f.stateDr, "functions", "app-a", "work") {
		t.Errorf("config: %+v", cfg)
	}
	env := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"IDENTITY_ENDPOINT": f.env["IDENTITY_ENDPOINT"], "IDENTITY_HEADER": f.env["IDENTITY_HEADER"],
		"MSI_ENDPOINT": f.env["MSI_ENDPOINT"], "MSI_SECRET": f.env["MSI_SECRET"], "SSL_CERT_FILE": f.agent.CABundle(),
		"WEBSITE_SITE_NAME": "app-a", "WEBSITE_HOSTNAME": "app-a.sites.test", "WEBSITE_RESOURCE_GROUP": "rg",
		"WEBSITE_OWNER_NAME": "sub1+rg-Lanyardwebspace", "WEBSITE_INSTANCE_ID": "node-id-1",
		"HOME": filepath.Join(f.stateDr, "functions", "app-a", "home"), "AzureWebJobsScriptRoot": cfg.Root,
	}
	for k, v := range want {
		if env[k] != v || v == "" {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"PORT", "WEBSITES_PORT", "WEBSITE_AUTH_ENABLED"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s is set", k)
		}
	}
	// The function log is the app's log, which `functionapp log tail` reads.
	if _, err := io.WriteString(cfg.FunctionLog, "2026-12-05T00:00:00Z   [Information]   Executing 'Functions.fn'\n"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.appLog(t), "Executing 'Functions.fn'") {
		t.Error("the function log is not the app's log")
	}
	// Easy Auth on: WEBSITE_AUTH_ENABLED, and a new host (the environment changed).
	ctl.edit(func(s *agentapi.Site) {
		s.Auth = &agentapi.SiteAuth{Action: "AllowAnonymous", IssuerTenant: "tenant-1"}
	})
	f.sync(t)
	eventually(t, "a host with WEBSITE_AUTH_ENABLED", func() bool {
		return slices.Contains(f.hosts.last().cfg.Env, "WEBSITE_AUTH_ENABLED=True")
	})
	// The timer lock claims each tick from the server, over mutual TLS: a tick another node
	// holds is not run here.
	tick := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
	ctl.mu.Lock()
	ctl.claims[siteA+"/fn/"+tick.Add(time.Minute).Format(time.RFC3339Nano)] = "CN=other-node"
	ctl.mu.Unlock()
	for i, tc := range []struct {
		tick time.Time
		want bool
	}{{tick, true}, {tick, true}, {tick.Add(time.Minute), false}} {
		got, err := cfg.Timers.Claim(t.Context(), "fn", tc.tick)
		if err != nil || got != tc.want {
			t.Fatalf("claim %d: %v %v, want %v", i, got, err, tc.want)
		}
	}
}

// TestFunctionAppRestartReusesPackage: an agent that restarts on the same state directory
// serves the version on disk without downloading it again; until a package is deployed, a
// function-app site without a command is proxied as before (its caller runs the process).
func TestFunctionAppRestartReusesPackage(t *testing.T) {
	s := newStub(t)
	ctl := addFnRoutes(s)
	state := filepath.Join(t.TempDir(), "state")
	f := newFnSetup(t, state, s, ctl)
	f.sync(t)
	if code, _, err := f.get("/api/fn"); err != nil || code != http.StatusBadGateway {
		t.Fatalf("nothing deployed: %d %v, want 502 from the proxy (nothing listens on the app's port)", code, err)
	}
	if len(f.hosts.all()) != 0 {
		t.Fatal("a host started with nothing deployed")
	}
	p := ctl.deploy(t, "v1", nil)
	f.sync(t)
	f.waitServing(t, "v1")
	f.cancel()
	f.agent.stop()
	if !f.hosts.last().closed.Load() {
		t.Error("the host was not closed when the agent stopped")
	}
	g := newFnSetup(t, state, s, ctl)
	g.sync(t)
	g.waitServing(t, "v1")
	if n := ctl.fetches.Load(); n != 1 {
		t.Fatalf("the package was downloaded %d times, want once", n)
	}
	if g.hosts.last().cfg.Root != versionDir(state, p) {
		t.Errorf("root %s", g.hosts.last().cfg.Root)
	}
}

func TestFunctionKeysLevel(t *testing.T) {
	var k fnKeys
	if k.Level("fn", "x") != "" {
		t.Fatal("no keys yet, a level")
	}
	k.set(agentapi.FunctionKeys{
		Master: "m", Host: map[string]string{"default": "h"}, System: map[string]string{"durabletask_extension": "s"},
		Functions: map[string]map[string]string{"HttpTrigger": {"default": "f", "other": "g"}, "Other": {"default": "o"}},
	})
	for _, tc := range []struct{ fn, key, want string }{
		{"HttpTrigger", "m", "admin"}, {"HttpTrigger", "h", "function"}, {"HttpTrigger", "f", "function"},
		{"httptrigger", "g", "function"}, {"HttpTrigger", "o", ""}, {"HttpTrigger", "s", "system"},
		{"HttpTrigger", "", ""}, {"HttpTrigger", "M", ""}, {"HttpTrigger", "mm", ""}, {"Other", "o", "function"},
	} {
		if got := k.Level(tc.fn, tc.key); got != tc.want {
			t.Errorf("Level(%q, %q) = %q, want %q", tc.fn, tc.key, got, tc.want)
		}
	}
	k.set(agentapi.FunctionKeys{}) // no master key: an empty key never matches
	if k.Level("fn", "") != "" {
		t.Error("an empty key matched an empty master key")
	}
}

func TestKeyVaultBindingNames(t *testing.T) {
	for in, want := range map[string]agentapi.Selector{
		"":                                     {Kind: agentapi.SelectorSystem},
		"system":                               {Kind: agentapi.SelectorSystem},
		"c0000000-0000-0000-0000-0000000000ab": {Kind: agentapi.SelectorClientID, Value: "c0000000-0000-0000-0000-0000000000ab"},
		uaResID:                                {Kind: agentapi.SelectorResourceID, Value: uaResID},
	} {
		if got := selectorOf(in); got != want {
			t.Errorf("selectorOf(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// TestFunctionAppStartingIs503: the front door answers 503 while the first version's host
// starts, and keeps answering it when that version fails (the log says why); the next deploy
// that starts serves.
func TestFunctionAppStartingIs503(t *testing.T) {
	s := newStub(t)
	ctl := addFnRoutes(s)
	f := newFnSetup(t, "", s, ctl)
	gate, entered := make(chan struct{}), make(chan string, 1)
	f.hosts.gate, f.hosts.entered = gate, entered
	p := ctl.deploy(t, "fail", nil)
	f.sync(t)
	<-entered
	if code, body, err := f.get("/api/fn"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("while the first host starts: %d %q %v, want 503", code, body, err)
	}
	f.hosts.mu.Lock()
	f.hosts.gate, f.hosts.entered = nil, nil
	f.hosts.mu.Unlock()
	close(gate)
	eventually(t, "the failure in the app log", func() bool {
		log := f.appLog(t)
		return strings.Contains(log, "version "+p.Digest+" failed to start: host.json: version: must be 2.0") &&
			!strings.Contains(log, "keeps serving")
	})
	if code, body, err := f.get("/api/fn"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("after the first version failed: %d %q %v, want 503", code, body, err)
	}
	ctl.deploy(t, "v1", nil)
	f.sync(t)
	f.waitServing(t, "v1")
}

// TestFunctionAppConfiguredInPlace: an app of the agent's configuration with a script root
// (apps[].functions) is hosted in place from the start, without a package, and its host is
// closed when the agent stops.
func TestFunctionAppConfiguredInPlace(t *testing.T) {
	s := newStub(t)
	addFnRoutes(s) // no package deployed
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "version.txt"), []byte("in place"), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := &hostFactory{}
	a := startAgent(t, s, func(c *Config) {
		c.FrontDoor = FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}
		c.FunctionHost = hosts.start
		c.Apps = []AppConfig{{Site: siteA, Name: "app-a", Functions: root}}
	})
	f := &fnSetup{agent: a, hosts: hosts}
	f.waitServing(t, "in place")
	h := hosts.last()
	if h.cfg.Root != root {
		t.Errorf("root %s, want %s", h.cfg.Root, root)
	}
	a.stop()
	if !h.closed.Load() {
		t.Error("the host was not closed when the agent stopped")
	}
}

// TestFunctionAppPackageSizeCapped: a download longer than the package's size is cut at the
// size plus one byte and refused; nothing is unpacked and nothing starts.
func TestFunctionAppPackageSizeCapped(t *testing.T) {
	s := newStub(t)
	ctl := addFnRoutes(s)
	f := newFnSetup(t, "", s, ctl)
	p := ctl.deploy(t, "v1", nil)
	ctl.mu.Lock()
	ctl.zips[p.Digest] = append(slices.Clone(ctl.zips[p.Digest]), make([]byte, 1<<20)...)
	ctl.mu.Unlock()
	f.sync(t)
	eventually(t, "the size refusal in the app log", func() bool {
		return strings.Contains(f.appLog(t), fmt.Sprintf("the package downloaded is over %d bytes, not the %d its description says", p.Size, p.Size))
	})
	if len(f.hosts.all()) != 0 {
		t.Error("a host started")
	}
	if _, err := os.Stat(versionDir(f.stateDr, p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the package was unpacked: %v", err)
	}
}
