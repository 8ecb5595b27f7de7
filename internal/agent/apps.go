package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/frontdoor"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// Env is the environment the agent gives an app (its identity endpoint and header, and the CA
// bundle, an absolute path, under each variable a runtime reads: SSL_CERT_FILE for Go, OpenSSL and
// Python's ssl, NODE_EXTRA_CA_CERTS for Node, REQUESTS_CA_BUNDLE for Python requests and az,
// CURL_CA_BUNDLE for curl), by variable name.
type Env map[string]string

// List returns the variables as sorted NAME=value strings, as exec.Cmd.Env takes them.
func (e Env) List() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// inheritedIdentityVars are removed from the environment the agent passes on to apps: each
// would make the SDKs pick another managed-identity source than the agent's (azure-wire.md §4.1).
var inheritedIdentityVars = []string{
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
	"MSI_ENDPOINT", "MSI_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
}

// The supervisor's timing.
const (
	restartMin   = time.Second
	restartMax   = time.Minute
	healthyAfter = time.Minute      // a process that ran this long restarts after restartMin again
	stopTimeout  = 10 * time.Second // SIGTERM, then SIGKILL after this
)

// app is an app the agent serves: a site's identity, with or without a process it runs.
type app struct {
	cfg AppConfig
	lim *limiter
	log *appLog                         // nil when the agent runs no process for it
	sb  atomic.Pointer[sandbox.Sandbox] // nil when the app runs without a sandbox; set once, read by the front door
	// settled is set once the app's sandbox question is answered (it has one, or is to have
	// none): no process of it, a function host's workers included, starts before.
	settled atomic.Bool
	port    int // the port the app listens on (PORT), when the agent has a front door

	// guarded by appSet.mu
	header []byte
	hash   [sha256.Size]byte
}

// appSet holds the apps by name and by the hash of their header.
type appSet struct {
	rand     io.Reader
	remember *remembered // nil unless Config.Remember
	mu       sync.RWMutex
	byName   map[string]*app
	byHash   map[[sha256.Size]byte]*app
}

func newAppSet(rand io.Reader) *appSet {
	return &appSet{rand: rand, byName: map[string]*app{}, byHash: map[[sha256.Size]byte]*app{}}
}

// newHeader makes a header value: 32 random bytes, hex.
func (s *appSet) newHeader() ([]byte, error) {
	var raw [32]byte
	if _, err := io.ReadFull(s.rand, raw[:]); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "generating an app header")
	}
	return []byte(hex.EncodeToString(raw[:])), nil
}

// add registers ap with a new header, or with the one remembered from the last run for an app
// registered without a command (Config.Remember).
func (s *appSet) add(ap *app) error {
	var h []byte
	if s.remember != nil && len(ap.cfg.Command) == 0 {
		h = s.remember.app(ap.cfg.Name, ap.cfg.Site)
	}
	if h == nil {
		var err error
		if h, err = s.newHeader(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byName[ap.cfg.Name]; ok {
		return errs.E(errs.Conflict, "an app named %s is already running on this agent", ap.cfg.Name)
	}
	ap.header, ap.hash = h, sha256.Sum256(h)
	s.byName[ap.cfg.Name] = ap
	s.byHash[ap.hash] = ap
	return nil
}

// rotate gives ap a new header; the old one stops working.
func (s *appSet) rotate(ap *app) error {
	h, err := s.newHeader()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, ap.hash)
	ap.header, ap.hash = h, sha256.Sum256(h)
	s.byHash[ap.hash] = ap
	return nil
}

func (s *appSet) remove(ap *app) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName[ap.cfg.Name] == ap {
		delete(s.byName, ap.cfg.Name)
		delete(s.byHash, ap.hash)
	}
}

func (s *appSet) get(name string) *app {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[name]
}

// byHeader returns the app whose header is h, or nil. The map is keyed by the header's SHA-256,
// never by the secret itself, and the header found is compared in constant time.
func (s *appSet) byHeader(h string) *app {
	if h == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(h))
	s.mu.RLock()
	defer s.mu.RUnlock()
	ap := s.byHash[sum]
	if ap == nil || subtle.ConstantTimeCompare([]byte(h), ap.header) != 1 {
		return nil
	}
	return ap
}

// CABundle is the path of the CA bundle the agent gives its apps: the system's roots and
// Lanyard's CA.
func (a *Agent) CABundle() string { return a.bundle }

// env is the identity environment of ap now: in its sandbox when it has one.
func (a *Agent) env(ap *app) Env {
	env := a.hostEnv(ap)
	a.sandboxEnv(ap, env)
	return env
}

// hostEnv is the identity environment of ap for a process outside any sandbox.
func (a *Agent) hostEnv(ap *app) Env {
	env := a.identityEnv(ap)
	a.doorEnv(ap, env)
	return env
}

// identityEnv is hostEnv without what the front door adds.
func (a *Agent) identityEnv(ap *app) Env {
	a.apps.mu.RLock()
	header := string(ap.header)
	a.apps.mu.RUnlock()
	endpoint := a.URL() + PathAppService
	env := Env{
		"IDENTITY_ENDPOINT":            endpoint,
		"IDENTITY_HEADER":              header,
		"MSI_ENDPOINT":                 endpoint,
		"MSI_SECRET":                   header,
		"APPSETTING_WEBSITE_SITE_NAME": ap.cfg.Name,
		"SSL_CERT_FILE":                a.bundle,
		"NODE_EXTRA_CA_CERTS":          a.bundle,
		"REQUESTS_CA_BUNDLE":           a.bundle,
		"CURL_CA_BUNDLE":               a.bundle, // Debian's curl reads this one, not SSL_CERT_FILE
	}
	return env
}

// processEnv is the whole environment of ap's process: the agent's own (less the variables that
// would select another identity source), then the app's configured variables, then its identity.
func (a *Agent) processEnv(ap *app) []string {
	return Env(a.baseEnv(ap, a.env(ap))).List()
}

// baseEnv is the agent's environment (less the variables that would select another identity
// source), then ap's configured variables, then identity.
func (a *Agent) baseEnv(ap *app, identity Env) map[string]string {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !slices.Contains(inheritedIdentityVars, k) {
			vars[k] = v
		}
	}
	for k, v := range ap.cfg.Env {
		vars[k] = v
	}
	for k, v := range identity {
		vars[k] = v
	}
	return vars
}

// StartApp serves the identity of cfg.Site to a new app and returns the environment its process
// needs. With a command, the agent runs it (restarting it when it exits) until ctx is done or the
// agent stops; without one, the caller runs the process itself with the returned environment
// (`lanyard app run`, `lanyard dev env`). Either way the app's header stops working when ctx is
// done.
func (a *Agent) StartApp(ctx context.Context, cfg AppConfig) (Env, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	if cfg.Functions != "" && a.door == nil {
		return nil, errs.E(errs.Invalid, "the function app %s is served by the front door, and this agent has none (front_door.listen)", cfg.Name)
	}
	ap, err := a.addApp(cfg)
	if err != nil {
		return nil, err
	}
	if err := a.sandboxApp(ctx, ap); err != nil {
		a.apps.remove(ap)
		if ap.log != nil {
			ap.log.Close()
		}
		return nil, err
	}
	if a.door != nil {
		// Learn the site's host name and Easy Auth now, so that its environment names them and
		// its front door serves it from the start; a slow control plane does not hold it up.
		sctx, cancel := context.WithTimeout(ctx, eventsInitTimeout)
		if err := a.syncSites(sctx); err != nil {
			a.log.Warn("front door: the sites' settings cannot be read yet", slog.String("error", err.Error()))
		}
		cancel()
	}
	env := a.env(ap)
	ctx, cancel := context.WithCancel(ctx)
	stopWithAgent := context.AfterFunc(a.life, cancel)
	a.procs.Add(1)
	go func() {
		defer a.procs.Done()
		defer stopWithAgent()
		defer cancel()
		if ap.log != nil {
			a.supervise(ctx, ap)
		} else {
			<-ctx.Done()
		}
		a.stopFunctions(ap, true)
		a.apps.remove(ap)
		a.closeSandbox(ap)
		a.setState(ap.cfg.Name, frontdoor.Stopped)
		a.kickSites()
	}()
	return env, nil
}

// addApp registers an app (and opens its log when it has a process).
func (a *Agent) addApp(cfg AppConfig) (*app, error) {
	ap := &app{cfg: cfg, lim: newLimiter(a.cfg)}
	if a.door != nil {
		// An app of the control socket keeps its PORT across restarts (Config.Remember), as it
		// keeps its header: a shell given `lanyard dev env` still serves at the front door.
		if _, set := cfg.Env["WEBSITES_PORT"]; !set && a.remember != nil && len(cfg.Command) == 0 {
			ap.port = a.remember.port(cfg.Name, cfg.Site)
		}
		if ap.port == 0 {
			p, err := pickPort(cfg.Env)
			if err != nil {
				return nil, err
			}
			ap.port = p
		}
	}
	if err := a.apps.add(ap); err != nil {
		return nil, err
	}
	a.kickSites()
	if len(cfg.Command) > 0 {
		l, err := openAppLog(LogPath(a.cfg.StateDir, cfg.Name), maxAppLog)
		if err != nil {
			a.apps.remove(ap)
			return nil, err
		}
		ap.log = l
	}
	return ap, nil
}

// AppEnv returns the identity environment app name gets now (`lanyard dev env --name`).
func (a *Agent) AppEnv(name string) (Env, error) {
	ap := a.apps.get(name)
	if ap == nil {
		return nil, errs.E(errs.NotFound, "no app named %s runs on this agent", name)
	}
	return a.env(ap), nil
}

// AppLogPath is where app name's output is kept (see LogPath).
func (a *Agent) AppLogPath(name string) string { return LogPath(a.cfg.StateDir, name) }

// supervise runs ap's command until ctx is done, starting it again with exponential backoff
// (restartMin doubling up to restartMax, back to restartMin after a run of healthyAfter) and a
// new header each time.
func (a *Agent) supervise(ctx context.Context, ap *app) {
	defer ap.log.Close()
	name := ap.cfg.Name
	delay := a.restartMin
	for first := true; ; first = false {
		if !first {
			if err := a.apps.rotate(ap); err != nil {
				a.log.Error("app: cannot make a new header", slog.String("app", name), slog.String("error", err.Error()))
			}
			a.met.restarts.WithLabelValues(name).Inc()
		}
		start := time.Now()
		a.setState(name, frontdoor.Starting)
		err := a.runOnce(ctx, ap)
		if ctx.Err() != nil {
			a.setState(name, frontdoor.Stopped)
			a.note(ap, "stopped")
			return
		}
		a.setState(name, frontdoor.Starting) // restarting
		if time.Since(start) >= healthyAfter {
			delay = a.restartMin
		}
		status := "exited"
		if err != nil {
			status = err.Error()
		}
		a.log.Warn("app exited; restarting", slog.String("app", name), slog.String("status", status), slog.Duration("in", delay))
		a.note(ap, fmt.Sprintf("%s; restarting in %s", status, delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, restartMax)
	}
}

// note writes a line of the agent's into the app's log, where `webapp log tail` shows it.
func (a *Agent) note(ap *app, msg string) {
	fmt.Fprintf(ap.log, "[lanyard agent %s] %s: %s\n", a.now().UTC().Format(time.RFC3339), ap.cfg.Name, msg)
}

// runOnce runs ap's command to its end, or stops it (SIGTERM to its process group, SIGKILL
// after stopTimeout) when ctx is done.
func (a *Agent) runOnce(ctx context.Context, ap *app) error {
	cmd, err := a.command(ap)
	if err != nil {
		return err
	}
	cmd.Dir = ap.cfg.Dir
	cmd.Env = a.processEnv(ap)
	cmd.Stdout, cmd.Stderr = ap.log, ap.log
	cmd.WaitDelay = time.Second // a grandchild holding the output open does not hold up Wait
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	a.log.Info("app started", slog.String("app", ap.cfg.Name), slog.Int("pid", cmd.Process.Pid))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ready, notReady := context.WithCancel(ctx)
	defer notReady()
	go a.awaitReady(ready, ap)
	select {
	case err := <-done:
		signalGroup(cmd, killSignal) // what the process left behind in its group
		return err
	case <-ctx.Done():
	}
	signalGroup(cmd, termSignal)
	t := time.NewTimer(a.stopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		signalGroup(cmd, killSignal)
		return err
	case <-t.C:
	}
	signalGroup(cmd, killSignal)
	return <-done
}
