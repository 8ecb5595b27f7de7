package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/lanyardhq/lanyard/internal/agent"
)

// defaultAgentStateDir is the agent's state directory when neither --state-dir nor the config
// file names one: /var/lib/lanyard-agent for root, else under $XDG_STATE_HOME (~/.local/state).
func defaultAgentStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/lanyard-agent"
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "lanyard-agent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "lanyard-agent")
	}
	return "lanyard-agent"
}

// loadAgentConfig reads the agent's YAML configuration; unknown keys are errors.
func loadAgentConfig(path string) (agent.Config, error) {
	var cfg agent.Config
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func newAgentCmd() *cobra.Command {
	var configFile, server, joinTokenFile, caFile, stateDir, nodeName, listen, logLevel, sandboxMode string
	cmd := &cobra.Command{
		Use:   "agent --server URL --ca-file FILE [--join-token-file FILE] [--state-dir DIR] [--config agent.yaml]",
		Short: "Run the node agent: host-local token endpoints for this machine and the apps it runs",
		Long: `Runs the node agent on this machine until SIGINT or SIGTERM. On its first start it enrolls the node
with a single-use join token (` + "`lanyard node join-token create`" + ` on the server host): it makes a key that
never leaves the machine and gets a client certificate, which it renews by itself; later starts reuse
the state directory and do not read the join token again.

It serves tokens to workloads on loopback: the App Service-style endpoint for the apps it runs (each
gets IDENTITY_ENDPOINT and IDENTITY_HEADER) and the IMDS-style endpoint for the node's own identity.
Each app gets a new IDENTITY_HEADER at every start of the agent and every restart of its process,
and the endpoint listens on a free port unless --listen names one: set listen: for a fixed address.
(The agent that ` + "`lanyard dev`" + ` runs differs: it keeps its port and the headers of ` + "`lanyard app run`" + ` and
` + "`lanyard dev env`" + ` across restarts, so that a shell given them keeps working.)

Settings come from the YAML file of --config (keys: server, ca_file, join_token_file, state_dir,
node_name, listen, imds.listen, apps, sandbox, sandbox_dns, miss_rate, miss_concurrency, hit_rate,
token_cache.max_tokens, token_cache.max_bytes, front_door); flags override it. Apps run in sandboxes
where Azure's addresses are Lanyard (sandbox: auto, the default, where the host allows it: Linux, root,
iproute2; see docs/sandbox.md). front_door gives the sites of the node's apps an HTTPS front door
with App Service Authentication (docs/frontdoor.md).
The state directory defaults to /var/lib/lanyard-agent for root, else
$XDG_STATE_HOME/lanyard-agent (~/.local/state/lanyard-agent).`,
		Example: `  # on the server host
  lanyard node join-token create --name node1 > node1.token
  lanyard ca export > ca.pem
  # on node1 (copy ca.pem and node1.token there)
  lanyard agent --server https://lanyard.example.com:8443 --ca-file ca.pem --join-token-file node1.token
  lanyard agent --config /etc/lanyard/agent.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg agent.Config
			if configFile != "" {
				var err error
				if cfg, err = loadAgentConfig(configFile); err != nil {
					return err
				}
			}
			set := func(flag string, v string, dst *string) {
				if cmd.Flags().Changed(flag) {
					*dst = v
				}
			}
			set("server", server, &cfg.ServerURL)
			set("ca-file", caFile, &cfg.CAFile)
			set("join-token-file", joinTokenFile, &cfg.JoinTokenFile)
			set("state-dir", stateDir, &cfg.StateDir)
			set("node-name", nodeName, &cfg.NodeName)
			set("listen", listen, &cfg.Listen)
			set("sandbox", sandboxMode, &cfg.Sandbox)
			if cfg.StateDir == "" {
				cfg.StateDir = defaultAgentStateDir()
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			cfg.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAgent(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file of the agent's settings (flags override it)")
	f.StringVar(&server, "server", "", "URL of the control plane, https://host:port")
	f.StringVar(&caFile, "ca-file", "", "PEM file of Lanyard's CA (from \"lanyard ca export\" on the server host)")
	f.StringVar(&joinTokenFile, "join-token-file", "", "file holding a join token; read only when the node is not enrolled yet")
	f.StringVar(&stateDir, "state-dir", "", "directory of the node's key, certificate and app logs (default: /var/lib/lanyard-agent as root, else ~/.local/state/lanyard-agent)")
	f.StringVar(&nodeName, "node-name", "", "the node's name at enrollment (default: the host name)")
	f.StringVar(&listen, "listen", "", "loopback host:port of the token endpoints (default 127.0.0.1:0, a free port)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&sandboxMode, "sandbox", "", "run apps in sandboxes where Azure's addresses are Lanyard: auto (default: where the host allows it), on or off")
	return cmd
}

// runAgent sets the agent up (enrolling when needed) and runs it until ctx is done.
func runAgent(ctx context.Context, cfg agent.Config) error {
	a, err := agent.New(ctx, cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
