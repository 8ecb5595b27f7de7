package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/functions/nodeworker"
)

// Config is one function app's host.
type Config struct {
	Name     string // the site's name (WEBSITE_SITE_NAME)
	HostName string // the site's host name (WEBSITE_HOSTNAME), for trigger URLs and logs
	Root     string // the script root: host.json and one folder per function

	// Env is the workers' environment besides the app settings: PATH, HOME, the identity
	// variables (IDENTITY_ENDPOINT, IDENTITY_HEADER, ...), WEBSITE_* and the rest of
	// functions.md §10 that the caller knows. The host adds its own (FUNCTIONS_CUSTOMHANDLER_PORT,
	// ...).
	Env []string
	// Settings are the app settings (Key Vault references already resolved), given to the
	// workers as environment variables; FUNCTIONS_WORKER_RUNTIME picks the worker.
	Settings map[string]string

	// Keys checks authLevel function and admin; nil: authLevel is not enforced (as Core Tools'
	// `func start` does locally).
	Keys Keys
	// Secrets reads the keyVault input binding's secrets; nil: an invocation of a function
	// with that binding fails with a clear error.
	Secrets SecretReader
	// Timers decides which node runs a timer tick; nil: every tick runs here.
	Timers TimerLock

	// Command makes a worker's process (the agent runs it in the app's sandbox); nil:
	// exec.Command.
	Command func(argv []string) (*exec.Cmd, error)
	// Dial connects to a worker's port (the worker may run in a network namespace of its own);
	// nil: the host's network.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Node is the node executable for FUNCTIONS_WORKER_RUNTIME=node; default "node" on PATH.
	Node string
	// WorkDir is where the host may write its own files (the Node worker's script, in a new
	// directory removed at Close); it must be visible to the workers (Command's sandbox).
	// Default: os.TempDir().
	WorkDir string

	Log *slog.Logger // the host's own log; default slog.Default()
	// FunctionLog receives the invocation lines and the functions' own log lines, one per
	// line, in the log stream's format (`2024-11-19T19:12:32Z   [Information]   Executing ...`).
	FunctionLog io.Writer
	// Registerer receives the per-function metrics; nil: not registered.
	Registerer prometheus.Registerer
	Now        func() time.Time

	// viaTransport, set by benchmarks only, sends invocations through a net/http client
	// instead of package backend's pool, to compare the two in one run.
	viaTransport func(req *http.Request, addr string) (*http.Response, error)
	// viaHTTP, set by tests and benchmarks only, has Lanyard's Node worker take its invocations
	// over HTTP as a custom handler instead of in frames (frames.go).
	viaHTTP bool
}

// Keys are a function app's keys as the host checks them (functions.md §2.2). Implementations
// compare in constant time.
type Keys interface {
	// Level returns the authorization level key grants for function fn: "admin" for the master
	// key, "function" for a host function key or one of fn's keys, "system" for a system key,
	// "" for no match.
	Level(fn, key string) string
}

// SecretRef is one keyVault binding's secret, as function.json gives it.
type SecretRef struct {
	// Identity is "system" (or empty) for the app's system-assigned identity, else a
	// user-assigned identity's client id or ARM resource id.
	Identity string
	Vault    string // the vault's name, or its URI (https://NAME.vault.azure.net/)
	Name     string // the secret's name
	Version  string // optional
}

// SecretReader reads a secret for the keyVault binding with a token of the ref's identity, at
// each invocation, through the vault's own authorization.
type SecretReader interface {
	ReadSecret(ctx context.Context, ref SecretRef) (string, error)
}

// TimerLock claims one tick of a timer function: true for exactly one node hosting the app.
type TimerLock interface {
	Claim(ctx context.Context, function string, tick time.Time) (bool, error)
}

// Function is one indexed (or refused) function.
type Function struct {
	Name      string
	Trigger   string   // "httpTrigger", "timerTrigger", ...
	Route     string   // HTTP: the route template without the prefix
	Methods   []string // HTTP: upper case; empty: all
	AuthLevel string   // HTTP: anonymous, function or admin
	Schedule  string   // timer: the NCRONTAB expression
	Disabled  bool
	Error     string // set when the function is not indexed: names the file and the field
}

// Host runs one function app.
type Host struct {
	cfg       Config
	hc        *hostConfig
	flog      *funcLog
	met       *metrics
	worker    worker
	fns       []Function      // every function, indexed or refused, by name
	http      []*function     // the HTTP functions in route precedence order
	others    []*function     // the other functions (timers)
	runCtx    context.Context // ends at Close
	bodyLimit int64
	now       func() time.Time
	poll      time.Duration // the timers' longest sleep between looks at the clock

	mu       sync.Mutex // guards closing against inflight.Add
	closing  bool
	inflight sync.WaitGroup
	timers   sync.WaitGroup
	stop     context.CancelFunc

	tmpDirs []string // removed at Close

	onTick func(fn string, payload map[string]any, err error) // tests
}

// Start indexes cfg.Root, starts the workers and the timers, and returns when the host is ready
// to serve (every worker answers) or failed to start. ctx bounds the start only; Close stops.
func Start(ctx context.Context, cfg Config) (*Host, error) {
	return start(ctx, cfg, nil)
}

func start(ctx context.Context, cfg Config, tweak func(*Host)) (*Host, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Host{cfg: cfg, now: cfg.Now, poll: time.Second,
		flog: &funcLog{w: cfg.FunctionLog, now: cfg.Now}, met: newMetrics(cfg.Registerer)}
	if tweak != nil {
		tweak(h)
	}
	lookup := h.lookup
	data, err := os.ReadFile(filepath.Join(cfg.Root, "host.json"))
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "the function app has no host.json")
	}
	hc, warnings, err := parseHostJSON(data, cfg.Root, lookup)
	if err != nil {
		return nil, errs.E(errs.Invalid, "%s", err.Error())
	}
	for _, w := range warnings {
		h.flog.write(levelWarning, w)
	}
	h.hc = hc
	h.bodyLimit = defaultBodyLimit
	if v, ok := lookup("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			h.bodyLimit = n
		}
	}
	fns, bad := indexFolders(cfg.Root, lookup)

	argv, sock, err := h.workerArgv()
	if err != nil {
		for _, d := range h.tmpDirs {
			_ = os.RemoveAll(d)
		}
		return nil, err
	}
	p := startProcess(&h.cfg, h.flog, argv, h.workerDir(), h.environ(), sock)
	h.worker = p
	if err := p.waitStarted(ctx); err != nil {
		_ = p.close(context.Background())
		for _, d := range h.tmpDirs {
			_ = os.RemoveAll(d)
		}
		return nil, errs.Wrap(errs.Unavailable, err, "the function app's worker did not start")
	}
	// functions the worker registered itself (the Node v4 model; doc.go)
	reg, v4, regBad := h.discover(ctx, fns, lookup)
	if v4 {
		// a Node v4 app runs the functions it registers only (nodeworker's rule)
		for _, f := range fns {
			bad = append(bad, Function{Name: f.Name, Trigger: f.Trigger, Error: f.source + ": ignored: the app uses the Node v4 programming model, whose functions are those it registers"})
		}
		fns = nil
	}
	fns = append(fns, reg...)
	bad = append(bad, regBad...)
	fns, clash := checkRoutes(fns)
	bad = append(bad, clash...)
	for _, f := range fns {
		h.fns = append(h.fns, f.Function)
		f.met = h.met.function(cfg.Name, f.Name) // the set of functions is fixed from here on
		if f.route != nil {
			h.http = append(h.http, f)
		} else {
			h.others = append(h.others, f)
		}
	}
	for _, b := range bad {
		h.fns = append(h.fns, b)
		h.flog.write(levelError, fmt.Sprintf("The '%s' function is in error: %s", b.Name, b.Error))
		h.cfg.Log.Warn("function refused", "function", b.Name, "err", b.Error)
	}
	sort.Slice(h.fns, func(i, j int) bool { return strings.ToLower(h.fns[i].Name) < strings.ToLower(h.fns[j].Name) })
	sortRoutes(h.http)
	names := make([]string, 0, len(fns))
	for _, f := range fns {
		names = append(names, f.Name)
	}
	h.flog.write(levelInformation, fmt.Sprintf("Found the following functions:\n%s", "Host.Functions."+strings.Join(names, "\nHost.Functions.")))
	tctx, cancel := context.WithCancel(context.Background())
	h.stop, h.runCtx = cancel, tctx
	for _, f := range fns {
		if f.Trigger == "timerTrigger" && !f.Disabled {
			h.timers.Add(1)
			go h.runTimer(tctx, f)
		}
	}
	return h, nil
}

// defaultBodyLimit is Azure's (functions.md §2.5).
const defaultBodyLimit = 104857600

// sortRoutes orders routes by ASP.NET-like precedence, then by template.
func sortRoutes(fns []*function) {
	sort.SliceStable(fns, func(i, j int) bool {
		a, b := fns[i].route.precedence(), fns[j].route.precedence()
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return fns[i].route.template < fns[j].route.template
	})
}

// lookup reads an app setting, then the environment given in Config.Env.
func (h *Host) lookup(k string) (string, bool) {
	if v, ok := h.cfg.Settings[k]; ok {
		return v, true
	}
	for i := len(h.cfg.Env) - 1; i >= 0; i-- {
		if name, v, ok := strings.Cut(h.cfg.Env[i], "="); ok && name == k {
			return v, true
		}
	}
	return "", false
}

func (h *Host) runtime() string {
	v, _ := h.lookup("FUNCTIONS_WORKER_RUNTIME")
	return strings.ToLower(strings.TrimSpace(v))
}

// workerArgv picks the worker: Lanyard's Node worker for FUNCTIONS_WORKER_RUNTIME=node, host.json's
// custom handler otherwise. sock is the unix socket on which the Node worker is to take its
// invocations (frames.go); nil for a custom handler.
func (h *Host) workerArgv() (argv []string, sock *workerSocket, err error) {
	switch rt := h.runtime(); {
	case rt == "node":
		// a private directory of this host's (a shared one in /tmp could be planted by another
		// user), which holds the worker's socket too
		dir, err := os.MkdirTemp(h.cfg.WorkDir, "lanyard-nodeworker-")
		if err != nil {
			return nil, nil, errs.Wrap(errs.Internal, err, "the Node worker could not be written")
		}
		h.tmpDirs = append(h.tmpDirs, dir)
		script, err := nodeworker.Script(dir)
		if err != nil {
			return nil, nil, errs.Wrap(errs.Internal, err, "the Node worker could not be written")
		}
		node := h.cfg.Node
		if node == "" {
			node = "node"
		}
		if !h.cfg.viaHTTP {
			if sock, err = newWorkerSocket(filepath.Join(dir, "worker.sock")); err != nil {
				return nil, nil, errs.Wrap(errs.Internal, err, "the Node worker's socket could not be made")
			}
			if sock == nil {
				h.cfg.Log.Warn("the Node worker's socket path is too long; invocations go over HTTP", "dir", dir)
			}
		}
		return []string{node, script}, sock, nil
	case h.hc.handler != nil && (rt == "" || rt == "custom"):
		return handlerArgv(h.hc.handler), nil, nil
	case rt == "" || rt == "custom":
		return nil, nil, errs.E(errs.Invalid, "host.json: customHandler: the app has no customHandler section and FUNCTIONS_WORKER_RUNTIME is not set")
	default:
		return nil, nil, errs.E(errs.Invalid, "FUNCTIONS_WORKER_RUNTIME '%s' is not supported by Lanyard's function host (node and custom are)", rt)
	}
}

func (h *Host) workerDir() string {
	if h.runtime() != "node" && h.hc.handler != nil {
		return h.hc.handler.workDir
	}
	return h.cfg.Root
}

// environ is the workers' environment (functions.md §10): the host's defaults, Config.Env,
// the app settings, and what the host always sets.
func (h *Host) environ() []string {
	rt := h.runtime()
	if rt == "" {
		rt = "custom"
	}
	env := []string{"FUNCTIONS_WORKER_RUNTIME=" + rt, "FUNCTIONS_EXTENSION_VERSION=~4", "AZURE_FUNCTIONS_ENVIRONMENT=Production"}
	if h.cfg.Name != "" {
		env = append(env, "WEBSITE_SITE_NAME="+h.cfg.Name)
	}
	if h.cfg.HostName != "" {
		env = append(env, "WEBSITE_HOSTNAME="+h.cfg.HostName)
	}
	env = append(env, h.cfg.Env...)
	keys := make([]string, 0, len(h.cfg.Settings))
	for k := range h.cfg.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "" && !strings.ContainsAny(k, "=\x00") {
			env = append(env, k+"="+h.cfg.Settings[k])
		}
	}
	return append(env, "AzureWebJobsScriptRoot="+h.cfg.Root, "FUNCTIONS_APP_ROOT_PATH="+h.cfg.Root)
}

// discover asks the worker for the functions it registered itself (GET /.lanyard/functions,
// doc.go); a worker that does not know the path (a custom handler) has none.
func (h *Host) discover(ctx context.Context, have []*function, lookup func(string) (string, bool)) ([]*function, bool, []Function) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/.lanyard/functions", nil)
	if err != nil {
		return nil, false, nil
	}
	resp, err := h.worker.do(req)
	if err != nil {
		return nil, false, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return nil, false, nil
	}
	var list struct {
		Model     string `json:"model"` // the Node worker's: v3 or v4
		Functions []struct {
			Name     string          `json:"name"`
			Bindings json.RawMessage `json:"bindings"`
		} `json:"functions"`
		Errors []string `json:"errors"` // the Node worker's load errors
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		h.cfg.Log.Warn("the worker's function list is not JSON", "err", err)
		return nil, false, nil
	}
	for _, e := range list.Errors {
		h.flog.write(levelError, "The worker could not load the app: "+e)
	}
	v4 := list.Model == "v4"
	seen := map[string]bool{}
	for _, f := range have {
		if !v4 {
			seen[strings.ToLower(f.Name)] = true
		}
	}
	var ok []*function
	var bad []Function
	for _, f := range list.Functions {
		source := "the worker's registration of '" + f.Name + "'"
		if seen[strings.ToLower(f.Name)] {
			bad = append(bad, Function{Name: f.Name, Error: source + ": name: a function named '" + f.Name + "' already exists"})
			continue
		}
		seen[strings.ToLower(f.Name)] = true
		body, _ := json.Marshal(map[string]json.RawMessage{"bindings": f.Bindings})
		fn, err := parseFunction(f.Name, source, body, lookup)
		if err != nil {
			bad = append(bad, Function{Name: f.Name, Error: err.Error()})
			continue
		}
		ok = append(ok, fn)
	}
	return ok, v4, bad
}

// Functions returns the functions of the app, indexed or refused, by name.
func (h *Host) Functions() []Function { return slices.Clone(h.fns) }

// enter counts an invocation in flight; false once the host is closing.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.inflight.Add(1)
	return true
}

// Close stops the timers, lets the invocations in flight finish (until ctx ends), and stops
// the workers.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	h.stop()
	done := make(chan struct{})
	go func() { h.timers.Wait(); h.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if werr := h.worker.close(ctx); err == nil {
		err = werr
	}
	for _, d := range h.tmpDirs {
		_ = os.RemoveAll(d)
	}
	return err
}

// RoutePrefix is host.json's extensions.http.routePrefix ("api" by default, "" for none).
func (h *Host) RoutePrefix() string { return h.hc.routePrefix }
