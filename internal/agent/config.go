package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/functions"
)

// Config is the agent's configuration. The YAML keys are in the field tags; the fields tagged
// "-" are set by code (the CLI, `lanyard dev`, tests). Zero values mean the defaults below.
type Config struct {
	ServerURL     string `yaml:"server"`          // the control plane, https://host[:port]
	CAFile        string `yaml:"ca_file"`         // PEM of Lanyard's CA (`lanyard ca export`)
	JoinTokenFile string `yaml:"join_token_file"` // read only when the state dir holds no valid enrollment
	StateDir      string `yaml:"state_dir"`       // key, certificate, CA bundle and app logs; created 0700
	NodeName      string `yaml:"node_name"`       // sent at enrollment; default: the host name

	// Servers are more servers of the same control plane (one store, one CA), https://host[:port]
	// each. The agent spreads its calls over Server and these, and over the addresses of a name
	// that has several, and moves on from one that does not answer.
	Servers []string `yaml:"servers"`

	// Listen is the loopback address of the endpoints, /metrics and /healthz; default
	// 127.0.0.1:0 (a free port, see (*Agent).URL).
	Listen string     `yaml:"listen"`
	IMDS   IMDSConfig `yaml:"imds"`

	Apps []AppConfig `yaml:"apps"`

	// FrontDoor is the inbound HTTP of the apps' sites (https://{site}.{siteDomain}); none
	// unless a listener is set.
	FrontDoor FrontDoorConfig `yaml:"front_door"`

	// Throttling per app (the node's own identities count as one app). Misses are requests that
	// go to the server; every request counts against HitRate.
	MissRate        float64 `yaml:"miss_rate"`        // per second; default 20 (Azure's managed-identity limit)
	MissConcurrency int     `yaml:"miss_concurrency"` // default 5
	HitRate         float64 `yaml:"hit_rate"`         // per second; default 1000

	// Sandbox runs apps in a sandbox where Azure's addresses are Lanyard (package sandbox):
	// auto (the default: where the host allows it), on (an app that cannot have one does not
	// start) or off.
	Sandbox string `yaml:"sandbox"`
	// SandboxDNS are the resolvers (host:port) the sandboxes' resolver asks about names that are
	// not Azure's; default: the host's (/etc/resolv.conf).
	SandboxDNS []string `yaml:"sandbox_dns"`

	// Remember keeps, across restarts on the same StateDir, the endpoint's port (when Listen is
	// the default, any free port) and the header of every app registered on the control socket,
	// in StateDir/remembered.json (mode 0600), so that a shell or a process given them before a
	// restart keeps getting tokens. `lanyard dev` sets it; `lanyard agent` does not: its apps get
	// a new header at each start of the agent and each restart of their process.
	Remember bool `yaml:"-"`

	TokenCache TokenCacheConfig `yaml:"token_cache"`

	// FunctionHost starts a function app's host; default StartFunctionHost (package functions).
	FunctionHost func(ctx context.Context, cfg functions.Config) (FunctionHost, error) `yaml:"-"`

	MintTimeout time.Duration    `yaml:"-"` // one call to the server's token endpoint; default 10s
	Log         *slog.Logger     `yaml:"-"` // default slog.Default()
	Now         func() time.Time `yaml:"-"` // default time.Now
	Rand        io.Reader        `yaml:"-"` // default crypto/rand
}

// IMDSConfig places the IMDS-style endpoint.
type IMDSConfig struct {
	// Listen is an extra listener serving only the IMDS-style endpoint, on loopback or on a
	// link-local address such as 169.254.169.254:80, which the agent puts on a dummy interface
	// (lanyard0) and takes away on exit (Linux, needs CAP_NET_ADMIN). Empty: the endpoint is
	// served on Listen only.
	Listen string `yaml:"listen"`
}

// TokenCacheConfig bounds the agent's token cache. Past either bound the least useful token is
// evicted (expired ones first, then the least recently used of a sample); a request for it later
// is a miss like any other. The defaults keep the agent under 64 MB of memory (docs/performance.md).
type TokenCacheConfig struct {
	MaxTokens int   `yaml:"max_tokens"` // default 10,000
	MaxBytes  int64 `yaml:"max_bytes"`  // tokens, keys and bookkeeping; default 16 MiB
}

// AppConfig is an app the agent runs with the identity of a site.
type AppConfig struct {
	Site    string            `yaml:"site"`    // the site's ARM id: /subscriptions/…/providers/Microsoft.Web/sites/NAME
	Name    string            `yaml:"name"`    // default: the last segment of Site
	Command []string          `yaml:"command"` // argv; empty only for StartApp callers that run the process themselves
	Dir     string            `yaml:"dir"`     // working directory; default the agent's
	Env     map[string]string `yaml:"env"`     // added to the agent's environment; the identity variables win
	Sandbox string            `yaml:"sandbox"` // auto, on or off; default the agent's
	// Functions is a function app's script root (host.json and one folder per function) that the
	// agent hosts in place with a function host, as Core Tools' `func start` does, instead of a
	// deployed package; with it, Command is not needed.
	Functions string `yaml:"functions"`
}

// The defaults.
const (
	DefaultListen          = "127.0.0.1:0"
	DefaultMissRate        = 20
	DefaultMissConcurrency = 5
	DefaultHitRate         = 1000
	DefaultMintTimeout     = 10 * time.Second
	DefaultMaxTokens       = 10_000
	DefaultMaxTokenBytes   = 16 << 20
)

var (
	appNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)
	nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// withDefaults returns c with every zero field that has a default set to it.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MissRate == 0 {
		c.MissRate = DefaultMissRate
	}
	if c.MissConcurrency == 0 {
		c.MissConcurrency = DefaultMissConcurrency
	}
	if c.HitRate == 0 {
		c.HitRate = DefaultHitRate
	}
	if c.Sandbox == "" {
		c.Sandbox = SandboxAuto
	}
	if c.TokenCache.MaxTokens == 0 {
		c.TokenCache.MaxTokens = DefaultMaxTokens
	}
	if c.TokenCache.MaxBytes == 0 {
		c.TokenCache.MaxBytes = DefaultMaxTokenBytes
	}
	if c.MintTimeout == 0 {
		c.MintTimeout = DefaultMintTimeout
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	c.ServerURL = strings.TrimSuffix(strings.TrimSpace(c.ServerURL), "/")
	// Absolute, so that the paths handed to apps (the CA bundle) work from any directory.
	if c.StateDir != "" {
		if abs, err := filepath.Abs(c.StateDir); err == nil {
			c.StateDir = abs
		}
	}
	servers := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		servers[i] = strings.TrimSuffix(strings.TrimSpace(s), "/")
	}
	c.Servers = servers
	apps := make([]AppConfig, len(c.Apps))
	for i, a := range c.Apps {
		apps[i] = a.withDefaults()
	}
	c.Apps = apps
	return c
}

func (a AppConfig) withDefaults() AppConfig {
	if a.Name == "" {
		a.Name = a.Site[strings.LastIndexByte(a.Site, '/')+1:]
	}
	if a.Functions != "" {
		if abs, err := filepath.Abs(a.Functions); err == nil {
			a.Functions = abs
		}
	}
	return a
}

// Validate checks c as New would use it (zero values stand for their defaults) and says what is
// wrong in terms of the configuration's keys.
func (c Config) Validate() error {
	c = c.withDefaults()
	checkURL := func(key, v string) error {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return errs.E(errs.Invalid, "%s: %q is not an https URL of the control plane (https://host:port)", key, v)
		}
		return nil
	}
	if c.ServerURL == "" {
		return errs.E(errs.Invalid, "server: the control plane's URL is required (https://host:port)")
	}
	if err := checkURL("server", c.ServerURL); err != nil {
		return err
	}
	for i, v := range c.Servers {
		if err := checkURL(fmt.Sprintf("servers[%d]", i), v); err != nil {
			return err
		}
	}
	switch {
	case c.CAFile == "":
		return errs.E(errs.Invalid, "ca_file: the control plane's CA certificate is required (`lanyard ca export`)")
	case c.StateDir == "":
		return errs.E(errs.Invalid, "state_dir: a directory for the node's key and certificate is required")
	case c.NodeName != "" && !nodeNameRE.MatchString(c.NodeName):
		return errs.E(errs.Invalid, "node_name: %q is not a valid node name (letters, digits, '.', '_', '-'; at most 63)", c.NodeName)
	case c.MissRate < 0 || c.HitRate < 0 || c.MissConcurrency < 0:
		return errs.E(errs.Invalid, "miss_rate, miss_concurrency and hit_rate must be positive")
	case c.TokenCache.MaxTokens < 0:
		return errs.E(errs.Invalid, "token_cache.max_tokens must be positive")
	case c.TokenCache.MaxBytes < 4<<10:
		return errs.E(errs.Invalid, "token_cache.max_bytes: %d is too small to hold a token (at least 4096)", c.TokenCache.MaxBytes)
	}
	if err := checkSandboxMode("sandbox", c.Sandbox); err != nil {
		return err
	}
	for _, d := range c.SandboxDNS {
		if _, _, err := net.SplitHostPort(d); err != nil {
			return errs.E(errs.Invalid, "sandbox_dns: %q is not host:port", d)
		}
	}
	if err := checkListen("listen", c.Listen, false); err != nil {
		return err
	}
	if c.IMDS.Listen != "" {
		if err := checkListen("imds.listen", c.IMDS.Listen, true); err != nil {
			return err
		}
	}
	for key, addr := range map[string]string{"front_door.listen": c.FrontDoor.Listen, "front_door.listen_http": c.FrontDoor.ListenHTTP} {
		// Any address: the front door is what the node's clients reach.
		if _, port, err := net.SplitHostPort(addr); addr != "" && (err != nil || port == "") {
			return errs.E(errs.Invalid, "%s: %q is not host:port", key, addr)
		}
	}
	if c.FrontDoor.RequestTimeout < 0 || c.FrontDoor.MaxBodyBytes < 0 {
		return errs.E(errs.Invalid, "front_door.request_timeout and front_door.max_body_bytes must be positive")
	}
	seen := map[string]bool{}
	for i, a := range c.Apps {
		if err := a.validate(true); err != nil {
			return fmt.Errorf("apps[%d]: %w", i, err)
		}
		if a.Functions != "" && !c.FrontDoor.enabled() {
			return errs.E(errs.Invalid, "apps[%d]: the function app %s is served by the front door: set front_door.listen", i, a.Name)
		}
		if seen[a.Name] {
			return errs.E(errs.Invalid, "apps[%d]: the name %q is used twice", i, a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// servers is every server URL of the control plane, Server first, each once.
func (c Config) servers() []string {
	out := []string{c.ServerURL}
	for _, s := range c.Servers {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// validate checks an app (with defaults applied); needCommand is false for StartApp, which may
// register an identity for a process run elsewhere.
func (a AppConfig) validate(needCommand bool) error {
	if !strings.HasPrefix(a.Site, "/subscriptions/") || !strings.Contains(a.Site, "/providers/") || strings.HasSuffix(a.Site, "/") {
		return errs.E(errs.Invalid, "site: %q is not a resource id (/subscriptions/…/providers/Microsoft.Web/sites/NAME)", a.Site)
	}
	if !appNameRE.MatchString(a.Name) {
		return errs.E(errs.Invalid, "name: %q is not a valid app name (letters, digits, '.', '_', '-'; at most 80)", a.Name)
	}
	if a.Sandbox != "" {
		if err := checkSandboxMode("sandbox", a.Sandbox); err != nil {
			return err
		}
	}
	if a.Functions != "" {
		if len(a.Command) > 0 {
			return errs.E(errs.Invalid, "functions: app %s has a command too; a function app's host is the agent's", a.Name)
		}
		if st, err := os.Stat(a.Functions); err != nil || !st.IsDir() {
			return errs.E(errs.Invalid, "functions: %q is not a directory (the function app's script root, where host.json is)", a.Functions)
		}
	}
	if needCommand && len(a.Command) == 0 && a.Functions == "" {
		return errs.E(errs.Invalid, "command: app %s has no command to run", a.Name)
	}
	for k, v := range a.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return errs.E(errs.Invalid, "env: %q is not a valid environment variable", k)
		}
	}
	return nil
}

// checkSandboxMode accepts auto, on and off.
func checkSandboxMode(key, v string) error {
	switch v {
	case SandboxAuto, SandboxOn, SandboxOff:
		return nil
	}
	return errs.E(errs.Invalid, "%s: %q is not auto, on or off", key, v)
}

// checkListen accepts host:port on loopback and, when linkLocal, on 169.254.0.0/16.
func checkListen(key, addr string, linkLocal bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return errs.E(errs.Invalid, "%s: %q is not host:port", key, addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return errs.E(errs.Invalid, "%s: %q is not an IP address or localhost", key, host)
	case ip.IsLoopback():
		return nil
	case linkLocal && ip.Is4() && ip.IsLinkLocalUnicast():
		return nil
	case linkLocal:
		return errs.E(errs.Invalid, "%s: %s is neither loopback nor link-local (169.254.169.254): the IMDS-style endpoint must answer only this host", key, host)
	}
	return errs.E(errs.Invalid, "%s: %s is not a loopback address: the identity endpoints must answer only this host", key, host)
}
