package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/config"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/server"
)

func newDevCmd(g *globals) *cobra.Command {
	var port, doorPort int
	var sandboxMode string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Lanyard on this machine for development (loopback, embedded SQLite in ./.lanyard)",
		Long: `Runs a control plane on https://localhost:8443 with everything it needs in ./.lanyard: the SQLite
database, the key-encryption key (created on first start, mode 0600), and ca.pem, the root certificate
clients must trust. A second start on the same directory reuses everything; deleting the directory is a
clean reset.

It also runs a node agent in the same process, enrolled automatically as the node "local" (its state
in ./.lanyard/agent): ` + "`lanyard app run`" + ` and ` + "`lanyard dev env`" + ` register apps with it through its control
socket, ./.lanyard/agent/agent.sock.

The agent's front door serves those apps' sites at https://{name}.sites.localhost:8444 (the control
plane's port + 1; --front-door-port to choose, 0 for none): an app started with ` + "`lanyard app run`" + `
listens on $PORT, as on App Service, and Easy Auth applies as configured (docs/frontdoor.md). curl and
browsers resolve *.localhost to loopback by themselves.`,
		Example: `  lanyard dev
  lanyard dev --port 9443 --token-lifetime 10m
  lanyard dev --front-door-port 0      # no front door`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("port") {
				if port < 1 || port > 65535 {
					return fmt.Errorf("--port must be from 1 to 65535")
				}
				p := strconv.Itoa(port)
				_ = cmd.Flags().Set("listen", net.JoinHostPort("127.0.0.1", p))
				if !cmd.Flags().Changed("public-url") {
					_ = cmd.Flags().Set("public-url", "https://localhost:"+p)
				}
			}
			cfg, err := config.Load(cmd.Flags(), os.Environ(), config.ModeDev)
			if err != nil {
				return err
			}
			if err := prepareDevDir(cfg); err != nil {
				return err
			}
			if err := checkSandboxFlag(sandboxMode); err != nil {
				return err
			}
			door, err := devFrontDoor(cmd, cfg.Listen, doorPort)
			if err != nil {
				return err
			}
			// The server and the agent are tasks of one group: the first error stops both.
			g, ctx := errgroup.WithContext(cmd.Context())
			unrecord := func() {}
			defer func() { unrecord() }()
			g.Go(func() error {
				return runServer(ctx, cfg, cmd, func(srv *server.Server, addr net.Addr) error {
					caFile := filepath.Join(cfg.DataDir, "ca.pem")
					stateDir := devAgentDir(cfg.DataDir) // the console's Log stream reads the dev agent's app logs
					// Apps placed on no node or on the dev agent's are read here; the others' output is
					// asked of their node's agent.
					srv.Console.SetAppLogs(func(name, node string) (string, bool) {
						return agent.LogPath(stateDir, name), node == "" || strings.EqualFold(node, devNode)
					}, 0)
					if err := os.WriteFile(caFile, srv.CA.CertPEM(), 0o644); err != nil {
						return fmt.Errorf("write %s: %w", caFile, err)
					}
					g.Go(func() error {
						return runDevAgent(ctx, cmd, cfg, caFile, sandboxMode, door, func(a *agent.Agent, sock string) {
							rec := devRecord{AdminSocket: absPath(cfg.AdminSocket), DataDir: absPath(cfg.DataDir), PublicURL: cfg.PublicURL, CAFile: absPath(caFile)}
							var err error
							if unrecord, err = writeDevRecord(rec); err != nil {
								fmt.Fprintf(cmd.ErrOrStderr(), "lanyard: the CLI in other directories will not find this server (%v): give it --admin-socket %s\n", err, rec.AdminSocket)
							}
							printDevBanner(cmd, cfg, srv, caFile, a, sock)
						})
					})
					return nil
				})
			})
			return g.Wait()
		},
	}
	config.AddFlags(cmd.Flags())
	cmd.Flags().IntVar(&port, "port", 8443, "port of the control plane on loopback")
	cmd.Flags().IntVar(&doorPort, "front-door-port", 0, "port of the apps' front door on loopback (default: --port + 1, or a free one if that is taken; 0: no front door)")
	cmd.Flags().StringVar(&sandboxMode, "sandbox", "", "the default of the apps of app run: auto (where the host allows it: Linux, root, iproute2), on or off")
	cmd.AddCommand(newDevEnvCmd(g), newDevShellCmd(g))
	return cmd
}

// prepareDevDir creates the data directory and, on the very first start only, the key-encryption
// key. A data directory that has a database but lost its key is an error, never a fresh key: a new
// key could not open what is stored.
func prepareDevDir(cfg config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if cfg.KEK != "" || cfg.KEKFile == "" {
		return nil
	}
	if _, err := os.Stat(cfg.KEKFile); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil // present (or unreadable: loading it will say why)
	}
	if dsn, err := config.ParseDSN(cfg.Store); err == nil && dsn.Driver == "sqlite" {
		if _, err := os.Stat(dsn.Path); err == nil {
			return fmt.Errorf("kek_file %s is missing but the database %s exists: restore the key file (a new key could not open the data), or delete %s for a clean start", cfg.KEKFile, dsn.Path, cfg.DataDir)
		}
	}
	_, err := seal.CreateKEKFile(cfg.KEKFile, rand.Reader)
	return err
}

// absPath is p made absolute (p itself if that fails).
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// devNode is the name of the node `lanyard dev` enrolls its own agent as.
const devNode = "local"

// devAgentDir is the state directory of the agent `lanyard dev` runs in dataDir.
func devAgentDir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// runDevAgent runs the dev agent until ctx is done: it reuses the enrollment in the data
// directory, or enrolls the node "local" with a join token made for it through the admin socket,
// and serves the control socket. ready is called once the agent listens.
func runDevAgent(ctx context.Context, cmd *cobra.Command, cfg config.Config, caFile, sandboxMode, door string, ready func(*agent.Agent, string)) error {
	stateDir := devAgentDir(cfg.DataDir)
	acfg := agent.Config{ServerURL: cfg.PublicURL, CAFile: caFile, StateDir: stateDir, NodeName: devNode, Remember: true, Sandbox: sandboxMode,
		FrontDoor: agent.FrontDoorConfig{Listen: door},
		Log:       newLogger(cfg, cmd).With(slog.String("component", "agent"))}
	if err := forgetStaleDevNode(ctx, cfg, stateDir, acfg.Log); err != nil {
		return err
	}
	a, err := agent.New(ctx, acfg)
	if errs.Is(err, errs.Unauthenticated) { // not enrolled yet, or its certificate expired
		if acfg.JoinTokenFile, err = devJoinToken(ctx, cfg, stateDir); err != nil {
			return err
		}
		a, err = agent.New(ctx, acfg)
		_ = os.Remove(acfg.JoinTokenFile) // used once, whatever happened
	}
	if err != nil {
		return fmt.Errorf("the dev agent: %w", err)
	}
	sock := filepath.Join(stateDir, agent.ControlSocket)
	ln, err := agent.ListenControl(sock)
	if err != nil {
		a.Close()
		return err
	}
	ready(a, sock)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(gctx) })
	g.Go(func() error { return a.ServeControl(gctx, ln) })
	err = g.Wait()
	_ = os.Remove(sock)
	return err
}

// devFrontDoor is the dev agent's front door listener: 127.0.0.1 at --front-door-port, or at the
// control plane's port + 1 when the flag is not given ("" for none). An explicit port that is taken
// is an error; the default one, when taken, gives way to a port the system picks, and the banner
// says which.
func devFrontDoor(cmd *cobra.Command, listen string, port int) (string, error) {
	if cmd.Flags().Changed("front-door-port") {
		switch {
		case port == 0:
			return "", nil
		case port < 0 || port > 65535:
			return "", fmt.Errorf("--front-door-port must be from 1 to 65535, or 0 for no front door")
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := portFree(addr); err != nil {
			return "", fmt.Errorf("the front door cannot listen on %s: %w (choose another with --front-door-port, or 0 for none)", addr, err)
		}
		return addr, nil
	}
	addr := "127.0.0.1:0"
	if _, p, err := net.SplitHostPort(listen); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65535 {
			if next := net.JoinHostPort("127.0.0.1", strconv.Itoa(n+1)); portFree(next) == nil {
				addr = next
			}
		}
	}
	return addr, nil
}

// portFree tells whether addr can be listened on now.
func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// forgetStaleDevNode drops the dev agent's enrollment when this server does not know its node:
// the database was deleted (a new tenant, a new CA) or the node was deleted with
// `lanyard node delete`. Kept, it would hold a certificate nobody accepts.
func forgetStaleDevNode(ctx context.Context, cfg config.Config, stateDir string, log *slog.Logger) error {
	enr, err := agent.ReadEnrollment(stateDir)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err == nil {
		var nodes []client.Node
		if nodes, err = client.AdminSocket(cfg.AdminSocket).ListNodes(ctx); err != nil {
			return fmt.Errorf("the dev agent: listing the server's nodes: %w", err)
		}
		if slices.ContainsFunc(nodes, func(n client.Node) bool { return n.ID == enr.NodeID }) {
			return nil
		}
		log.Warn("the server does not know the dev agent's node (its database was replaced, or the node deleted): enrolling again",
			slog.String("node_id", enr.NodeID))
	} else {
		log.Warn("the dev agent's enrollment is unreadable: enrolling again", slog.Any("error", err))
	}
	return agent.ForgetEnrollment(stateDir)
}

// devJoinToken makes a join token for the dev node through the admin socket and writes it to a
// file (0600) in stateDir, for agent.New to read.
func devJoinToken(ctx context.Context, cfg config.Config, stateDir string) (string, error) {
	jt, err := client.AdminSocket(cfg.AdminSocket).CreateJoinToken(ctx, devNode, "")
	if err != nil {
		return "", fmt.Errorf("a join token for the dev agent: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", fmt.Errorf("the dev agent's state directory: %w", err)
	}
	path := filepath.Join(stateDir, "join-token")
	if err := os.WriteFile(path, []byte(jt.Token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the dev agent's join token: %w", err)
	}
	return path, nil
}

func printDevBanner(cmd *cobra.Command, cfg config.Config, srv *server.Server, caFile string, a *agent.Agent, agentSock string) {
	tid := srv.Default.ID
	issuer := srv.Tokens.Issuer(tid)
	agentURL, bundle := a.URL(), a.CABundle()
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, `Lanyard dev is running.

  control plane   %s
  tenant id       %s
  issuer          %s
  JWKS            %s/%s/discovery/keys
  CA certificate  %s
  admin socket    %s
  data directory  %s
  agent endpoint  %s (node "local")
  agent socket    %s
%s
Try it (the lanyard commands find this server from any directory):
  curl --cacert %s %s.well-known/openid-configuration
  lanyard app run --name hello -- sh -c 'echo $IDENTITY_ENDPOINT'
  eval "$(lanyard dev env --name hello)"    # this shell gets the app's identity

az against this Lanyard (register once; az login --identity works as an app, in app run or dev env):
  REQUESTS_CA_BUNDLE=%s az cloud register --name %s --endpoint-resource-manager %s
  az cloud set --name %s

Stop with Ctrl-C; start again to reuse everything (ports and app identities included).
`, cfg.PublicURL, tid, issuer, cfg.PublicURL, tid, caFile, cfg.AdminSocket, cfg.DataDir,
		agentURL+agent.PathAppService, agentSock, doorLine(a), caFile, issuer,
		bundle, resources.CloudName, strings.TrimRight(cfg.PublicURL, "/"), resources.CloudName)
	printConsoleLink(cmd, srv)
}

// doorLine is the banner's line for the dev agent's front door ("" without one).
func doorLine(a *agent.Agent) string {
	u := a.FrontDoorURL()
	if u == "" {
		return ""
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u, "https://"))
	return fmt.Sprintf("  front door      https://{app}.sites.localhost:%s (apps of app run listen on $PORT)\n", port)
}
