package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the audit log", Example: `  lanyard audit list --limit 20 -o table
  lanyard audit verify`}
	var after int64
	var limit int
	list := &cobra.Command{
		Use:     "list",
		Short:   "List audit events in order",
		Example: `  lanyard audit list --after 100 --limit 50 --query "[].{seq:seq, action:action, actor:actor, target:target}" -o table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			evs, err := g.client().ListAudit(cmd.Context(), after, limit)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), evs)
		},
	}
	list.Flags().Int64Var(&after, "after", 0, "list events after this sequence number")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many events (1-1000)")
	verify := &cobra.Command{
		Use:     "verify",
		Short:   "Check the audit chain: every changed, removed or inserted event is reported",
		Long:    "Walks the whole audit chain on the server and reports where it is broken. Exits 1 when it is.",
		Example: `  lanyard audit verify --query ok`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := g.client().VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			if err := g.print(cmd.OutOrStdout(), v); err != nil {
				return err
			}
			if !v.OK {
				return fmt.Errorf("audit chain is broken in %d place(s); first: event %d: %s", len(v.Problems), v.Problems[0].Seq, v.Problems[0].Reason)
			}
			return nil
		},
	}
	cmd.AddCommand(list, verify)
	return cmd
}
