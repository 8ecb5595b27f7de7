package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/guid"
)

func newADAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Manage applications (app registrations): identifier URIs and app roles",
		Example: `  lanyard ad app create --display-name aad-func --identifier-uris api://aad-func
  lanyard ad app role add --id $APP_ID --value DoAll --display-name "Do everything"`,
	}
	cmd.AddCommand(newADAppCreateCmd(g), newADAppListCmd(g), newADAppShowCmd(g), newADAppUpdateCmd(g), newADAppDeleteCmd(g), newADAppRoleCmd(g))
	return cmd
}

// appRolesArg reads --app-roles: a JSON array of app roles, as az takes it. A role without an id
// gets a new one; a role without isEnabled is enabled.
func appRolesArg(v string) ([]map[string]any, error) {
	raw, err := jsonArg("app-roles", v)
	if err != nil {
		return nil, err
	}
	var roles []map[string]any
	if err := json.Unmarshal(raw, &roles); err != nil {
		return nil, fmt.Errorf("--app-roles must be a JSON array of app roles: %w", err)
	}
	for i, r := range roles {
		if r == nil {
			return nil, fmt.Errorf("--app-roles: role %d is not an object", i)
		}
		switch id := r["id"].(type) {
		case nil:
			r["id"] = uuid.NewString()
		case string:
			if !guid.Valid(id) {
				return nil, fmt.Errorf("--app-roles: the id of role %d must be a GUID, not %q", i, id)
			}
		default:
			return nil, fmt.Errorf("--app-roles: the id of role %d must be a GUID", i)
		}
		if _, ok := r["isEnabled"]; !ok {
			r["isEnabled"] = true
		}
	}
	return roles, nil
}

func newADAppCreateCmd(g *globals) *cobra.Command {
	var name, roles, audience string
	var uris []string
	cmd := &cobra.Command{
		Use:   "create --display-name NAME",
		Short: "Create an application",
		Long: `Creates an application. Its identifier URIs are what tokens for it name as their audience (besides
its appId); its app roles are what other identities can be granted on its service principal
(create one with "lanyard ad sp create --id APPID").`,
		Example: `  lanyard ad app create --display-name aad-func
  lanyard ad app create --display-name orders-api --identifier-uris api://orders \
      --app-roles '[{"value":"Orders.Read","displayName":"Read orders","description":"Read orders","allowedMemberTypes":["Application"]}]'
  lanyard ad app create --display-name orders-api --app-roles @roles.json --query appId -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]any{"displayName": name}
			if cmd.Flags().Changed("identifier-uris") {
				body["identifierUris"] = nonNil(uris)
			}
			if roles != "" {
				r, err := appRolesArg(roles)
				if err != nil {
					return err
				}
				body["appRoles"] = r
			}
			if audience != "" {
				body["signInAudience"] = audience
			}
			var out json.RawMessage
			if err := g.client().Graph(cmd.Context(), http.MethodPost, graphPath(nil, "applications"), body, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	cmd.Flags().StringVar(&name, "display-name", "", "display name of the application (required)")
	cmd.Flags().StringSliceVar(&uris, "identifier-uris", nil, "identifier URIs, such as api://orders (repeat the flag or separate with commas)")
	cmd.Flags().StringVar(&roles, "app-roles", "", "app roles: a JSON array, or @FILE holding one")
	cmd.Flags().StringVar(&audience, "sign-in-audience", "", "signInAudience (default: the server's, AzureADMyOrg)")
	_ = cmd.MarkFlagRequired("display-name")
	return cmd
}

func newADAppListCmd(g *globals) *cobra.Command {
	var filter, name string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List applications",
		Example: `  lanyard ad app list --display-name aad-
  lanyard ad app list --filter "appId eq '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9'"
  lanyard ad app list --all --query "[].{name:displayName, appId:appId}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cond string
			if name != "" {
				cond = "startswith(displayName," + odataString(name) + ")"
			}
			items, err := listCollection(cmd.Context(), g.client(), graphPath(filterQuery(filter, cond), "applications"), all, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), items)
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "OData $filter, such as \"displayName eq 'x'\"")
	cmd.Flags().StringVar(&name, "display-name", "", "only applications whose display name starts with this")
	cmd.Flags().BoolVar(&all, "all", false, "list every page (default: the first page only)")
	return cmd
}

func newADAppShowCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:     "show --id ID|APPID",
		Short:   "Show an application, by object id or appId",
		Example: `  lanyard ad app show --id 1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9 --query appRoles`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", id); err != nil {
				return err
			}
			var out json.RawMessage
			if err := g.client().Application(cmd.Context(), id, &out); err != nil {
				return err
			}
			return printEntity(g, cmd, out)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "object id or appId of the application (required)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newADAppUpdateCmd(g *globals) *cobra.Command {
	var id, name, roles string
	var uris []string
	cmd := &cobra.Command{
		Use:   "update --id ID|APPID",
		Short: "Update an application's display name, identifier URIs or app roles",
		Long: `Updates the fields given and leaves the others. --app-roles replaces the whole list: as in Microsoft
Graph, a role must be disabled (isEnabled false) in one update before a later one removes it.`,
		Example: `  lanyard ad app update --id $APP_ID --identifier-uris api://$APP_ID
  lanyard ad app update --id $APP_ID --display-name orders-api --app-roles @roles.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", id); err != nil {
				return err
			}
			body := map[string]any{}
			if cmd.Flags().Changed("display-name") {
				body["displayName"] = name
			}
			if cmd.Flags().Changed("identifier-uris") {
				body["identifierUris"] = nonNil(uris)
			}
			if cmd.Flags().Changed("app-roles") {
				r, err := appRolesArg(roles)
				if err != nil {
					return err
				}
				body["appRoles"] = r
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to update: give --display-name, --identifier-uris or --app-roles")
			}
			c := g.client()
			var app client.Application
			if err := c.Application(cmd.Context(), id, &app); err != nil {
				return err
			}
			return c.Graph(cmd.Context(), http.MethodPatch, graphPath(nil, "applications", app.ID), body, nil)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "object id or appId of the application (required)")
	cmd.Flags().StringVar(&name, "display-name", "", "new display name")
	cmd.Flags().StringSliceVar(&uris, "identifier-uris", nil, "new identifier URIs (replace the old ones; repeat or separate with commas)")
	cmd.Flags().StringVar(&roles, "app-roles", "", "new app roles (replace the old ones): a JSON array, or @FILE")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newADAppDeleteCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:     "delete --id ID|APPID",
		Short:   "Delete an application, with its service principal and their app role assignments",
		Example: `  lanyard ad app delete --id $APP_ID`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", id); err != nil {
				return err
			}
			c := g.client()
			var app client.Application
			if err := c.Application(cmd.Context(), id, &app); err != nil {
				return err
			}
			return c.Graph(cmd.Context(), http.MethodDelete, graphPath(nil, "applications", app.ID), nil, nil)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "object id or appId of the application (required)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newADAppRoleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "role",
		Short:   "Manage an application's app roles",
		Example: `  lanyard ad app role add --id $APP_ID --value DoAll --display-name "Do everything"`,
	}
	var id, value, name, desc, roleID string
	var members []string
	add := &cobra.Command{
		Use:   "add --id ID|APPID --value VALUE --display-name NAME",
		Short: "Add an app role to an application",
		Long: `Reads the application, appends an enabled app role with a new id (or --role-id) and writes the
application's roles back. The value is what the roles claim of a token carries.`,
		Example: `  lanyard ad app role add --id $APP_ID --value DoAll --display-name "Do everything" \
      --description "Call every operation" --allowed-member-types Application`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGUID("id", id); err != nil {
				return err
			}
			if roleID == "" {
				roleID = uuid.NewString()
			} else if err := checkGUID("role-id", roleID); err != nil {
				return err
			}
			if value == "" || len(value) > 120 || containsSpace(value) {
				return fmt.Errorf("--value must be 1 to 120 characters without spaces, not %q", value)
			}
			for _, m := range members {
				if m != "Application" && m != "User" {
					return fmt.Errorf("--allowed-member-types takes Application and/or User, not %q", m)
				}
			}
			if desc == "" {
				desc = name
			}
			c := g.client()
			var app struct {
				ID       string            `json:"id"`
				AppRoles []json.RawMessage `json:"appRoles"`
			}
			if err := c.Application(cmd.Context(), id, &app); err != nil {
				return err
			}
			for _, raw := range app.AppRoles {
				var r client.AppRole
				if json.Unmarshal(raw, &r) == nil && r.Value == value {
					return fmt.Errorf("the application already has an app role with value %q (id %s)", value, r.ID)
				}
			}
			role := client.AppRole{ID: roleID, Value: value, DisplayName: name, Description: desc, AllowedMemberTypes: nonNil(members), IsEnabled: true}
			rb, err := json.Marshal(role)
			if err != nil {
				return err
			}
			// Existing roles go back exactly as read.
			roles := append(slices.Clip(app.AppRoles), rb)
			if err := c.Graph(cmd.Context(), http.MethodPatch, graphPath(nil, "applications", app.ID), map[string]any{"appRoles": roles}, nil); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), role)
		},
	}
	add.Flags().StringVar(&id, "id", "", "object id or appId of the application (required)")
	add.Flags().StringVar(&value, "value", "", "the role's value, as tokens carry it: no spaces, at most 120 characters (required)")
	add.Flags().StringVar(&name, "display-name", "", "the role's display name (required)")
	add.Flags().StringVar(&desc, "description", "", "the role's description (default: the display name)")
	add.Flags().StringSliceVar(&members, "allowed-member-types", []string{"Application"}, "who may be granted the role: Application and/or User")
	add.Flags().StringVar(&roleID, "role-id", "", "the role's id (default: a new GUID)")
	_ = add.MarkFlagRequired("id")
	_ = add.MarkFlagRequired("value")
	_ = add.MarkFlagRequired("display-name")
	cmd.AddCommand(add)
	return cmd
}

func containsSpace(s string) bool {
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return true
		}
	}
	return false
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
