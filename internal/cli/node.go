package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// newNodeCmd is "lanyard node": the machines that run an agent.
func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage nodes: the machines whose agent hands out tokens",
		Long: `Manages nodes through the admin socket of the server on this host. A node enrolls once with a
single-use join token and becomes a Microsoft.HybridCompute/machines resource with a
system-assigned identity; its agent then serves tokens to the apps placed on it.`,
		Example: `  lanyard node join-token create --name node1 > node1.token
  lanyard node list -o table`,
	}
	jt := &cobra.Command{
		Use:     "join-token",
		Short:   "Make single-use join tokens that enroll a node",
		Example: `  lanyard node join-token create --name node1 --ttl 1h > node1.token`,
	}
	jt.AddCommand(newJoinTokenCreateCmd(g))
	cmd.AddCommand(jt, newNodeListCmd(g), newNodeDeleteCmd(g))
	return cmd
}

func newJoinTokenCreateCmd(g *globals) *cobra.Command {
	var name string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --name NODE [--ttl 15m]",
		Short: "Make a single-use join token for a node (printed once)",
		Long: `Makes a join token that enrolls one node called NODE once, within --ttl. The server keeps only its
hash: the token is printed once, alone on its line, so that it can go straight into a file for
` + "`lanyard agent --join-token-file`" + `. With -o json (or --query) the whole object is printed: the token, the
node, the tenant and when it expires.`,
		Example: `  lanyard node join-token create --name node1 > node1.token
  lanyard node join-token create --name node1 --ttl 1h -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkNode("name", name); err != nil {
				return err
			}
			if ttl < 0 {
				return fmt.Errorf("--ttl must be positive")
			}
			ttlArg := ""
			if cmd.Flags().Changed("ttl") {
				ttlArg = ttl.String()
			}
			jt, err := g.client().CreateJoinToken(cmd.Context(), name, ttlArg)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("output") && g.query == "" {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), jt.Token)
				return err
			}
			return g.print(cmd.OutOrStdout(), jt)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the node (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", 15*time.Minute, "how long the token may be used")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newNodeListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the enrolled nodes",
		Example: `  lanyard node list
  lanyard node list --query "[].{name:name, machine:machineResourceId}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := g.client().ListNodes(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), nodes)
		},
	}
}

func newNodeDeleteCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "delete --name NODE",
		Short: "Forget a node: its certificates are no longer accepted",
		Long: `Forgets a node: its agent's certificates are no longer accepted, so it can mint no more tokens. Its
machine resource stays. To bring the machine back, make a new join token and enroll it again.`,
		Example: `  lanyard node delete --name node1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkNode("name", name); err != nil {
				return err
			}
			return g.client().DeleteNode(cmd.Context(), name)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the node (required)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
