package cli

import (
	"encoding/json"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

// defaultLocation is the location of a resource group created without --location. Lanyard runs
// on your own machines: locations are labels, kept and shown as ARM keeps them.
const defaultLocation = "local"

// newGroupCmd is "lanyard group": resource groups, like "az group".
func newGroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage resource groups",
		Long: `Manages resource groups through Lanyard's management API (the ARM subset), on the admin socket of
the server on this host, with an administrator's authority. Commands act in the tenant's default
subscription unless --subscription names another.`,
		Example: `  lanyard group create --name rg
  lanyard group list --query "[].name" -o tsv`,
	}
	a := newARMCmd(g, cmd)
	cmd.AddCommand(newGroupCreateCmd(a), newGroupListCmd(a), newGroupShowCmd(a), newGroupDeleteCmd(a))
	return cmd
}

func newGroupCreateCmd(a *armCmd) *cobra.Command {
	var name, location string
	var tags []string
	cmd := &cobra.Command{
		Use:   "create --name NAME [--location LOCATION]",
		Short: "Create a resource group, or update its tags",
		Example: `  lanyard group create --name rg
  lanyard group create -n rg -l local --tags env=dev team=payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkResourceGroup("name", name); err != nil {
				return err
			}
			t, err := parseTags(tags)
			if err != nil {
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
			body := client.Resource{Location: location, Tags: t}
			var out json.RawMessage
			if err := c.ARM(cmd.Context(), http.MethodPut, client.ResourceGroupPath(sub, name), client.APIVersionResourceGroups, body, &out); err != nil {
				return err
			}
			return printRaw(a.g, cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the resource group (required)")
	cmd.Flags().StringVarP(&location, "location", "l", defaultLocation, "location of the resource group")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags, KEY=VALUE, space- or comma-separated")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newGroupListCmd(a *armCmd) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the resource groups of the subscription",
		Example: `  lanyard group list
  lanyard group list --query "[].{name:name, location:location}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.check(); err != nil {
				return err
			}
			c := a.g.client()
			sub, err := a.sub(cmd.Context(), c)
			if err != nil {
				return err
			}
			items, err := listRaw(cmd.Context(), c, client.SubscriptionPath(sub)+"/resourcegroups", client.APIVersionResourceGroups)
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), items)
		},
	}
}

func newGroupShowCmd(a *armCmd) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "show --name NAME",
		Short:   "Show a resource group",
		Example: `  lanyard group show --name rg --query id -o tsv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkResourceGroup("name", name); err != nil {
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
			out, err := getRaw(cmd.Context(), c, client.ResourceGroupPath(sub, name), client.APIVersionResourceGroups)
			if err != nil {
				return err
			}
			return printRaw(a.g, cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the resource group (required)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newGroupDeleteCmd(a *armCmd) *cobra.Command {
	var name string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete --name NAME [--yes]",
		Short: "Delete a resource group and every resource in it",
		Long: `Deletes a resource group and every resource in it. A system-assigned identity dies with its
resource, and with it every role assignment and app role it held; a user-assigned identity in the
group is deleted and detached from every resource it was attached to. Asks first unless --yes.`,
		Example: `  lanyard group delete --name rg --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkResourceGroup("name", name); err != nil {
				return err
			}
			if err := a.check(); err != nil {
				return err
			}
			if err := confirm(cmd, yes, "Delete resource group "+name+" and every resource in it?"); err != nil {
				return err
			}
			c := a.g.client()
			sub, err := a.sub(cmd.Context(), c)
			if err != nil {
				return err
			}
			return c.ARM(cmd.Context(), http.MethodDelete, client.ResourceGroupPath(sub, name), client.APIVersionResourceGroups, nil, nil)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the resource group (required)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
