package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/internal/server"
)

// newConsoleCmd is "lanyard console": the web console's sign-in.
func newConsoleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Sign in to the web console",
		Long: `The web console is served by the server itself at {public URL}/console/. There is no password: on the
server's host, an administrator (a user the admin socket accepts) asks for a single-use sign-in link.`,
		Example: `  lanyard console login`,
	}
	cmd.AddCommand(newConsoleLoginCmd(g))
	return cmd
}

// consoleLink is the admin API's answer with a login link.
type consoleLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func newConsoleLoginCmd(g *globals) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "login [--ttl 5m]",
		Short: "Print a single-use link that opens an administrator's console session",
		Long: `Asks the server, through its admin socket, for a sign-in link to the web console and prints it. The
link works once, within --ttl (5 minutes by default, 1 hour at most), and opens an administrator's
session (8 hours) in the tenant of --tenant, or the default tenant. Everything the session changes is
audited with the session as the actor (console:{session id}); the link's creation is audited too.
The link is a credential until it is used: do not paste it where others can read it.`,
		Example: `  lanyard console login
  lanyard console login --ttl 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := map[string]string{}
			if cmd.Flags().Changed("ttl") {
				if ttl <= 0 || ttl > time.Hour {
					return fmt.Errorf("--ttl must be from 1s to 1h")
				}
				in["ttl"] = ttl.String()
			}
			var out consoleLink
			if err := g.client().Do(cmd.Context(), http.MethodPost, "/admin/v1/console/login-links", in, &out); err != nil {
				return err
			}
			if !cmd.Flags().Changed("output") && g.query == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "Open this link in a browser (it works once, until %s):\n", out.ExpiresAt.Local().Format(time.Kitchen))
				_, err := fmt.Fprintln(cmd.OutOrStdout(), out.URL)
				return err
			}
			return g.print(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 5*time.Minute, "how long the link works")
	return cmd
}

// printConsoleLink prints the web console's address and a sign-in link (lanyard dev's banner).
func printConsoleLink(cmd *cobra.Command, srv *server.Server) {
	w := cmd.OutOrStdout()
	link, err := srv.Console.NewLoginLink(cmd.Context(), "", "lanyard-dev", 0)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "lanyard: no console sign-in link: %v (run lanyard console login)\n", err)
		return
	}
	fmt.Fprintf(w, "\nWeb console (this link signs you in once, for 5 minutes; then: lanyard console login):\n  %s\n", link.URL)
}
