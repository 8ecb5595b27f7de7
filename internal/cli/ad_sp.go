package cli

import (
	"encoding/json"
	"net/http"

	"github.com/spf13/cobra"
)

func newADSPCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sp",
		Short: "Manage service principals: applications' and managed identities' presence in the tenant",
		Example: `  lanyard ad sp create --id $APP_ID
  lanyard ad sp show --id 00000003-0000-0000-c000-000000000000 --query "appRoles[].{value:value, id:id}" -o table`,
	}
	cmd.AddCommand(newADSPCreateCmd(g), newADSPListCmd(g), newADSPShowCmd(g), newADSPDeleteCmd(g))
	return cmd
}

func newADSPCreateCmd(g *globals) *cobra.Command {
	var appID string
	cmd := &cobra.Command{
		Use:   "create --id APPID",
		Short: "Create the service principal of an application",
		Long: `Creates the service principal of an application, by the application's appId. It offers the
application's app roles for assignment, and tokens can be minted for its identifier URIs.`,
		Example: `  lanyard ad sp create --id 1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", appID); err != nil {
				return err
			}
			var out json.RawMessage
			if err := g.client().Graph(cmd.Context(), http.MethodPost, graphPath(nil, "servicePrincipals"), map[string]string{"appId": appID}, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	cmd.Flags().StringVar(&appID, "id", "", "appId of the application (required)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newADSPListCmd(g *globals) *cobra.Command {
	var filter, name string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List service principals",
		Example: `  lanyard ad sp list --all --query "[].{name:displayName, type:servicePrincipalType, id:id}" -o table
  lanyard ad sp list --filter "servicePrincipalType eq 'ManagedIdentity'" --all
  lanyard ad sp list --display-name web-`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cond string
			if name != "" {
				cond = "startswith(displayName," + odataString(name) + ")"
			}
			items, err := listCollection(cmd.Context(), g.client(), graphPath(filterQuery(filter, cond), "servicePrincipals"), all, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "OData $filter, such as \"appId eq '…'\" or \"servicePrincipalType eq 'ManagedIdentity'\"")
	cmd.Flags().StringVar(&name, "display-name", "", "only service principals whose display name starts with this")
	cmd.Flags().BoolVar(&all, "all", false, "list every page, following @odata.nextLink (default: the first page only)")
	return cmd
}

func newADSPShowCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "show --id ID|APPID",
		Short: "Show a service principal, by object id or appId",
		Long:  `Shows a service principal. --id is tried as an object id first, then as an appId, as az does.`,
		Example: `  lanyard ad sp show --id 00000003-0000-0000-c000-000000000000
  lanyard ad sp show --id $MI_PRINCIPAL_ID --query alternativeNames`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", id); err != nil {
				return err
			}
			var out json.RawMessage
			if err := g.client().ServicePrincipal(cmd.Context(), id, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "object id or appId of the service principal (required)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newADSPDeleteCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:     "delete --id ID|APPID",
		Short:   "Delete a service principal and its app role assignments",
		Example: `  lanyard ad sp delete --id $APP_ID`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", id); err != nil {
				return err
			}
			c := g.client()
			sp, err := resolveSP(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			return c.Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "servicePrincipals", sp.ID), nil, nil)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "object id or appId of the service principal (required)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}
