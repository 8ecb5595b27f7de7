package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// exitCode is an error that only sets the process's exit code: `app run` exits as its command did.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// shadowedIdentityVars are dropped from the environment `app run` passes on: each would make the
// SDKs pick another managed-identity source than the agent's (azure-wire.md §4.1).
var shadowedIdentityVars = []string{"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE"}

// devApp is an app registered with the dev agent: who it is and where the agent keeps its log.
type devApp struct {
	name, group string
	ids         []string
	agentSocket string // default: agent/agent.sock beside the admin socket
	sandbox     string // auto, on or off; "" for the agent's default
}

func (d *devApp) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&d.name, "name", "n", "", "name of the app: a site of that name is created if missing (required)")
	cmd.Flags().StringVarP(&d.group, "resource-group", "g", "", `resource group of the site (created if missing); default: the group of the site NAME when there is one, else "apps"`)
	cmd.Flags().StringSliceVar(&d.ids, "identities", nil, "user-assigned identities to attach too, by ARM id or by name in the group (the system-assigned one is always on)")
	cmd.Flags().StringVar(&d.agentSocket, "agent-socket", "", "control socket of the dev agent (default: agent/agent.sock beside the admin socket)")
	_ = cmd.MarkFlagRequired("name")
}

// controlSocket is the dev agent's control socket.
func (d *devApp) controlSocket(g *globals) string {
	if d.agentSocket != "" {
		return d.agentSocket
	}
	return filepath.Join(devAgentDir(filepath.Dir(g.socketPath())), agent.ControlSocket)
}

// register makes sure the site exists with its system-assigned identity (and the identities of
// --identities), places it on the dev node and registers it with the dev agent; it returns the
// agent's answer (the environment the app's process needs, its sandbox) and the agent's state
// directory.
func (d *devApp) register(ctx context.Context, a *armCmd, stderr io.Writer) (agent.RegisterResponse, string, error) {
	var none agent.RegisterResponse
	if err := checkName(d.name); err != nil {
		return none, "", err
	}
	if d.group != "" {
		if err := checkResourceGroup("resource-group", d.group); err != nil {
			return none, "", err
		}
	}
	want, err := parseIdentities(d.ids)
	if err != nil {
		return none, "", err
	}
	sock := d.controlSocket(a.g)
	ctl := unixClient(sock)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err != nil {
		return none, "", fmt.Errorf("no dev agent answers on %s (beside the admin socket chosen by %s): start `lanyard dev`, or name its data directory with LANYARD_DATA_DIR or its socket with --agent-socket", sock, a.g.chooseSocket().why)
	} else {
		c.Close()
	}
	c := a.g.client()
	sub, err := a.sub(ctx, c)
	if err != nil {
		return none, "", err
	}
	if d.group, err = siteGroup(ctx, c, sub, d.name, d.group); err != nil {
		return none, "", err
	}
	location, err := ensureGroup(ctx, c, sub, d.group)
	if err != nil {
		return none, "", err
	}
	path := client.ResourcePath(sub, d.group, client.TypeSites, d.name)
	var site client.Resource
	var body sitePut
	err = c.ARM(ctx, http.MethodGet, path, client.APIVersionSites, nil, &site)
	switch {
	case err == nil:
		body = putBody(site)
		if n := siteNode(site.Properties); n != "" && n != devNode {
			fmt.Fprintf(stderr, "lanyard: moving the site %s from the node %s to %s\n", d.name, n, devNode)
		}
	case client.IsNotFound(err):
		body = sitePut{Location: location, Kind: webAppKind.kind}
	default:
		return none, "", err
	}
	users := userIdentities(site.Identity)
	for _, u := range want.users(sub, d.group) {
		if !containsFold(users, u) {
			users = append(users, u)
		}
	}
	body.Identity = wantIdentity(true, users)
	if body.Properties, err = withNode(body.Properties, devNode); err != nil {
		return none, "", err
	}
	if err := c.ARM(ctx, http.MethodPut, path, client.APIVersionSites, body, nil); err != nil {
		return none, "", err
	}
	reqBody, _ := json.Marshal(agent.RegisterRequest{Site: path, Name: d.name, Sandbox: d.sandbox})
	resp, err := ctl.Post("http://agent/apps", "application/json", bytes.NewReader(reqBody))
	if err != nil {
		return none, "", fmt.Errorf("no dev agent answers on %s: start `lanyard dev` first (%v)", sock, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return none, "", fmt.Errorf("the dev agent refused the app (%d): %s", resp.StatusCode, e.Error.Message)
	}
	var out agent.RegisterResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return none, "", fmt.Errorf("the dev agent's answer: %w", err)
	}
	return out, filepath.Dir(sock), nil
}

// defaultAppGroup is the resource group of the sites `app run` and `dev env` create.
const defaultAppGroup = "apps"

// siteGroup decides the resource group of the site name: the group asked for, unless a site of
// that name exists in another group only (site names are unique in Azure, and the agent serves one
// app of each name, so a second one would be a stray copy with an identity of its own); without
// one, the group of the existing site, else defaultAppGroup.
func siteGroup(ctx context.Context, c *client.Client, sub, name, asked string) (string, error) {
	sites, err := listRaw(ctx, c, client.SubscriptionPath(sub)+"/providers/"+client.TypeSites, client.APIVersionSites)
	if err != nil {
		return "", err
	}
	var groups []string
	for _, raw := range sites {
		var s struct{ ID, Name string }
		if json.Unmarshal(raw, &s) != nil || !strings.EqualFold(s.Name, name) {
			continue
		}
		id, err := arm.Parse(s.ID)
		if g := id.ResourceGroupName(); err == nil && g != "" && !containsFold(groups, g) {
			groups = append(groups, g)
		}
	}
	switch {
	case asked != "" && (len(groups) == 0 || containsFold(groups, asked)):
		return asked, nil
	case asked != "":
		return "", fmt.Errorf("a site named %s exists in the resource group %s, not in %s: use -g %s (site names are unique, as in Azure)", name, strings.Join(groups, ", "), asked, groups[0])
	case len(groups) == 0:
		return defaultAppGroup, nil
	case len(groups) == 1:
		return groups[0], nil
	}
	return "", fmt.Errorf("sites named %s exist in the resource groups %s: say which with -g", name, strings.Join(groups, ", "))
}

// siteNode is the node a site's properties place it on, or "".
func siteNode(props json.RawMessage) string {
	var p struct {
		Lanyard struct {
			Node string `json:"node"`
		} `json:"lanyard"`
	}
	_ = json.Unmarshal(props, &p)
	return p.Lanyard.Node
}

// ensureGroup creates the resource group if it does not exist, and returns its location (the
// default location for the resources made in it, as in az).
func ensureGroup(ctx context.Context, c *client.Client, sub, group string) (string, error) {
	loc, err := groupLocation(ctx, c, sub, group)
	if !client.IsNotFound(err) {
		if err == nil && loc == "" {
			loc = defaultLocation
		}
		return loc, err
	}
	err = c.ARM(ctx, http.MethodPut, client.ResourceGroupPath(sub, group), client.APIVersionResourceGroups, client.Resource{Location: defaultLocation}, nil)
	return defaultLocation, err
}

// unixClient is an HTTP client whose every connection goes to the unix socket path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

// newAppCmd is "lanyard app": apps run on this machine under the dev agent.
func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Run a command with an app's managed identity, under `lanyard dev`",
		Example: `  lanyard app run --name hello -- sh -c 'echo $IDENTITY_ENDPOINT'
  lanyard app run --name api --identities deployer -- go run ./cmd/api`,
	}
	a := newARMCmd(g, cmd)
	cmd.AddCommand(newAppRunCmd(a))
	return cmd
}

func newAppRunCmd(a *armCmd) *cobra.Command {
	var d devApp
	cmd := &cobra.Command{
		Use:   "run --name NAME [--resource-group GROUP] [--identities ID...] -- COMMAND [ARG...]",
		Short: "Run a command with an app's identity (the site is created and placed on the dev node if missing)",
		Long: `Runs COMMAND as the app NAME, with the identity of the site NAME (a web app in --resource-group;
by default the group of the existing site of that name, else "apps"): the group and the site are
created if missing, the site's system-assigned
identity is turned on and --identities attached, it is placed on the node "local" and registered
with the agent of ` + "`lanyard dev`" + ` (which must be running, on the same data directory).

COMMAND gets IDENTITY_ENDPOINT, IDENTITY_HEADER, MSI_ENDPOINT, MSI_SECRET and a CA bundle over the
current environment, so Azure SDK code gets tokens with ManagedIdentityCredential or
DefaultAzureCredential. Its stdin is passed on; its stdout and stderr are passed on and also kept in
the app's log (` + "`lanyard webapp log tail --name NAME`" + `). SIGTERM, SIGHUP and SIGUSR1/2 are passed on;
SIGINT and SIGQUIT too, except from a terminal, which sends them to COMMAND itself. lanyard exits
with COMMAND's exit code (128+N when a signal N ended it).`,
		Example: `  lanyard app run --name hello -- sh -c 'curl -s -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://management.azure.com/"'
  lanyard app run -n api -g team --identities deployer -- go run ./cmd/api`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("no command to run: lanyard app run --name NAME -- COMMAND [ARG...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.check(); err != nil {
				return err
			}
			if err := checkSandboxFlag(d.sandbox); err != nil {
				return err
			}
			reg, stateDir, err := d.register(cmd.Context(), a, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runWithEnv(cmd, args, reg, stateDir, d.name)
		},
	}
	d.addFlags(cmd)
	cmd.Flags().StringVar(&d.sandbox, "sandbox", "", "run COMMAND in the app's sandbox (Azure's addresses are Lanyard): auto, on or off; default the agent's (auto: on where the host allows it)")
	return cmd
}

// checkSandboxFlag checks --sandbox.
func checkSandboxFlag(v string) error {
	switch v {
	case "", agent.SandboxAuto, agent.SandboxOn, agent.SandboxOff:
		return nil
	}
	return fmt.Errorf("--sandbox must be auto, on or off, not %q", v)
}

// newDevShellCmd is "lanyard dev shell".
func newDevShellCmd(g *globals) *cobra.Command {
	var d devApp
	cmd := &cobra.Command{
		Use:   "shell --name NAME [--resource-group GROUP] [-- COMMAND [ARG...]]",
		Short: "Open a shell (or run COMMAND) inside an app's sandbox, as the app sees the world",
		Long: `Opens your shell ($SHELL, else /bin/sh), or runs COMMAND, inside the sandbox of the app NAME (registered
with the agent of ` + "`lanyard dev`" + ` as ` + "`lanyard app run`" + ` does): graph.microsoft.com, management.azure.com,
login.microsoftonline.com and NAME.vault.azure.net are Lanyard there, 169.254.169.254 answers with
the app's own identities, and the app's identity variables are set; everything else is as on the host.
A test runner or a REPL started there sees exactly what the app sees. It needs a host that allows
sandboxes (Linux, root, iproute2): the error says what is missing.`,
		Example: `  lanyard dev shell --name api
  lanyard dev shell -n api -- curl -s -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com/"
  lanyard dev shell -n api -- npm test`,
		RunE: func(cmd *cobra.Command, args []string) error {
			a := &armCmd{g: g}
			if err := a.check(); err != nil {
				return err
			}
			if len(args) == 0 {
				sh := os.Getenv("SHELL")
				if sh == "" {
					sh = "/bin/sh"
				}
				args = []string{sh}
			}
			d.sandbox = agent.SandboxOn
			reg, stateDir, err := d.register(cmd.Context(), a, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if reg.Sandbox == nil {
				return fmt.Errorf("the app %s runs without a sandbox (it was registered so before): restart lanyard dev, or use another --name", d.name)
			}
			return runWithEnv(cmd, args, reg, stateDir, d.name)
		},
	}
	d.addFlags(cmd)
	cmd.Flags().StringVar(&g.tenant, "tenant", "", "id of the tenant to act in (default: the default tenant)")
	return cmd
}

// runWithEnv runs args with env over the current environment, passing stdin, stdout, stderr
// and signals on, and returns its exit status as an exitCode. The output is also appended to
// the app's log in the agent's state directory.
func runWithEnv(cmd *cobra.Command, args []string, reg agent.RegisterResponse, stateDir, name string) error {
	env := reg.Env
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !slices.Contains(shadowedIdentityVars, k) {
			vars[k] = v
		}
	}
	for k, v := range env {
		vars[k] = v
	}
	c := exec.Command(args[0], args[1:]...)
	if sb := reg.Sandbox; sb != nil {
		var err error
		if c, err = sandbox.Command(&sandbox.Netns{Path: sb.Netns}, sb.Binds, args); err != nil {
			return err
		}
	}
	c.Env = agent.Env(vars).List()
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if lw, err := agent.OpenAppLog(stateDir, name); err == nil {
		defer lw.Close()
		c.Stdout, c.Stderr = teeWriter{c.Stdout, lw}, teeWriter{c.Stderr, lw}
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "lanyard: the app's output is not kept in its log: %v\n", err)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return err
	}
	fromTerminal := isTerminal(c.Stdin)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	cancelled := cmd.Context().Done() // a command cancelled from within (Main's context): the app is asked to stop
	for {
		select {
		case err := <-done:
			return exitStatus(err)
		case <-cancelled:
			cancelled = nil
			_ = c.Process.Signal(syscall.SIGTERM)
		case s := <-sigs:
			if fromTerminal && (s == syscall.SIGINT || s == syscall.SIGQUIT) {
				continue // the terminal sent it to the whole foreground process group
			}
			_ = c.Process.Signal(s)
		}
	}
}

// exitStatus turns what Wait returned into the exit code lanyard must exit with.
func exitStatus(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitCode(128 + int(ws.Signal()))
	}
	return exitCode(ee.ExitCode())
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// teeWriter writes to w and, at best effort, to log: a log that fails never stops the output.
type teeWriter struct{ w, log io.Writer }

func (t teeWriter) Write(p []byte) (int, error) {
	_, _ = t.log.Write(p)
	return t.w.Write(p)
}

// newDevEnvCmd is "lanyard dev env".
func newDevEnvCmd(g *globals) *cobra.Command {
	var d devApp
	var subscription string
	cmd := &cobra.Command{
		Use:   "env --name NAME [--resource-group GROUP] [--identities ID...]",
		Short: "Print the export lines that give a shell an app's identity",
		Long: `Registers the app NAME with the agent of the running ` + "`lanyard dev`" + ` as ` + "`lanyard app run`" + ` does (the
site is created and placed on the node "local" if missing) and prints its environment as shell
export lines. They hold the app's identity header: keep them out of files others can read.`,
		Example: `  eval "$(lanyard dev env --name hello)"
  lanyard dev env -n api -g team --identities deployer > .env.sh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a := &armCmd{g: g, subscription: subscription}
			if err := a.check(); err != nil {
				return err
			}
			reg, _, err := d.register(cmd.Context(), a, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, kv := range reg.HostEnv.List() {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
			}
			_, err = io.WriteString(cmd.OutOrStdout(), b.String())
			return err
		},
	}
	d.addFlags(cmd)
	cmd.Flags().StringVar(&subscription, "subscription", "", "id or name of the subscription (default: the tenant's default subscription)")
	cmd.Flags().StringVar(&g.tenant, "tenant", "", "id of the tenant to act in (default: the default tenant)")
	return cmd
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// logCmd is "webapp log" and "functionapp log".
func (s *siteCmd) logCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "log",
		Short:   "Read the output of a " + s.k.label + " kept by the agent of this machine",
		Example: `  lanyard ` + s.k.noun + ` log tail --name ` + s.k.name + ` --follow`,
	}
	var name, group, stateDir string
	var follow, access bool
	var lines int
	tail := &cobra.Command{
		Use:   "tail --name NAME [--resource-group RG] [--follow] [--lines N] [--state-dir DIR]",
		Short: "Print the end of a " + s.k.label + "'s log, and with --follow what it writes next",
		Long: `Prints the last lines of the ` + s.k.label + `'s stdout and stderr, as the agent on this machine keeps them (a
bounded log: the current file and one older one), and with --follow what comes next until
interrupted. The agent is ` + "`lanyard dev`" + `'s (agent/ beside the admin socket) unless --state-dir names
another agent's state directory. --resource-group is accepted as az takes it (az ` + s.k.noun + ` log tail
-g RG -n NAME); an agent keeps its apps' logs by name, one app of a name per agent.`,
		Example: `  lanyard ` + s.k.noun + ` log tail --name ` + s.k.name + `
  lanyard ` + s.k.noun + ` log tail -n ` + s.k.name + ` --lines 200 --follow --state-dir /var/lib/lanyard-agent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkName(name); err != nil {
				return err
			}
			if group != "" {
				if err := arm.ValidateResourceName(group); err != nil {
					return fmt.Errorf("--resource-group: %s", errs.Message(err))
				}
			}
			if lines < 0 {
				return fmt.Errorf("--lines must be 0 or more")
			}
			dir := stateDir
			if dir == "" {
				dir = devAgentDir(filepath.Dir(s.g.socketPath()))
				if _, err := os.Stat(dir); err != nil {
					dir = defaultAgentStateDir()
				}
			}
			path := agent.LogPath(dir, name)
			if access {
				path = agent.AccessLogPath(dir, name) // the front door's access log of the site
			}
			return tailLog(cmd.Context(), cmd.OutOrStdout(), path, lines, follow)
		},
	}
	tail.Flags().StringVarP(&name, "name", "n", "", "name of the "+s.k.label+" (required)")
	tail.Flags().StringVarP(&group, "resource-group", "g", "", "resource group of the "+s.k.label+" (as az takes it; the log is found by name)")
	tail.Flags().StringVar(&stateDir, "state-dir", "", "state directory of the agent (default: lanyard dev's, else the agent's default)")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what is written, until interrupted")
	tail.Flags().IntVar(&lines, "lines", 20, "how many of the last lines to print")
	tail.Flags().BoolVar(&access, "access", false, "the front door's access log of the "+s.k.label+" (one line per request) instead of its output")
	_ = tail.MarkFlagRequired("name")
	cmd.AddCommand(tail)
	return cmd
}

// tailLog prints the last n lines of the log at path (and its older file) and, with follow,
// what is appended next, until ctx is done.
func tailLog(ctx context.Context, w io.Writer, path string, n int, follow bool) error {
	old, _ := os.ReadFile(path + ".1")
	cur, err := os.ReadFile(path)
	if err != nil && !(follow && errors.Is(err, os.ErrNotExist)) {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no log at %s: the app has written nothing on this agent yet", path)
		}
		return err
	}
	if _, err := w.Write(lastLines(append(old, cur...), n)); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	offset := int64(len(cur))
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if st, err := f.Stat(); err == nil && st.Size() < offset {
			offset = 0 // rotated: the new file from its start
		}
		if _, err := f.Seek(offset, io.SeekStart); err == nil {
			m, err := io.Copy(w, f)
			offset += m
			if err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
	}
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
