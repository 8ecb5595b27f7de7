package cli

import (
	"context"
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

// assignmentSelectors are the flags that name app role assignments, the same for create, list and
// delete: the principal, the resource (object id or appId, both), the role (by value or id).
type assignmentSelectors struct {
	principal, resource, roleID, role string
}

func (a *assignmentSelectors) add(cmd *cobra.Command, principalUse, resourceUse string) {
	cmd.Flags().StringVar(&a.principal, "principal-id", "", "object id or appId of the service principal that "+principalUse)
	cmd.Flags().StringVar(&a.resource, "resource-id", "", "object id or appId of the resource's service principal "+resourceUse)
	cmd.Flags().StringVar(&a.roleID, "app-role-id", "", "id of the app role")
	cmd.Flags().StringVar(&a.role, "role", "", "value of the app role, such as Directory.Read.All")
	cmd.MarkFlagsMutuallyExclusive("app-role-id", "role")
}

// check checks the format of the flags given.
func (a *assignmentSelectors) check() error {
	for _, f := range []struct{ flag, v string }{{"principal-id", a.principal}, {"resource-id", a.resource}, {"app-role-id", a.roleID}} {
		if f.v != "" {
			if err := checkGUID(f.flag, f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolved are the selectors' objects, read from the directory.
type resolved struct {
	principal, resource *client.ServicePrincipal
	roleID              string // "" when no role was named
}

// resolve reads the principal and the resource named, and the role's id on the resource.
func (a *assignmentSelectors) resolve(ctx context.Context, c *client.Client) (resolved, error) {
	var out resolved
	if a.principal != "" {
		sp, err := resolveSPHint(ctx, c, "--principal-id", a.principal)
		if err != nil {
			return out, err
		}
		out.principal = &sp
	}
	if a.resource != "" {
		sp, err := resolveSPHint(ctx, c, "--resource-id", a.resource)
		if err != nil {
			return out, err
		}
		out.resource = &sp
	}
	out.roleID = a.roleID
	if a.role != "" {
		if out.resource == nil {
			return out, fmt.Errorf("--role needs --resource-id: a role's value is looked up in the resource's app roles")
		}
		id, err := roleByValue(*out.resource, a.role)
		if err != nil {
			return out, err
		}
		out.roleID = id
	}
	return out, nil
}

// resolveSPHint is resolveSP whose "not found" says what to do: when the id is an application's
// appId without a service principal, create one (as az's error says).
func resolveSPHint(ctx context.Context, c *client.Client, flag, id string) (client.ServicePrincipal, error) {
	sp, err := resolveSP(ctx, c, id)
	if !client.IsNotFound(err) {
		return sp, err
	}
	var app struct {
		AppID       string `json:"appId"`
		DisplayName string `json:"displayName"`
	}
	if c.Application(ctx, id, &app) == nil && app.AppID != "" {
		return sp, fmt.Errorf("%s %s: the application %q has no service principal in this tenant yet: create it with `lanyard ad sp create --id %s`, then grant the role", flag, id, app.DisplayName, app.AppID)
	}
	return sp, fmt.Errorf("%s %s: no service principal has that object id or appId", flag, id)
}

// matching lists the assignments the selectors name, as the API sent them and by id: those of the
// principal (filtered by resource), else those granted on the resource; filtered by role.
func (r resolved) matching(ctx context.Context, c *client.Client) ([]json.RawMessage, []string, error) {
	var path string
	switch {
	case r.principal != nil:
		path = graphPath(nil, "servicePrincipals", r.principal.ID, "appRoleAssignments")
	case r.resource != nil:
		path = graphPath(nil, "servicePrincipals", r.resource.ID, "appRoleAssignedTo")
	default:
		return nil, nil, fmt.Errorf("name the principal (--principal-id) or the resource (--resource-id)")
	}
	all := []json.RawMessage{}
	if err := c.Graph(ctx, http.MethodGet, path, nil, &all); err != nil {
		return nil, nil, err
	}
	raw, ids := []json.RawMessage{}, []string{}
	for _, it := range all {
		var a client.AppRoleAssignment
		if err := json.Unmarshal(it, &a); err != nil {
			return nil, nil, fmt.Errorf("an app role assignment in the answer: %w", err)
		}
		if (r.resource == nil || strings.EqualFold(a.ResourceID, r.resource.ID)) &&
			(r.principal == nil || strings.EqualFold(a.PrincipalID, r.principal.ID)) &&
			(r.roleID == "" || strings.EqualFold(a.AppRoleID, r.roleID)) {
			raw, ids = append(raw, it), append(ids, a.ID)
		}
	}
	return raw, ids, nil
}

func newADAssignmentCreateCmd(g *globals) *cobra.Command {
	var sel assignmentSelectors
	cmd := &cobra.Command{
		Use:   "create --principal-id ID --resource-id ID (--app-role-id GUID | --role VALUE)",
		Short: "Grant a service principal an app role on a resource's service principal",
		Long: `Grants the principal an app role of the resource (an API's service principal; both by object id or
appId). --role names the role by its value, looked up in the resource's app roles; --app-role-id
names it by id (00000000-0000-0000-0000-000000000000 is default access, for a resource without
roles). The next token minted for the principal for that resource carries the role. An application
registered without a service principal cannot be granted to: create its service principal first
(lanyard ad sp create --id APPID).`,
		Example: `  lanyard ad app-role-assignment create --principal-id $MI \
      --resource-id 00000003-0000-0000-c000-000000000000 --role Group.Read.All
  lanyard ad app-role-assignment create --principal-id $MI --resource-id $API_SP \
      --app-role-id 5b567255-7703-4780-807c-7be8301ae99b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sel.check(); err != nil {
				return err
			}
			c := g.client()
			r, err := sel.resolve(cmd.Context(), c)
			if err != nil {
				return err
			}
			body := client.AppRoleAssignment{PrincipalID: r.principal.ID, ResourceID: r.resource.ID, AppRoleID: r.roleID}
			var out json.RawMessage
			if err := c.Graph(cmd.Context(), http.MethodPost, graphPath(nil, "servicePrincipals", r.resource.ID, "appRoleAssignedTo"), body, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	sel.add(cmd, "gets the role (required)", "(required)")
	_ = cmd.MarkFlagRequired("principal-id")
	_ = cmd.MarkFlagRequired("resource-id")
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
	var sel assignmentSelectors
	cmd := &cobra.Command{
		Use:   "list (--principal-id ID | --resource-id ID) [--role VALUE | --app-role-id GUID]",
		Short: "List the app roles a principal holds, or those granted on a resource",
		Long: `Lists app role assignments: those the principal holds (on the resource, when --resource-id is given
too), or those granted on the resource; --role or --app-role-id keeps those of one role.`,
		Example: `  lanyard ad app-role-assignment list --principal-id $MI
  lanyard ad app-role-assignment list --resource-id 00000003-0000-0000-c000-000000000000 \
      --query "[].{principal:principalDisplayName, role:appRoleId}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sel.check(); err != nil {
				return err
			}
			c := g.client()
			r, err := sel.resolve(cmd.Context(), c)
			if err != nil {
				return err
			}
			items, _, err := r.matching(cmd.Context(), c)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	sel.add(cmd, "holds the roles", "the roles are granted on")
	cmd.MarkFlagsOneRequired("principal-id", "resource-id")
	return cmd
}

func newADAssignmentDeleteCmd(g *globals) *cobra.Command {
	var sel assignmentSelectors
	var id string
	cmd := &cobra.Command{
		Use:   "delete --resource-id ID (--id ASSIGNMENT_ID | --principal-id ID [--role VALUE | --app-role-id GUID])",
		Short: "Revoke app role assignments",
		Long: `Revokes the assignment --id names (as list shows it), or every assignment the selectors name: the
principal's on the resource, of one role with --role or --app-role-id.`,
		Example: `  lanyard ad app-role-assignment delete --resource-id $API_SP --id -WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc
  lanyard ad app-role-assignment delete --principal-id $MI --resource-id 00000003-0000-0000-c000-000000000000 --role Group.Read.All`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sel.check(); err != nil {
				return err
			}
			if id != "" {
				if err := checkKey("id", id); err != nil {
					return err
				}
			} else if sel.principal == "" {
				return fmt.Errorf("name the assignment with --id, or with --principal-id (and --role or --app-role-id)")
			}
			c := g.client()
			r, err := sel.resolve(cmd.Context(), c)
			if err != nil {
				return err
			}
			ids := []string{id}
			if id == "" {
				if _, ids, err = r.matching(cmd.Context(), c); err != nil {
					return err
				}
				if len(ids) == 0 {
					return fmt.Errorf("no app role assignment matches: nothing to delete")
				}
			}
			for _, x := range ids {
				if err := c.Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "servicePrincipals", r.resource.ID, "appRoleAssignedTo", x), nil, nil); err != nil {
					return err
				}
			}
			return nil
		},
	}
	sel.add(cmd, "holds the assignments to delete", "(required)")
	cmd.Flags().StringVar(&id, "id", "", "id of the assignment, as list shows it")
	_ = cmd.MarkFlagRequired("resource-id")
	cmd.MarkFlagsMutuallyExclusive("id", "principal-id")
	return cmd
}
