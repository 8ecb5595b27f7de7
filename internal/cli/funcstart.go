package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/functions"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// newFuncCmd is "lanyard func", like Core Tools' "func": run a function app project locally.
func newFuncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "func",
		Short: "Run a function app project on this machine, as Core Tools' `func` does",
		Example: `  cd myfunctions && lanyard func start
  lanyard func start --name orders --port 7072`,
	}
	cmd.AddCommand(newFuncStartCmd(g))
	return cmd
}

// localSettings is local.settings.json (functions.md §1.2).
type localSettings struct {
	IsEncrypted bool              `json:"IsEncrypted"`
	Values      map[string]string `json:"Values"`
	Host        struct {
		LocalHTTPPort int `json:"LocalHttpPort"`
	} `json:"Host"`
}

func readLocalSettings(dir string) (localSettings, error) {
	var s localSettings
	raw, err := os.ReadFile(filepath.Join(dir, "local.settings.json"))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("local.settings.json: %w", err)
	}
	if s.IsEncrypted {
		return s, fmt.Errorf("local.settings.json is encrypted (IsEncrypted: true): decrypt it with Core Tools first (func settings decrypt)")
	}
	return s, nil
}

func newFuncStartCmd(g *globals) *cobra.Command {
	var d devApp
	var port int
	var root string
	cmd := &cobra.Command{
		Use:   "start [--name NAME [--resource-group GROUP] [--identities ID...]] [--port 7071] [--script-root DIR]",
		Short: "Run the function app in the current directory on http://127.0.0.1:7071",
		Long: `Runs the function app project in the current directory (or --script-root) in place, as Core Tools'
` + "`func start`" + ` does: host.json, one folder per function with its function.json (or the functions
a Node v4 app registers), the Values of local.settings.json as app settings, on plain HTTP at
127.0.0.1:PORT (--port, else local.settings.json Host.LocalHttpPort, else 7071). authLevel is not
enforced, as locally with Core Tools.

With --name, the app runs with the managed identity of the site NAME under ` + "`lanyard dev`" + `, as
` + "`lanyard app run`" + ` gives it (the site is created and placed on the dev node if missing): the
workers get IDENTITY_ENDPOINT and the rest, and keyVault input bindings read their secrets with
that identity. Without --name the app has no identity.`,
		Example: `  lanyard func start
  lanyard func start --name orders --port 7072
  lanyard func start -n api --identities deployer --script-root ./functions`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" {
				root = "."
			}
			abs, err := filepath.Abs(root)
			if err != nil {
				return err
			}
			ls, err := readLocalSettings(abs)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("port") && ls.Host.LocalHTTPPort > 0 {
				port = ls.Host.LocalHTTPPort
			}
			if port <= 0 || port > 65535 {
				return fmt.Errorf("--port must be between 1 and 65535, not %d", port)
			}
			return funcStart(cmd, g, &d, abs, port, ls.Values)
		},
	}
	d.addFlags(cmd)
	cmd.Flags().Lookup("name").Usage = "run with the managed identity of the site NAME under `lanyard dev` (created if missing); default: no identity"
	delete(cmd.Flags().Lookup("name").Annotations, cobra.BashCompOneRequiredFlag) // optional here
	cmd.Flags().IntVar(&port, "port", 7071, "local port (127.0.0.1)")
	cmd.Flags().StringVar(&root, "script-root", "", "the function app's directory (default: the current directory)")
	cmd.Flags().StringVar(&d.sandbox, "sandbox", "", "run the workers in the app's sandbox (with --name): auto, on or off; default the agent's")
	return cmd
}

func funcStart(cmd *cobra.Command, g *globals, d *devApp, root string, port int, settings map[string]string) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	name := d.name
	if name == "" {
		name = filepath.Base(root)
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !slices.Contains(shadowedIdentityVars, k) {
			env[k] = v
		}
	}
	cfg := functions.Config{
		Name: name, HostName: fmt.Sprintf("localhost:%d", port), Root: root, Settings: settings,
		FunctionLog: out, Log: nil,
	}
	if d.name != "" {
		a := &armCmd{g: g}
		if err := a.check(); err != nil {
			return err
		}
		if err := checkSandboxFlag(d.sandbox); err != nil {
			return err
		}
		if err := ensureFunctionApp(ctx, a, d); err != nil {
			return err
		}
		reg, _, err := d.register(ctx, a, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		for k, v := range reg.Env {
			env[k] = v
		}
		if sb := reg.Sandbox; sb != nil {
			ns := &sandbox.Netns{Path: sb.Netns}
			cfg.Command = func(argv []string) (*exec.Cmd, error) { return sandbox.Command(ns, sb.Binds, argv) }
			cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := ns.Do(func() error {
					var err error
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			}
		}
		// keyVault bindings: the host reads with the identity, from outside the sandbox, at
		// Lanyard's vault host names.
		c := g.client()
		cfg.Secrets = &functions.MSISecretReader{
			Endpoint: reg.HostEnv["IDENTITY_ENDPOINT"], Header: reg.HostEnv["IDENTITY_HEADER"],
			Client: hostClient(reg.HostEnv),
			VaultURL: func(vault string) (string, error) {
				host, err := vaultHostByName(context.Background(), a, c, vault)
				if err != nil {
					return "", err
				}
				return "https://" + host, nil
			},
		}
	}
	cfg.Env = agent.Env(env).List()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("listening on 127.0.0.1:%d: %w (choose another with --port)", port, err)
	}
	defer ln.Close()
	startCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	h, err := functions.Start(startCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	printFunctions(out, h, port)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	if cerr := h.Close(sctx); err == nil && !errors.Is(cerr, context.Canceled) {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ensureFunctionApp creates the site d.name as a function app when it does not exist (register
// would make a web app), and fixes d.group to the site's group.
func ensureFunctionApp(ctx context.Context, a *armCmd, d *devApp) error {
	if err := checkName(d.name); err != nil {
		return err
	}
	if d.group != "" {
		if err := checkResourceGroup("resource-group", d.group); err != nil {
			return err
		}
	}
	c := a.g.client()
	sub, err := a.sub(ctx, c)
	if err != nil {
		return err
	}
	if d.group, err = siteGroup(ctx, c, sub, d.name, d.group); err != nil {
		return err
	}
	location, err := ensureGroup(ctx, c, sub, d.group)
	if err != nil {
		return err
	}
	path := client.ResourcePath(sub, d.group, client.TypeSites, d.name)
	err = c.ARM(ctx, http.MethodGet, path, client.APIVersionSites, nil, nil)
	if !client.IsNotFound(err) {
		return err
	}
	return c.ARM(ctx, http.MethodPut, path, client.APIVersionSites, sitePut{Location: location, Kind: functionAppKind.kind}, nil)
}

// hostClient is the keyVault reader's HTTP client: it trusts the CA bundle the agent gives
// processes outside the sandbox (SSL_CERT_FILE, ...) besides the system's roots, and sends the
// names under .localhost (the dev server's vault host names, NAME.vault.localhost) to loopback,
// as RFC 6761 reserves them.
func hostClient(env agent.Env) *http.Client {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE"} {
		if f := env[k]; f != "" {
			if pem, err := os.ReadFile(f); err == nil && pool.AppendCertsFromPEM(pem) {
				break
			}
		}
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	local := func(host string) bool {
		return strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 32,
		// A proxy from the environment for a remote server, never for the names under
		// .localhost (Go's own bypass covers localhost itself only).
		Proxy: func(r *http.Request) (*url.URL, error) {
			if local(r.URL.Hostname()) {
				return nil, nil
			}
			return http.ProxyFromEnvironment(r)
		},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && local(host) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// printFunctions lists the functions as Core Tools does: name, methods and URL of HTTP
// triggers, the trigger of the others, and the errors of the refused ones.
func printFunctions(w io.Writer, h *functions.Host, port int) {
	fmt.Fprintf(w, "\nFunctions:\n\n")
	prefix := h.RoutePrefix()
	if prefix != "" {
		prefix += "/"
	}
	for _, f := range h.Functions() {
		switch {
		case f.Error != "":
			fmt.Fprintf(w, "\t%s: error: %s\n\n", f.Name, f.Error)
		case f.Trigger == "httpTrigger":
			methods := "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS"
			if len(f.Methods) > 0 {
				methods = strings.Join(f.Methods, ",")
			}
			fmt.Fprintf(w, "\t%s: [%s] http://localhost:%d/%s%s\n\n", f.Name, methods, port, prefix, f.Route)
		default:
			fmt.Fprintf(w, "\t%s: %s\n\n", f.Name, f.Trigger)
		}
	}
}
