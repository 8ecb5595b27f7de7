package cli

import (
	"encoding/json"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

// newIdentityCmd is "lanyard identity": user-assigned managed identities, like "az identity".
func newIdentityCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Manage user-assigned managed identities",
		Long: `Manages user-assigned managed identities (Microsoft.ManagedIdentity/userAssignedIdentities): each is
a resource of its own with a ManagedIdentity service principal in the directory, which can be
attached to many resources ("lanyard webapp identity assign --identities ID") and outlives them.`,
		Example: `  lanyard identity create --name deployer --resource-group rg
  lanyard identity show -n deployer -g rg --query principalId -o tsv`,
	}
	a := newARMCmd(g, cmd)
	cmd.AddCommand(newIdentityCreateCmd(a), newIdentityListCmd(a), newIdentityShowCmd(a), newIdentityDeleteCmd(a))
	return cmd
}

// identityFlags are --name and --resource-group of a command on one identity.
type identityFlags struct{ name, group string }

func (f *identityFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.name, "name", "n", "", "name of the identity (required)")
	cmd.Flags().StringVarP(&f.group, "resource-group", "g", "", "resource group of the identity (required)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("resource-group")
}

func (f *identityFlags) check() error {
	if err := checkName(f.name); err != nil {
		return err
	}
	return checkResourceGroup("resource-group", f.group)
}

func newIdentityCreateCmd(a *armCmd) *cobra.Command {
	var f identityFlags
	var location string
	var tags []string
	cmd := &cobra.Command{
		Use:   "create --name NAME --resource-group GROUP",
		Short: "Create a user-assigned identity",
		Long: `Creates a user-assigned identity and its service principal (servicePrincipalType ManagedIdentity,
alternativeNames isExplicit=True and the identity's ARM id). The answer carries its principalId
(the service principal's object id, for role assignments) and clientId (the appId workloads select
it by). The location defaults to the group's.`,
		Example: `  lanyard identity create --name deployer --resource-group rg
  lanyard identity create -n deployer -g rg --query "{id:id, clientId:clientId, principalId:principalId}"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			if err := a.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c := a.g.client()
			sub, err := a.sub(ctx, c)
			if err != nil {
				return err
			}
			if location == "" {
				if location, err = groupLocation(ctx, c, sub, f.group); err != nil {
					return err
				}
			}
			var out json.RawMessage
			body := client.Resource{Location: location, Tags: t}
			if err := c.ARM(ctx, http.MethodPut, client.ResourcePath(sub, f.group, client.TypeIdentities, f.name), client.APIVersionIdentities, body, &out); err != nil {
				return err
			}
			return printIdentity(a.g, cmd, out)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&location, "location", "l", "", "location of the identity (default: the group's)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags, KEY=VALUE, space- or comma-separated")
	return cmd
}

func newIdentityListCmd(a *armCmd) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "list [--resource-group GROUP]",
		Short: "List user-assigned identities, of a group or of the whole subscription",
		Example: `  lanyard identity list
  lanyard identity list -g rg --query "[].{name:name, clientId:clientId}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := a.listOfType(cmd.Context(), group, client.TypeIdentities, client.APIVersionIdentities)
			if err != nil {
				return err
			}
			out := make([]json.RawMessage, len(items))
			for i, it := range items {
				out[i] = flattenIdentity(it)
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVarP(&group, "resource-group", "g", "", "only the identities of this resource group")
	return cmd
}

func newIdentityShowCmd(a *armCmd) *cobra.Command {
	var f identityFlags
	cmd := &cobra.Command{
		Use:   "show --name NAME --resource-group GROUP",
		Short: "Show a user-assigned identity",
		Example: `  lanyard identity show --name deployer --resource-group rg
  lanyard identity show -n deployer -g rg --query clientId -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if err := a.check(); err != nil {
				return err
			}
			c := a.g.client()
			sub, err := a.sub(cmd.Context(), c)
			if err != nil {
				return err
			}
			out, err := getRaw(cmd.Context(), c, client.ResourcePath(sub, f.group, client.TypeIdentities, f.name), client.APIVersionIdentities)
			if err != nil {
				return err
			}
			return printIdentity(a.g, cmd, out)
		},
	}
	f.add(cmd)
	return cmd
}

func newIdentityDeleteCmd(a *armCmd) *cobra.Command {
	var f identityFlags
	cmd := &cobra.Command{
		Use:   "delete --name NAME --resource-group GROUP",
		Short: "Delete a user-assigned identity",
		Long: `Deletes a user-assigned identity and its service principal, with every role assignment and app
role it held; it is detached from every resource it was attached to.`,
		Example: `  lanyard identity delete --name deployer --resource-group rg`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if err := a.check(); err != nil {
				return err
			}
			c := a.g.client()
			sub, err := a.sub(cmd.Context(), c)
			if err != nil {
				return err
			}
			return c.ARM(cmd.Context(), http.MethodDelete, client.ResourcePath(sub, f.group, client.TypeIdentities, f.name), client.APIVersionIdentities, nil, nil)
		},
	}
	f.add(cmd)
	return cmd
}

func printIdentity(g *globals, cmd *cobra.Command, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	return g.print(cmd.OutOrStdout(), flattenIdentity(raw))
}

// flattenIdentity lifts an identity's properties (clientId, principalId, tenantId) to the top
// level, as az prints identities: "az identity show --query principalId" works unchanged. Any
// other shape is returned as it is.
func flattenIdentity(raw json.RawMessage) json.RawMessage {
	out, err := flattenProperties(raw, nil)
	if err != nil {
		return raw
	}
	return out
}
