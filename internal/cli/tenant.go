package cli

import (
	"github.com/spf13/cobra"
)

func newTenantCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants (directories)", Example: `  lanyard tenant create --name contoso
  lanyard tenant list -o table`}
	var name string
	create := &cobra.Command{
		Use:     "create --name NAME",
		Short:   "Create a tenant",
		Example: `  lanyard tenant create --name contoso --query id -o tsv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.client().CreateTenant(cmd.Context(), name)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), t)
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name of the new tenant (required)")
	_ = create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tenants",
		Example: `  lanyard tenant list --query "[?default].id" -o tsv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := g.client().ListTenants(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ts)
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}
