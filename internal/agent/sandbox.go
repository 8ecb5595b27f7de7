package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// The sandbox modes (Config.Sandbox, AppConfig.Sandbox).
const (
	SandboxAuto = "auto" // on where the host allows it (Linux, root, iproute2), else off with a warning per app
	SandboxOn   = "on"   // on, or the app does not start (the error says what is missing)
	SandboxOff  = "off"
)

// sandboxes holds what the agent's sandboxes share: the relay and the trust bundle (the host's
// CAs, Lanyard's and the sandbox CA), made when the first sandbox is.
type sandboxes struct {
	mu     sync.Mutex // guards ready while initSandboxes runs
	ready  bool       // initSandboxes succeeded; a failure (the server away) is tried again
	relay  *sandbox.Splice
	bundle []byte
	local  []string // Lanyard's vault domain: resolves to 127.0.0.1 inside (the host's loopback is relayed in)
}

// sandboxMode decides whether ap runs in a sandbox: nil error and true for yes; an error when
// it must and cannot.
func (a *Agent) sandboxMode(cfg AppConfig) (bool, error) {
	mode := cfg.Sandbox
	if mode == "" {
		mode = a.cfg.Sandbox
	}
	switch mode {
	case SandboxOff:
		return false, nil
	case SandboxOn:
		if err := sandbox.Check(); err != nil {
			return false, errs.E(errs.Unavailable, "the app %s cannot run in a sandbox: %v; run it without one with --sandbox=off (sandbox: off in the agent's configuration)", cfg.Name, err)
		}
		return true, nil
	}
	if err := sandbox.Check(); err != nil {
		a.log.Warn("running the app without a sandbox: in it, Azure's addresses are not Lanyard's; --sandbox=off says so on purpose",
			slog.String("app", cfg.Name), slog.String("missing", err.Error()))
		return false, nil
	}
	return true, nil
}

// sandboxApp gives ap its sandbox when it is to have one (sandboxMode); an error when it must
// and cannot.
func (a *Agent) sandboxApp(ctx context.Context, ap *app) error {
	on, err := a.sandboxMode(ap.cfg)
	if err != nil {
		return err
	}
	if on {
		sb, err := a.openSandbox(ctx, ap)
		if err != nil {
			return err
		}
		ap.sb.Store(sb)
	}
	ap.settled.Store(true)
	a.kickSites() // a function app waiting for its sandbox can start its host now
	return nil
}

// openSandbox makes ap's sandbox.
func (a *Agent) openSandbox(ctx context.Context, ap *app) (*sandbox.Sandbox, error) {
	sb := &a.sboxes
	sb.mu.Lock()
	if !sb.ready {
		if err := a.initSandboxes(ctx); err != nil {
			sb.mu.Unlock()
			return nil, err
		}
		sb.ready = true
	}
	sb.mu.Unlock()
	exclude := map[int]bool{}
	for _, ln := range []net.Listener{a.ln, a.imdsLn} {
		if ln == nil {
			continue
		}
		if _, p, err := net.SplitHostPort(ln.Addr().String()); err == nil {
			n, _ := strconv.Atoi(p)
			exclude[n] = true
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(PathAppService, a.serveAppService)
	mux.HandleFunc(PathAppService+"/{$}", a.serveAppService)
	imds := func(w http.ResponseWriter, r *http.Request) { a.serveIMDSAs(w, r, ap.cfg.Site, ap.lim) }
	mux.HandleFunc(PathIMDS, imds)
	mux.HandleFunc(PathIMDS+"/{$}", imds)
	s, err := sandbox.Open(ctx, sandbox.Options{
		Key:      ap.cfg.Site,
		Dir:      filepath.Join(a.cfg.StateDir, "sandbox", ap.cfg.Name),
		Identity: mux,
		Relay:    sb.relay,
		Resolver: sandbox.Resolver{Local: sb.local, Upstream: a.cfg.SandboxDNS, Log: a.log},
		Bundle:   sb.bundle,
		Exclude:  exclude,
		Log:      a.log.With(slog.String("app", ap.cfg.Name)),
	})
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "the sandbox of "+ap.cfg.Name+": "+err.Error()+" (--sandbox=off runs the app without one)")
	}
	return s, nil
}

// initSandboxes reads the sandbox CA's certificate from the server (the servers present it for
// Azure's names) and the vault domain from its cloud metadata, and builds the relay. The relay
// passes connections to the servers the agent itself would call, in the same order (those that
// answer first), and tells the agent when one does not take a connection, so that its own calls
// pass it over too.
func (a *Agent) initSandboxes(ctx context.Context) error {
	sb := &a.sboxes
	vaultDomain, err := a.vaultDomain(ctx)
	if err != nil {
		return err
	}
	caPEM, err := a.up.sandboxCA(ctx)
	if err != nil {
		return err
	}
	// Agents before this one kept a sandbox CA of their own in the state directory: its key
	// certifies nothing any more and is removed.
	for _, f := range []string{"sandbox-ca.key", "sandbox-ca.pem"} {
		if err := os.Remove(filepath.Join(a.cfg.StateDir, f)); err == nil {
			a.log.Info("removed the agent's former sandbox CA (the servers' is used)", slog.String("file", f))
		}
	}
	sb.relay = &sandbox.Splice{Servers: a.relayServers(), Log: a.log}
	host, err := os.ReadFile(a.bundle)
	if err != nil {
		return err
	}
	sb.bundle = append(append(host, "# Lanyard sandbox CA (Azure's names only)\n"...), caPEM...)
	if h, _, err := net.SplitHostPort(vaultDomain); err == nil {
		vaultDomain = h
	}
	// With the server on this host's loopback (lanyard dev), its vault names (*.vault.localhost,
	// which do not resolve on a stock Debian) resolve to 127.0.0.1 inside, where the host's
	// loopback is relayed; a server elsewhere has its names resolved as on the host (a wildcard
	// DNS record).
	if serverOnLoopback(a.cfg.ServerURL) {
		sb.local = []string{vaultDomain}
	}
	return nil
}

// relayServers returns the sandbox relay's choice of server for each request: the agent's own
// (upstream.order: round-robin over the servers that answer, those set aside last). A server
// that does not answer the relay is set aside for the agent's calls too, as one that does not
// answer them is for the relay.
func (a *Agent) relayServers() func() []sandbox.Server {
	servers := make(map[*endpoint]sandbox.Server, len(a.up.eps))
	for _, e := range a.up.eps {
		servers[e] = sandbox.Server{URL: e.base, Addr: e.addr,
			Down: func() { e.downUntil.Store(time.Now().Add(endpointCooldown).UnixNano()) },
			Up: func() {
				if e.downUntil.Load() != 0 {
					e.downUntil.Store(0)
				}
			},
		}
	}
	return func() []sandbox.Server {
		order := a.up.order()
		out := make([]sandbox.Server, len(order))
		for i, e := range order {
			out[i] = servers[e]
		}
		return out
	}
}

// serverOnLoopback says whether the server's URL names this host's loopback.
func serverOnLoopback(serverURL string) bool {
	u, err := url.Parse(serverURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// vaultDomain reads the server's vault domain (host[:port]) from its cloud metadata.
func (a *Agent) vaultDomain(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hc, base := a.up.public()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metadata/endpoints?api-version=2022-09-01", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("the server's cloud metadata: %w", err)
	}
	defer resp.Body.Close()
	var clouds []struct {
		Suffixes map[string]string `json:"suffixes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&clouds); err != nil || len(clouds) == 0 || clouds[0].Suffixes["keyVaultDns"] == "" {
		return "", fmt.Errorf("the server's cloud metadata names no vault domain (%d, %v)", resp.StatusCode, err)
	}
	return clouds[0].Suffixes["keyVaultDns"], nil
}

// sandboxEnv points a sandboxed app's identity endpoint at the sandbox's metadata address and
// its CA variables at the sandbox's bundle.
func (a *Agent) sandboxEnv(ap *app, env Env) {
	if ap == nil || ap.sb.Load() == nil {
		return
	}
	endpoint := "http://" + sandbox.IMDSAddr.String() + PathAppService
	env["IDENTITY_ENDPOINT"], env["MSI_ENDPOINT"] = endpoint, endpoint
	bundle := sandbox.SystemTrustStores[0]
	for _, k := range []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} {
		env[k] = bundle
	}
}

// command is the command that runs ap's process: in its sandbox when it has one.
func (a *Agent) command(ap *app) (*exec.Cmd, error) {
	sb := ap.sb.Load()
	if sb == nil {
		return exec.Command(ap.cfg.Command[0], ap.cfg.Command[1:]...), nil
	}
	return sb.Command(ap.cfg.Command)
}

// SandboxOf returns the sandbox of the app name, for a caller that runs the app's process itself
// (`lanyard app run`): its namespace and the files it covers; ok is false when it has none.
func (a *Agent) SandboxOf(name string) (ns string, binds []sandbox.Bind, ok bool) {
	ap := a.apps.get(name)
	if ap == nil {
		return "", nil, false
	}
	sb := ap.sb.Load()
	if sb == nil {
		return "", nil, false
	}
	return sb.Netns.Path, sb.Binds(), true
}

// closeSandbox removes ap's sandbox, if it has one.
func (a *Agent) closeSandbox(ap *app) {
	sb := ap.sb.Swap(nil)
	if sb == nil {
		return
	}
	if err := sb.Close(); err != nil {
		a.log.Warn("removing a sandbox", slog.String("app", ap.cfg.Name), slog.Any("error", err))
	}
}
