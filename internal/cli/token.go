package cli

import (
	"github.com/spf13/cobra"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "token",
		Short:   "Tokens for tests and debugging",
		Example: `  lanyard token mint --principal $MI --resource https://vault.azure.net`,
	}
	var principal, resource, tenant string
	mint := &cobra.Command{
		Use:   "mint --principal ID --resource RESOURCE",
		Short: "Mint an access token for a service principal (administrators only)",
		Long: `Mints an access token for a service principal, as the token endpoints would for that identity (its
roles on the resource included), and prints it in the shape IMDS answers. For tests and debugging;
the mint is recorded in the audit log (never the token).`,
		Example: `  lanyard token mint --principal 9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10 --resource https://graph.microsoft.com
  lanyard token mint --principal $MI --resource api://$APP_ID --query access_token -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("principal", principal); err != nil {
				return err
			}
			if tenant != "" {
				if err := checkGUID("tenant", tenant); err != nil {
					return err
				}
			}
			tok, err := g.client().MintToken(cmd.Context(), principal, resource, tenant)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), tok)
		},
	}
	mint.Flags().StringVar(&principal, "principal", "", "object id of the service principal (required)")
	mint.Flags().StringVar(&resource, "resource", "", "the resource (or scope ending in /.default) the token is for (required)")
	mint.Flags().StringVar(&tenant, "tenant", "", "id of the tenant (default: the default tenant)")
	_ = mint.MarkFlagRequired("principal")
	_ = mint.MarkFlagRequired("resource")
	cmd.AddCommand(mint)
	return cmd
}
