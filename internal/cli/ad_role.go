package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

// directoryRoles are the directory roles Lanyard knows, by name, with Microsoft's template ids
// (which are also their roleDefinitionId).
var directoryRoles = []struct{ name, id string }{
	{"Global Administrator", "62e90394-69f5-4237-9190-012177145e10"},
	{"Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"},
	{"Cloud Application Administrator", "158c047a-c907-4556-b7ef-446551a6b5f7"},
	{"Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814"},
	{"Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"},
}

// roleTemplateID resolves a directory role given by name (any case) or template id.
func roleTemplateID(role string) (string, error) {
	for _, r := range directoryRoles {
		if strings.EqualFold(role, r.name) || strings.EqualFold(role, r.id) {
			return r.id, nil
		}
	}
	names := make([]string, len(directoryRoles))
	for i, r := range directoryRoles {
		names[i] = r.name
	}
	return "", fmt.Errorf("--role %q is not a directory role Lanyard knows: use one of %s, or its template id", role, strings.Join(names, ", "))
}

func newADRoleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "role",
		Short:   "Manage directory roles held by service principals",
		Example: `  lanyard ad role assignment create --role "Application Administrator" --assignee $SP`,
	}
	asg := &cobra.Command{
		Use:   "assignment",
		Short: "Assign, list and remove directory roles",
		Long: `Assigns directory roles to service principals, for the whole tenant. Lanyard knows Global
Administrator, Application Administrator, Cloud Application Administrator, Privileged Role
Administrator and Directory Readers.`,
		Example: `  lanyard ad role assignment list --assignee $SP -o table`,
	}
	var role, assignee, id string
	create := &cobra.Command{
		Use:   "create --role NAME|TEMPLATE_ID --assignee ID|APPID",
		Short: "Assign a directory role to a service principal",
		Example: `  lanyard ad role assignment create --role "Cloud Application Administrator" --assignee $SP
  lanyard ad role assignment create --role 62e90394-69f5-4237-9190-012177145e10 --assignee $SP`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tid, err := roleTemplateID(role)
			if err != nil {
				return err
			}
			if err := checkGUID("assignee", assignee); err != nil {
				return err
			}
			c := g.client()
			sp, err := resolveSP(cmd.Context(), c, assignee)
			if err != nil {
				return fmt.Errorf("assignee %s: %w", assignee, err)
			}
			body := client.RoleAssignment{RoleDefinitionID: tid, PrincipalID: sp.ID, DirectoryScopeID: "/"}
			var out json.RawMessage
			if err := c.Graph(cmd.Context(), http.MethodPost, graphPath(nil, "roleManagement", "directory", "roleAssignments"), body, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	create.Flags().StringVar(&role, "role", "", "the role's name or template id (required)")
	create.Flags().StringVar(&assignee, "assignee", "", "object id or appId of the service principal (required)")
	_ = create.MarkFlagRequired("role")
	_ = create.MarkFlagRequired("assignee")

	list := &cobra.Command{
		Use:   "list [--assignee ID]",
		Short: "List directory role assignments",
		Example: `  lanyard ad role assignment list
  lanyard ad role assignment list --assignee $SP --query "[].roleDefinitionId" -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if assignee != "" {
				if err := checkGUID("assignee", assignee); err != nil {
					return err
				}
			}
			c := g.client()
			var q url.Values
			if assignee != "" {
				sp, err := resolveSP(cmd.Context(), c, assignee)
				if err != nil {
					return fmt.Errorf("assignee %s: %w", assignee, err)
				}
				q = url.Values{"$filter": {"principalId eq " + odataString(sp.ID)}}
			}
			items := []json.RawMessage{}
			if err := c.Graph(cmd.Context(), http.MethodGet, graphPath(q, "roleManagement", "directory", "roleAssignments"), nil, &items); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	list.Flags().StringVar(&assignee, "assignee", "", "only the assignments of this service principal (object id or appId)")

	del := &cobra.Command{
		Use:     "delete --id ID",
		Short:   "Remove a directory role assignment",
		Example: `  lanyard ad role assignment delete --id $ASSIGNMENT_ID`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkKey("id", id); err != nil {
				return err
			}
			return g.client().Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "roleManagement", "directory", "roleAssignments", id), nil, nil)
		},
	}
	del.Flags().StringVar(&id, "id", "", "id of the assignment, as list shows it (required)")
	_ = del.MarkFlagRequired("id")

	asg.AddCommand(create, list, del)
	cmd.AddCommand(asg)
	return cmd
}
