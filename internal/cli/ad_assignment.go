package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

func newADAssignmentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app-role-assignment",
		Short: "Grant, list and revoke app roles held by service principals",
		Example: `  lanyard ad app-role-assignment create --principal-id $MI --resource-id 00000003-0000-0000-c000-000000000000 --role Directory.Read.All
  lanyard ad app-role-assignment list --principal-id $MI -o table`,
	}
	cmd.AddCommand(newADAssignmentCreateCmd(g), newADAssignmentListCmd(g), newADAssignmentDeleteCmd(g))
	return cmd
}

func newADAssignmentCreateCmd(g *globals) *cobra.Command {
	var principal, resource, roleID, role string
	cmd := &cobra.Command{
		Use:   "create --principal-id ID --resource-id ID (--app-role-id GUID | --role VALUE)",
		Short: "Grant a service principal an app role on a resource's service principal",
		Long: `Grants the principal an app role of the resource (an API's service principal, by object id or
appId). --role names the role by its value, looked up in the resource's app roles; --app-role-id
names it by id (00000000-0000-0000-0000-000000000000 is default access, for a resource without
roles). The next token minted for the principal for that resource carries the role.`,
		Example: `  lanyard ad app-role-assignment create --principal-id $MI \
      --resource-id 00000003-0000-0000-c000-000000000000 --role Group.Read.All
  lanyard ad app-role-assignment create --principal-id $MI --resource-id $API_SP \
      --app-role-id 5b567255-7703-4780-807c-7be8301ae99b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("principal-id", principal); err != nil {
				return err
			}
			if err := checkGUID("resource-id", resource); err != nil {
				return err
			}
			if roleID != "" {
				if err := checkGUID("app-role-id", roleID); err != nil {
					return err
				}
			}
			c := g.client()
			sp, err := resolveSP(cmd.Context(), c, resource)
			if err != nil {
				return fmt.Errorf("resource %s: %w", resource, err)
			}
			if role != "" {
				if roleID, err = roleByValue(sp, role); err != nil {
					return err
				}
			}
			body := client.AppRoleAssignment{PrincipalID: principal, ResourceID: sp.ID, AppRoleID: roleID}
			var out json.RawMessage
			if err := c.Graph(cmd.Context(), http.MethodPost, graphPath(nil, "servicePrincipals", sp.ID, "appRoleAssignedTo"), body, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	cmd.Flags().StringVar(&principal, "principal-id", "", "object id of the service principal that gets the role (required)")
	cmd.Flags().StringVar(&resource, "resource-id", "", "object id or appId of the resource's service principal (required)")
	cmd.Flags().StringVar(&roleID, "app-role-id", "", "id of the app role")
	cmd.Flags().StringVar(&role, "role", "", "value of the app role, such as Directory.Read.All")
	_ = cmd.MarkFlagRequired("principal-id")
	_ = cmd.MarkFlagRequired("resource-id")
	cmd.MarkFlagsMutuallyExclusive("app-role-id", "role")
	cmd.MarkFlagsOneRequired("app-role-id", "role")
	return cmd
}

// roleByValue finds the id of the enabled app role with value on a service principal.
func roleByValue(sp client.ServicePrincipal, value string) (string, error) {
	var values []string
	for _, r := range sp.AppRoles {
		if r.Value == value && r.IsEnabled {
			return r.ID, nil
		}
		if r.IsEnabled {
			values = append(values, r.Value)
		}
	}
	if len(values) == 0 {
		return "", fmt.Errorf("%s (%s) has no app roles: use --app-role-id %s for default access", sp.DisplayName, sp.ID, client.DefaultAccessRoleID)
	}
	return "", fmt.Errorf("%s (%s) has no enabled app role %q; it has: %s", sp.DisplayName, sp.ID, value, strings.Join(values, ", "))
}

func newADAssignmentListCmd(g *globals) *cobra.Command {
	var principal, resource string
	cmd := &cobra.Command{
		Use:   "list (--principal-id ID | --resource-id ID)",
		Short: "List the app roles a principal holds, or those granted on a resource",
		Example: `  lanyard ad app-role-assignment list --principal-id $MI
  lanyard ad app-role-assignment list --resource-id 00000003-0000-0000-c000-000000000000 \
      --query "[].{principal:principalDisplayName, role:appRoleId}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, flag, rel := principal, "principal-id", "appRoleAssignments"
			if resource != "" {
				id, flag, rel = resource, "resource-id", "appRoleAssignedTo"
			}
			if err := checkGUID(flag, id); err != nil {
				return err
			}
			c := g.client()
			sp, err := resolveSP(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			items := []json.RawMessage{}
			if err := c.Graph(cmd.Context(), http.MethodGet, graphPath(nil, "servicePrincipals", sp.ID, rel), nil, &items); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	cmd.Flags().StringVar(&principal, "principal-id", "", "object id or appId of the principal whose roles to list")
	cmd.Flags().StringVar(&resource, "resource-id", "", "object id or appId of the resource whose grants to list")
	cmd.MarkFlagsMutuallyExclusive("principal-id", "resource-id")
	cmd.MarkFlagsOneRequired("principal-id", "resource-id")
	return cmd
}

func newADAssignmentDeleteCmd(g *globals) *cobra.Command {
	var resource, id string
	cmd := &cobra.Command{
		Use:     "delete --resource-id ID --id ASSIGNMENT_ID",
		Short:   "Revoke an app role assignment",
		Example: `  lanyard ad app-role-assignment delete --resource-id $API_SP --id -WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("resource-id", resource); err != nil {
				return err
			}
			if err := checkKey("id", id); err != nil {
				return err
			}
			c := g.client()
			sp, err := resolveSP(cmd.Context(), c, resource)
			if err != nil {
				return err
			}
			return c.Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "servicePrincipals", sp.ID, "appRoleAssignedTo", id), nil, nil)
		},
	}
	cmd.Flags().StringVar(&resource, "resource-id", "", "object id or appId of the resource's service principal (required)")
	cmd.Flags().StringVar(&id, "id", "", "id of the assignment, as list shows it (required)")
	_ = cmd.MarkFlagRequired("resource-id")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}
