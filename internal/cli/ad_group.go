package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/guid"
)

func newADGroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage security groups of service principals",
		Example: `  lanyard ad group create --display-name deployers --mail-nickname deployers
  lanyard ad group member add --group deployers --member-id $MI`,
	}
	var name, nick, desc, filter string
	create := &cobra.Command{
		Use:     "create --display-name NAME --mail-nickname NICK",
		Short:   "Create a security group",
		Example: `  lanyard ad group create --display-name deployers --mail-nickname deployers --description "CI identities"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := client.Group{DisplayName: name, MailNickname: nick, Description: desc, SecurityEnabled: true}
			var out json.RawMessage
			if err := g.client().Graph(cmd.Context(), http.MethodPost, graphPath(nil, "groups"), body, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	create.Flags().StringVar(&name, "display-name", "", "display name of the group (required)")
	create.Flags().StringVar(&nick, "mail-nickname", "", "mail nickname of the group (required, as in Graph)")
	create.Flags().StringVar(&desc, "description", "", "description of the group")
	_ = create.MarkFlagRequired("display-name")
	_ = create.MarkFlagRequired("mail-nickname")

	list := &cobra.Command{
		Use:   "list",
		Short: "List groups",
		Example: `  lanyard ad group list -o table
  lanyard ad group list --display-name deploy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cond string
			if name != "" {
				cond = "startswith(displayName," + odataString(name) + ")"
			}
			items := []json.RawMessage{}
			if err := g.client().Graph(cmd.Context(), http.MethodGet, graphPath(filterQuery(filter, cond), "groups"), nil, &items); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	list.Flags().StringVar(&filter, "filter", "", "OData $filter")
	list.Flags().StringVar(&name, "display-name", "", "only groups whose display name starts with this")

	var group string
	show := &cobra.Command{
		Use:     "show --group ID|NAME",
		Short:   "Show a group, by object id or display name",
		Example: `  lanyard ad group show --group deployers`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGroup(group); err != nil {
				return err
			}
			c := g.client()
			id, err := resolveGroup(cmd.Context(), c, group)
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.Graph(cmd.Context(), http.MethodGet, graphPath(nil, "groups", id), nil, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	show.Flags().StringVar(&group, "group", "", "object id or display name of the group (required)")
	_ = show.MarkFlagRequired("group")

	del := &cobra.Command{
		Use:     "delete --group ID|NAME",
		Short:   "Delete a group",
		Example: `  lanyard ad group delete --group deployers`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGroup(group); err != nil {
				return err
			}
			c := g.client()
			id, err := resolveGroup(cmd.Context(), c, group)
			if err != nil {
				return err
			}
			return c.Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "groups", id), nil, nil)
		},
	}
	del.Flags().StringVar(&group, "group", "", "object id or display name of the group (required)")
	_ = del.MarkFlagRequired("group")

	cmd.AddCommand(create, list, show, del, newADGroupMemberCmd(g))
	return cmd
}

func newADGroupMemberCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "Add, remove and list a group's members",
		Example: `  lanyard ad group member add --group deployers --member-id $MI
  lanyard ad group member list --group deployers --query "[].displayName" -o tsv`,
	}
	var group, member string
	add := &cobra.Command{
		Use:     "add --group ID|NAME --member-id ID",
		Short:   "Add a service principal to a group",
		Example: `  lanyard ad group member add --group deployers --member-id 9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGroup(group); err != nil {
				return err
			}
			if err := checkGUID("member-id", member); err != nil {
				return err
			}
			c := g.client()
			id, err := resolveGroup(cmd.Context(), c, group)
			if err != nil {
				return err
			}
			// As az and the Graph SDK write it: the member named by its Graph URL.
			ref := map[string]string{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + member}
			return c.Graph(cmd.Context(), http.MethodPost, graphPath(nil, "groups", id, "members", "$ref"), ref, nil)
		},
	}
	remove := &cobra.Command{
		Use:     "remove --group ID|NAME --member-id ID",
		Short:   "Remove a member from a group",
		Example: `  lanyard ad group member remove --group deployers --member-id 9f8e7d6c-5b4a-4392-8172-6e5d4c3b2a10`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGroup(group); err != nil {
				return err
			}
			if err := checkGUID("member-id", member); err != nil {
				return err
			}
			c := g.client()
			id, err := resolveGroup(cmd.Context(), c, group)
			if err != nil {
				return err
			}
			return c.Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "groups", id, "members", member, "$ref"), nil, nil)
		},
	}
	for _, c := range []*cobra.Command{add, remove} {
		c.Flags().StringVar(&group, "group", "", "object id or display name of the group (required)")
		c.Flags().StringVar(&member, "member-id", "", "object id of the member (required)")
		_ = c.MarkFlagRequired("group")
		_ = c.MarkFlagRequired("member-id")
	}
	list := &cobra.Command{
		Use:     "list --group ID|NAME",
		Short:   "List a group's members",
		Example: `  lanyard ad group member list --group deployers -o table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGroup(group); err != nil {
				return err
			}
			c := g.client()
			id, err := resolveGroup(cmd.Context(), c, group)
			if err != nil {
				return err
			}
			items := []json.RawMessage{}
			if err := c.Graph(cmd.Context(), http.MethodGet, graphPath(nil, "groups", id, "members"), nil, &items); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	list.Flags().StringVar(&group, "group", "", "object id or display name of the group (required)")
	_ = list.MarkFlagRequired("group")
	cmd.AddCommand(add, remove, list)
	return cmd
}

func checkGroup(v string) error {
	if v == "" {
		return fmt.Errorf("--group must name a group by object id or display name")
	}
	return nil
}

// resolveGroup returns the object id of a group named by object id or by display name (which
// must then name exactly one group).
func resolveGroup(ctx context.Context, c *client.Client, group string) (string, error) {
	if guid.Valid(group) {
		return group, nil
	}
	var found []client.Group
	q := url.Values{"$filter": {"displayName eq " + odataString(group)}}
	if err := c.Graph(ctx, http.MethodGet, graphPath(q, "groups"), nil, &found); err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no group is named %q", group)
	case 1:
		return found[0].ID, nil
	}
	return "", fmt.Errorf("%d groups are named %q: give the object id", len(found), group)
}
