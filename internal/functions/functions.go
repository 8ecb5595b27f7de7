package functions

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanyardhq/lanyard/internal/errs"
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

	Log *slog.Logger // the host's own log; default slog.Default()
	// FunctionLog receives the invocation lines and the functions' own log lines, one per
	// line, in the log stream's format (`2024-11-19T19:12:32Z   [Information]   Executing ...`).
	FunctionLog io.Writer
	// Registerer receives the per-function metrics; nil: not registered.
	Registerer prometheus.Registerer
	Now        func() time.Time
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
	cfg Config
}

// Start indexes cfg.Root, starts the workers and the timers, and returns when the host is ready
// to serve (every worker answers) or failed to start. ctx bounds the start only; Close stops.
func Start(ctx context.Context, cfg Config) (*Host, error) {
	return nil, errs.E(errs.Unavailable, "the function host is not built yet")
}

// Functions returns the functions of the app, indexed or refused, by name.
func (h *Host) Functions() []Function { return nil }

// ServeHTTP serves the HTTP triggers (under the route prefix); anything else is 404.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "the function host is not built yet", http.StatusServiceUnavailable)
}

// Close stops the timers, lets the invocations in flight finish (until ctx ends), and stops
// the workers.
func (h *Host) Close(ctx context.Context) error { return nil }
