package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// authorizationProvider is the path segment of RBAC's collections under a scope.
const authorizationProvider = "/providers/Microsoft.Authorization/"

// newRoleCmd is "lanyard role": RBAC role assignments and definitions of the management API,
// like "az role". Directory roles are "lanyard ad role".
func newRoleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Manage RBAC role assignments and list role definitions",
		Long: `Manages role assignments: a principal holds a role at a scope (a subscription, a resource group, a
resource) and everywhere below it. The roles are Azure's built-in roles, with Azure's ids (Owner,
Contributor, Reader, User Access Administrator, Managed Identity Operator, Managed Identity
Contributor, Key Vault Administrator, Key Vault Secrets Officer, Key Vault Secrets User, Key Vault
Reader). Directory roles are "lanyard ad role".`,
		Example: `  lanyard role assignment create --role "Key Vault Secrets User" --assignee-object-id $MI --scope $VAULT_ID
  lanyard role definition list --query "[].roleName" -o tsv`,
	}
	a := newARMCmd(g, cmd)
	asg := &cobra.Command{
		Use:   "assignment",
		Short: "Create, list and delete role assignments",
		Example: `  lanyard role assignment list --all --assignee-object-id $MI -o table \
      --query "[].{role:roleDefinitionName, scope:scope}"`,
	}
	asg.AddCommand(newRoleAssignmentCreateCmd(a), newRoleAssignmentListCmd(a), newRoleAssignmentDeleteCmd(a))
	def := &cobra.Command{
		Use:     "definition",
		Short:   "List role definitions",
		Example: `  lanyard role definition list --name Owner`,
	}
	def.AddCommand(newRoleDefinitionListCmd(a))
	cmd.AddCommand(asg, def)
	return cmd
}

// definitionsPath is the collection of role definitions at scope.
func definitionsPath(scope string, q url.Values) string {
	p := strings.TrimSuffix(scope, "/") + authorizationProvider + "roleDefinitions"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// assignmentsPath is the collection of role assignments at scope.
func assignmentsPath(scope string, q url.Values) string {
	p := strings.TrimSuffix(scope, "/") + authorizationProvider + "roleAssignments"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// lastSegment returns what follows the last "/" of an id: a role definition's GUID.
func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

// roleDefinitions lists the role definitions seen from scope, by roleName if name is not "".
func roleDefinitions(ctx context.Context, c *client.Client, scope, name string) ([]json.RawMessage, error) {
	var q url.Values
	if name != "" {
		q = url.Values{"$filter": {"roleName eq " + odataString(name)}}
	}
	return listRaw(ctx, c, definitionsPath(scope, q), client.APIVersionAuthorization)
}

// resolveRole returns the ARM id of the role --role names: by ARM id, by GUID (the role's id in
// the subscription sub), or by name (roleName, any case).
func resolveRole(ctx context.Context, c *client.Client, sub, role string) (string, error) {
	role = strings.TrimSpace(role)
	switch {
	case strings.HasPrefix(role, "/"):
		id, err := parseID("role", role)
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(id.ResourceType(), client.TypeRoleDefinitions) {
			return "", fmt.Errorf("--role %q is a %s, not a role definition", role, id.ResourceType())
		}
		return id.String(), nil
	case guid.Valid(role):
		return client.SubscriptionPath(sub) + authorizationProvider + "roleDefinitions/" + strings.ToLower(role), nil
	}
	items, err := roleDefinitions(ctx, c, client.SubscriptionPath(sub), role)
	if err != nil {
		return "", err
	}
	if len(items) == 1 {
		var d client.AzureRoleDefinition
		if err := json.Unmarshal(items[0], &d); err != nil {
			return "", err
		}
		return d.ID, nil
	}
	if len(items) > 1 {
		return "", fmt.Errorf("%d role definitions are named %q: give the role's id", len(items), role)
	}
	all, err := roleDefinitions(ctx, c, client.SubscriptionPath(sub), "")
	if err != nil {
		return "", err
	}
	var names []string
	for _, raw := range all {
		var d client.AzureRoleDefinition
		if json.Unmarshal(raw, &d) == nil {
			names = append(names, d.Properties.RoleName)
		}
	}
	return "", fmt.Errorf("--role %q names no role definition: use one of %s, or a role's id", role, strings.Join(names, ", "))
}

// roleNames maps role definition GUIDs (lower case) to role names, for the roleDefinitionName
// az prints with each assignment.
func roleNames(ctx context.Context, c *client.Client, sub string) map[string]string {
	items, err := roleDefinitions(ctx, c, client.SubscriptionPath(sub), "")
	names := map[string]string{}
	if err != nil {
		return names // the names are a convenience: the assignments print without them
	}
	for _, raw := range items {
		var d client.AzureRoleDefinition
		if json.Unmarshal(raw, &d) == nil {
			names[strings.ToLower(d.Name)] = d.Properties.RoleName
		}
	}
	return names
}

// flattenAssignment prints a role assignment as az does: its properties at the top level, and
// roleDefinitionName after roleDefinitionId when the role is known.
func flattenAssignment(raw json.RawMessage, names map[string]string) json.RawMessage {
	flat, err := flattenProperties(raw, nil)
	if err != nil {
		return raw
	}
	ms, err := objectMembers(flat)
	if err != nil {
		return raw
	}
	var out []rawMember
	for _, m := range ms {
		out = append(out, m)
		if m.key != "roleDefinitionId" {
			continue
		}
		var id string
		if json.Unmarshal(m.val, &id) == nil {
			if n, ok := names[strings.ToLower(lastSegment(id))]; ok {
				v, _ := json.Marshal(n)
				out = append(out, rawMember{"roleDefinitionName", v})
			}
		}
	}
	return encodeMembers(out)
}

// newGUID returns a random (version 4) GUID, the name of a new role assignment.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// scopeFlag checks --scope: an ARM id in a subscription (role assignments live in one).
func scopeFlag(scope string) (arm.ID, error) {
	id, err := parseID("scope", scope)
	if err != nil {
		return arm.ID{}, err
	}
	if id.SubscriptionID() == "" {
		return arm.ID{}, fmt.Errorf("--scope %q: a role assignment's scope is a subscription or something in one", scope)
	}
	return id, nil
}

func newRoleAssignmentCreateCmd(a *armCmd) *cobra.Command {
	var role, objectID, assignee, principalType, scope, name, description string
	cmd := &cobra.Command{
		Use:   "create --role NAME|ID --assignee-object-id ID --scope SCOPE",
		Short: "Give a principal a role at a scope",
		Long: `Gives a principal (a service principal: an application's or a managed identity's) a role at a scope
and everywhere below it. --role is the role's name, its GUID or its ARM id; --scope an ARM id.
--assignee takes an appId too, and looks the principal up in the directory first.`,
		Example: `  lanyard role assignment create --role "Key Vault Secrets User" \
      --assignee-object-id $MI --assignee-principal-type ServicePrincipal --scope $VAULT_ID
  lanyard role assignment create --role Contributor --assignee $APP_ID --scope /subscriptions/$SUB/resourceGroups/rg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := scopeFlag(scope)
			if err != nil {
				return err
			}
			if objectID != "" {
				if err := checkGUID("assignee-object-id", objectID); err != nil {
					return err
				}
			}
			if assignee != "" {
				if err := checkGUID("assignee", assignee); err != nil {
					return err
				}
			}
			if name != "" {
				if err := checkGUID("name", name); err != nil {
					return err
				}
			}
			if err := a.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c := a.g.client()
			if assignee != "" {
				sp, err := resolveSP(ctx, c, assignee)
				if err != nil {
					return fmt.Errorf("assignee %s: %w", assignee, err)
				}
				objectID = sp.ID
			}
			roleID, err := resolveRole(ctx, c, sc.SubscriptionID(), role)
			if err != nil {
				return err
			}
			if name == "" {
				if name, err = newGUID(); err != nil {
					return err
				}
			}
			body := client.AzureRoleAssignment{Properties: client.AzureRoleAssignmentProperties{
				RoleDefinitionID: roleID, PrincipalID: objectID, PrincipalType: principalType, Description: description,
			}}
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, assignmentsPath(sc.String(), nil)+"/"+name, client.APIVersionAuthorization, body, &out); err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), flattenAssignment(out, roleNames(ctx, c, sc.SubscriptionID())))
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "the role: its name, GUID or ARM id (required)")
	cmd.Flags().StringVar(&objectID, "assignee-object-id", "", "object id of the principal")
	cmd.Flags().StringVar(&assignee, "assignee", "", "object id or appId of the service principal, looked up in the directory")
	cmd.Flags().StringVar(&principalType, "assignee-principal-type", "ServicePrincipal", "type of the principal; Lanyard's directory holds service principals")
	cmd.Flags().StringVar(&scope, "scope", "", "ARM id of the scope: a subscription, resource group or resource (required)")
	cmd.Flags().StringVar(&name, "name", "", "GUID naming the assignment (default: a new one)")
	cmd.Flags().StringVar(&description, "description", "", "description of the assignment")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("scope")
	cmd.MarkFlagsOneRequired("assignee-object-id", "assignee")
	cmd.MarkFlagsMutuallyExclusive("assignee-object-id", "assignee")
	return cmd
}

// searchAssignments lists role assignments as az does: with all, every assignment in the
// subscription; otherwise those exactly at scope. principal and roleGUID, when not "", narrow
// the list.
func searchAssignments(ctx context.Context, c *client.Client, sub string, scope arm.ID, all bool, principal, roleGUID string) ([]json.RawMessage, error) {
	var conds []string
	if !all {
		conds = append(conds, "atScope()")
	}
	if principal != "" {
		conds = append(conds, "principalId eq "+odataString(strings.ToLower(principal)))
	}
	var q url.Values
	if len(conds) > 0 {
		q = url.Values{"$filter": {strings.Join(conds, " and ")}}
	}
	at := scope.String()
	if all {
		at = client.SubscriptionPath(sub)
	}
	items, err := listRaw(ctx, c, assignmentsPath(at, q), client.APIVersionAuthorization)
	if err != nil {
		return nil, err
	}
	out := []json.RawMessage{}
	for _, raw := range items {
		var ra client.AzureRoleAssignment
		if err := json.Unmarshal(raw, &ra); err != nil {
			return nil, err
		}
		p := ra.Properties
		switch {
		case !all && !strings.EqualFold(strings.TrimSuffix(p.Scope, "/"), strings.TrimSuffix(scope.String(), "/")):
		case principal != "" && !strings.EqualFold(p.PrincipalID, principal):
		case roleGUID != "" && !strings.EqualFold(lastSegment(p.RoleDefinitionID), roleGUID):
		default:
			out = append(out, raw)
		}
	}
	return out, nil
}

func newRoleAssignmentListCmd(a *armCmd) *cobra.Command {
	var objectID, scope, role string
	var all bool
	cmd := &cobra.Command{
		Use:   "list [--assignee-object-id ID] [--scope SCOPE | --all] [--role ROLE]",
		Short: "List role assignments",
		Long: `Lists role assignments at a scope (by default the subscription) — only those made exactly there — or,
with --all, every assignment in the subscription. Each carries roleDefinitionName, as in az.`,
		Example: `  lanyard role assignment list --scope $VAULT_ID
  lanyard role assignment list --all --assignee-object-id $MI --query "[].{role:roleDefinitionName, scope:scope}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sc arm.ID
			if scope != "" {
				var err error
				if sc, err = scopeFlag(scope); err != nil {
					return err
				}
			}
			if objectID != "" {
				if err := checkGUID("assignee-object-id", objectID); err != nil {
					return err
				}
			}
			if err := a.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c := a.g.client()
			sub := sc.SubscriptionID()
			if sub == "" {
				var err error
				if sub, err = a.sub(ctx, c); err != nil {
					return err
				}
				sc, _ = arm.Parse(client.SubscriptionPath(sub))
			}
			var roleGUID string
			if role != "" {
				id, err := resolveRole(ctx, c, sub, role)
				if err != nil {
					return err
				}
				roleGUID = lastSegment(id)
			}
			items, err := searchAssignments(ctx, c, sub, sc, all, objectID, roleGUID)
			if err != nil {
				return err
			}
			names := roleNames(ctx, c, sub)
			for i, raw := range items {
				items[i] = flattenAssignment(raw, names)
			}
			return a.g.print(cmd.OutOrStdout(), items)
		},
	}
	cmd.Flags().StringVar(&objectID, "assignee-object-id", "", "only the assignments of this principal")
	cmd.Flags().StringVar(&scope, "scope", "", "ARM id of the scope (default: the subscription)")
	cmd.Flags().StringVar(&role, "role", "", "only the assignments of this role (name, GUID or ARM id)")
	cmd.Flags().BoolVar(&all, "all", false, "every assignment in the subscription, at any scope")
	cmd.MarkFlagsMutuallyExclusive("scope", "all")
	return cmd
}

func newRoleAssignmentDeleteCmd(a *armCmd) *cobra.Command {
	var ids []string
	var objectID, scope, role string
	cmd := &cobra.Command{
		Use:   "delete (--ids ID... | --assignee-object-id ID --role ROLE --scope SCOPE)",
		Short: "Delete role assignments",
		Long: `Deletes role assignments by ARM id (--ids), or those matching --assignee-object-id, --role and --scope
(exactly at the scope; by default the subscription), as az does. Deleting none is not an error.`,
		Example: `  lanyard role assignment delete --ids $ASSIGNMENT_ID
  lanyard role assignment delete --assignee-object-id $MI --role "Key Vault Secrets User" --scope $VAULT_ID`,
		Args: idsArgs("ids", &ids),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sc arm.ID
			if scope != "" {
				var err error
				if sc, err = scopeFlag(scope); err != nil {
					return err
				}
			}
			var paths []string
			for _, id := range ids {
				p, err := parseID("ids", id)
				if err != nil {
					return err
				}
				if !strings.EqualFold(p.ResourceType(), client.TypeRoleAssignments) {
					return fmt.Errorf("--ids %q is a %s, not a role assignment", id, p.ResourceType())
				}
				paths = append(paths, p.String())
			}
			if len(ids) == 0 && objectID == "" && role == "" {
				return fmt.Errorf("give --ids, or --assignee-object-id and/or --role (with --scope) to select assignments")
			}
			if objectID != "" {
				if err := checkGUID("assignee-object-id", objectID); err != nil {
					return err
				}
			}
			if err := a.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c := a.g.client()
			if len(paths) == 0 {
				sub := sc.SubscriptionID()
				if sub == "" {
					var err error
					if sub, err = a.sub(ctx, c); err != nil {
						return err
					}
					sc, _ = arm.Parse(client.SubscriptionPath(sub))
				}
				var roleGUID string
				if role != "" {
					id, err := resolveRole(ctx, c, sub, role)
					if err != nil {
						return err
					}
					roleGUID = lastSegment(id)
				}
				found, err := searchAssignments(ctx, c, sub, sc, false, objectID, roleGUID)
				if err != nil {
					return err
				}
				for _, raw := range found {
					var ra client.AzureRoleAssignment
					if err := json.Unmarshal(raw, &ra); err != nil {
						return err
					}
					paths = append(paths, ra.ID)
				}
				if len(paths) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "lanyard: no matching role assignment was found to delete")
					return nil
				}
			}
			for _, p := range paths {
				if err := c.ARM(ctx, http.MethodDelete, p, client.APIVersionAuthorization, nil, nil); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ids, "ids", nil, "ARM ids of the assignments, space- or comma-separated")
	cmd.Flags().StringVar(&objectID, "assignee-object-id", "", "the principal whose assignments to delete")
	cmd.Flags().StringVar(&role, "role", "", "the role whose assignments to delete (name, GUID or ARM id)")
	cmd.Flags().StringVar(&scope, "scope", "", "ARM id of the scope (default: the subscription)")
	cmd.MarkFlagsMutuallyExclusive("ids", "assignee-object-id")
	cmd.MarkFlagsMutuallyExclusive("ids", "role")
	cmd.MarkFlagsMutuallyExclusive("ids", "scope")
	return cmd
}

func newRoleDefinitionListCmd(a *armCmd) *cobra.Command {
	var name, scope string
	cmd := &cobra.Command{
		Use:   "list [--name NAME|ID]",
		Short: "List role definitions",
		Long: `Lists the role definitions (Azure's built-in roles, with Azure's ids), or the one --name names by
roleName or GUID. Each is printed as az prints them: its properties (roleName, permissions ...) at
the top level.`,
		Example: `  lanyard role definition list --query "[].{name:roleName, id:name}" -o table
  lanyard role definition list --name "Key Vault Secrets User" --query "[0].permissions[0].dataActions"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sc arm.ID
			if scope != "" {
				var err error
				if sc, err = parseID("scope", scope); err != nil {
					return err
				}
			}
			if err := a.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			c := a.g.client()
			at := sc.String()
			if scope == "" {
				sub, err := a.sub(ctx, c)
				if err != nil {
					return err
				}
				at = client.SubscriptionPath(sub)
			}
			var items []json.RawMessage
			if guid.Valid(name) {
				raw, err := getRaw(ctx, c, definitionsPath(at, nil)+"/"+strings.ToLower(name), client.APIVersionAuthorization)
				if err != nil {
					return err
				}
				items = []json.RawMessage{raw}
			} else {
				var err error
				if items, err = roleDefinitions(ctx, c, at, name); err != nil {
					return err
				}
			}
			for i, raw := range items {
				if flat, err := flattenProperties(raw, map[string]string{"type": "roleType"}); err == nil {
					items[i] = flat
				}
			}
			return a.g.print(cmd.OutOrStdout(), items)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "only the role with this roleName or GUID")
	cmd.Flags().StringVar(&scope, "scope", "", "ARM id of the scope to list from (default: the subscription)")
	return cmd
}
