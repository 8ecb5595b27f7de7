package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

// Version is set at build time with -ldflags "-X github.com/lanyardhq/lanyard/internal/cli.Version=…".
var Version = ""

// globals are the flags every client command shares.
type globals struct {
	adminSocket string
	output      string
	query       string
	tenant      string // --tenant of the commands that act in a tenant
	out         *output
	choice      *socketChoice // the admin socket, once chosen
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	root, _ := newRoot()
	return root
}

func newRoot() (*cobra.Command, *globals) {
	g := &globals{}
	root := &cobra.Command{
		Use:   "lanyard",
		Short: "Managed identities and short-lived tokens for your own machines",
		Long: `Lanyard gives every workload an identity and short-lived tokens, so that no application stores a
secret. It speaks Azure's managed-identity protocols, so code written with the Azure SDKs runs
against it unchanged.

Start here:
  lanyard dev          run a control plane on https://localhost:8443 (embedded SQLite in ./.lanyard)
  lanyard tenant list  list tenants (talks to the server on this host through its admin socket)`,
		Example: `  lanyard dev
  lanyard tenant list -o table
  lanyard ad sp list --all --query "[].{name:displayName, appId:appId}" -o table`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.adminSocket, "admin-socket", "", "admin socket of the server on this host (default: ./.lanyard/admin.sock if it exists, else the running lanyard dev wherever it was started, else /var/lib/lanyard/admin.sock; env LANYARD_ADMIN_SOCKET)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "json", "output format: "+strings.Join(outputFormats, ", "))
	root.PersistentFlags().StringVar(&g.query, "query", "", "JMESPath query applied to the result before it is printed (see https://jmespath.org)")
	root.SetFlagErrorFunc(flagError)
	root.SuggestionsMinimumDistance = 2
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		out, err := newOutput(g.output, g.query)
		g.out = out
		return err
	}
	root.AddCommand(
		newVersionCmd(g),
		newServerCmd(g),
		newDevCmd(g),
		newAgentCmd(),
		newNodeCmd(g),
		newAppCmd(g),
		newCACmd(g),
		newTenantCmd(g),
		newAuditCmd(g),
		newADCmd(g),
		newRestCmd(g),
		newTokenCmd(g),
		newGroupCmd(g),
		newIdentityCmd(g),
		newWebAppCmd(g),
		newFunctionAppCmd(g),
		newFuncCmd(g),
		newRoleCmd(g),
		newResourceCmd(g),
		newKeyVaultCmd(g),
		newConsoleCmd(g),
	)
	requireKnownSubcommands(root)
	return root, g
}

// requireKnownSubcommands makes every command that only groups others refuse an unknown
// subcommand with the nearest names (cobra does this for the root only, and prints the group's
// help with exit status 0 for "lanyard group lst").
func requireKnownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireKnownSubcommands(sub)
	}
	if c == c.Root() || c.Runnable() || !c.HasSubCommands() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
			msg += ": did you mean " + strings.Join(near, " or ") + "?"
		} else {
			msg += " (see " + cmd.CommandPath() + " --help)"
		}
		return errors.New(msg)
	}
}

// Main runs the command tree and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, g := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var code exitCode
		if errors.As(err, &code) { // `app run`: its command's exit status, already explained by it
			return int(code)
		}
		fmt.Fprintln(stderr, "lanyard:", oneLine(g.explainNoServer(err)))
		return 1
	}
	return 0
}

// client returns a client of the server on this host, through its admin socket, acting in the
// tenant of --tenant if the command has it.
func (g *globals) client() *client.Client {
	c := client.AdminSocket(g.socketPath())
	c.Tenant = g.tenant
	return c
}

// socketPath is the admin socket the CLI talks to (chooseSocket in find.go says how it is found).
func (g *globals) socketPath() string { return g.chooseSocket().path }

// print writes v through --query in the chosen output format.
func (g *globals) print(w io.Writer, v any) error {
	if g.out == nil {
		out, err := newOutput(g.output, g.query)
		if err != nil {
			return err
		}
		g.out = out
	}
	return g.out.print(w, v)
}

// Commit and BuildDate are set at build time too (-X …cli.Commit=… -X …cli.BuildDate=…); without
// them the version command reads what the Go toolchain recorded (vcs.revision) and the
// executable's modification time.
var Commit, BuildDate = "", ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// buildInfo is what `lanyard version` prints.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	BuildDate string `json:"buildDate"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version(), Commit: Commit, BuildDate: BuildDate, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.Commit != "" && Commit == "" {
			b.Commit += " (with uncommitted changes)"
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown (built without version control information)"
	}
	if b.BuildDate == "" {
		b.BuildDate = "unknown"
		if exe, err := os.Executable(); err == nil {
			if st, err := os.Stat(exe); err == nil {
				b.BuildDate = st.ModTime().UTC().Format(time.RFC3339)
			}
		}
	}
	return b
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of lanyard, its commit, Go version and build date",
		Long: `Prints the version, the commit it was built from, the Go version and platform, and the build date
(the date given at build time, else the executable's modification time). -o json prints them as JSON.`,
		Example: `  lanyard version
  lanyard version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			if cmd.Flags().Changed("output") || g.query != "" {
				return g.print(cmd.OutOrStdout(), b)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "lanyard %s\n  commit  %s\n  go      %s %s\n  built   %s\n",
				b.Version, b.Commit, b.GoVersion, b.Platform, b.BuildDate)
			return err
		},
	}
}
