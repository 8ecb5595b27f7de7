package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// newKeyVaultCmd is "lanyard keyvault": vaults (management API) and their secrets (the vault data
// plane), like "az keyvault". Everything goes through the admin socket: the caller is the
// administrator, who may do every operation on every vault.
func newKeyVaultCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyvault",
		Short: "Manage vaults, their access policies and their secrets",
		Long: `Manages vaults (Microsoft.KeyVault/vaults): Key Vault-compatible secret stores served at
https://{name}.{vault_domain}[:port]/, read by workloads with their managed identities. Access is
decided per request by the vault's access policies, or by RBAC data actions when the vault has
--enable-rbac-authorization ("lanyard role assignment create --role 'Key Vault Secrets User'").`,
		Example: `  lanyard keyvault create --name kv1 --resource-group rg
  lanyard keyvault set-policy --name kv1 --object-id $MI --secret-permissions get list
  lanyard keyvault secret set --vault-name kv1 --name db-password --value "$(cat pw.txt)"`,
	}
	a := newARMCmd(g, cmd)
	cmd.AddCommand(newKeyVaultCreateCmd(a), newKeyVaultListCmd(a), newKeyVaultShowCmd(a), newKeyVaultDeleteCmd(a),
		newKeyVaultSetPolicyCmd(a), newKeyVaultDeletePolicyCmd(a), newKeyVaultSecretCmd(a))
	return cmd
}

// findVault returns the vault of that name in the subscription (in group when it is not "").
func findVault(ctx context.Context, a *armCmd, c *client.Client, name, group string) (client.Resource, error) {
	sub, err := a.sub(ctx, c)
	if err != nil {
		return client.Resource{}, err
	}
	if group != "" {
		var r client.Resource
		err := c.ARM(ctx, http.MethodGet, client.ResourcePath(sub, group, client.TypeVaults, name), client.APIVersionVaults, nil, &r)
		return r, err
	}
	var all []client.Resource
	if err := c.ARM(ctx, http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeVaults, client.APIVersionVaults, nil, &all); err != nil {
		return client.Resource{}, err
	}
	for _, r := range all {
		if strings.EqualFold(r.Name, name) {
			return r, nil
		}
	}
	return client.Resource{}, fmt.Errorf("no vault named %q in subscription %s", name, sub)
}

func checkVaultName(name string) error {
	if len(name) < 3 || len(name) > 24 || !vaultNameChars(name) {
		return fmt.Errorf("--name %q: a vault's name is 3 to 24 characters: letters, digits and '-', starting with a letter", name)
	}
	return nil
}

func vaultNameChars(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '-')) {
			return false
		}
	}
	return true
}

func newKeyVaultCreateCmd(a *armCmd) *cobra.Command {
	var name, group, location, sku string
	var rbacAuth, purgeProtection bool
	var retention int
	var tags []string
	cmd := &cobra.Command{
		Use:   "create --name NAME --resource-group GROUP",
		Short: "Create a vault",
		Long: `Creates a vault in the tenant of its subscription. Its name is its host name's first label and
is unique in the installation. Soft delete is always on: a deleted secret is kept for
--retention-days (7 to 90) and can be recovered until then; with --enable-purge-protection it
cannot be purged before.`,
		Example: `  lanyard keyvault create --name kv1 --resource-group rg
  lanyard keyvault create -n kv2 -g rg --enable-rbac-authorization --retention-days 7 --query properties.vaultUri -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkVaultName(name); err != nil {
				return err
			}
			if err := checkResourceGroup("resource-group", group); err != nil {
				return err
			}
			if retention < 7 || retention > 90 {
				return fmt.Errorf("--retention-days %d: between 7 and 90", retention)
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			if err := a.check(); err != nil {
				return err
			}
			ctx, c := cmd.Context(), a.g.client()
			sub, err := a.sub(ctx, c)
			if err != nil {
				return err
			}
			subs, err := c.Subscriptions(ctx)
			if err != nil {
				return err
			}
			tenant := ""
			for _, s := range subs {
				if strings.EqualFold(s.SubscriptionID, sub) {
					tenant = s.TenantID
				}
			}
			if tenant == "" {
				return fmt.Errorf("the tenant of subscription %s is unknown", sub)
			}
			if location == "" {
				if location, err = groupLocation(ctx, c, sub, group); err != nil {
					return err
				}
			}
			props := map[string]any{
				"tenantId": tenant, "sku": map[string]string{"family": "A", "name": sku}, "accessPolicies": []any{},
				"enableRbacAuthorization": rbacAuth, "softDeleteRetentionInDays": retention,
			}
			if purgeProtection {
				props["enablePurgeProtection"] = true
			}
			raw, _ := json.Marshal(props)
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, client.ResourcePath(sub, group, client.TypeVaults, name), client.APIVersionVaults,
				client.Resource{Location: location, Tags: t, Properties: raw}, &out); err != nil {
				return err
			}
			return printRaw(a.g, cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the vault (required)")
	cmd.Flags().StringVarP(&group, "resource-group", "g", "", "resource group of the vault (required)")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location (default: the group's)")
	cmd.Flags().StringVar(&sku, "sku", "standard", "standard or premium")
	cmd.Flags().BoolVar(&rbacAuth, "enable-rbac-authorization", false, "authorize data-plane requests by RBAC data actions instead of access policies")
	cmd.Flags().BoolVar(&purgeProtection, "enable-purge-protection", false, "forbid purging deleted secrets before their retention period ends (cannot be turned off)")
	cmd.Flags().IntVar(&retention, "retention-days", 90, "days a deleted secret is kept (7 to 90)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags, KEY=VALUE, comma-separated")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("resource-group")
	return cmd
}

func newKeyVaultListCmd(a *armCmd) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:     "list [--resource-group GROUP]",
		Short:   "List vaults, of a group or of the whole subscription",
		Example: `  lanyard keyvault list --query "[].{name:name, uri:properties.vaultUri}" -o table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := a.listOfType(cmd.Context(), group, client.TypeVaults, client.APIVersionVaults)
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), items)
		},
	}
	cmd.Flags().StringVarP(&group, "resource-group", "g", "", "only the vaults of this resource group")
	return cmd
}

// vaultFlags are --name and an optional --resource-group.
type vaultFlags struct{ name, group string }

func (f *vaultFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.name, "name", "n", "", "name of the vault (required)")
	cmd.Flags().StringVarP(&f.group, "resource-group", "g", "", "resource group of the vault (default: found by name)")
	_ = cmd.MarkFlagRequired("name")
}

func (f *vaultFlags) check(a *armCmd) error {
	if err := checkVaultName(f.name); err != nil {
		return err
	}
	if f.group != "" {
		if err := checkResourceGroup("resource-group", f.group); err != nil {
			return err
		}
	}
	return a.check()
}

func newKeyVaultShowCmd(a *armCmd) *cobra.Command {
	var f vaultFlags
	cmd := &cobra.Command{
		Use:     "show --name NAME",
		Short:   "Show a vault, with its access policies",
		Example: `  lanyard keyvault show --name kv1 --query properties.accessPolicies`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(a); err != nil {
				return err
			}
			r, err := findVault(cmd.Context(), a, a.g.client(), f.name, f.group)
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), r)
		},
	}
	f.add(cmd)
	return cmd
}

func newKeyVaultDeleteCmd(a *armCmd) *cobra.Command {
	var f vaultFlags
	cmd := &cobra.Command{
		Use:     "delete --name NAME",
		Short:   "Delete a vault and every secret in it",
		Example: `  lanyard keyvault delete --name kv1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(a); err != nil {
				return err
			}
			c := a.g.client()
			r, err := findVault(cmd.Context(), a, c, f.name, f.group)
			if err != nil {
				return err
			}
			return c.ARM(cmd.Context(), http.MethodDelete, r.ID, client.APIVersionVaults, nil, nil)
		},
	}
	f.add(cmd)
	return cmd
}

type accessPolicy struct {
	TenantID    string                     `json:"tenantId"`
	ObjectID    string                     `json:"objectId"`
	Permissions map[string]json.RawMessage `json:"permissions"`
}

func newKeyVaultSetPolicyCmd(a *armCmd) *cobra.Command {
	var f vaultFlags
	var objectID string
	var perms []string
	cmd := &cobra.Command{
		Use:   "set-policy --name NAME --object-id ID --secret-permissions PERM...",
		Short: "Set a principal's permissions on the vault's secrets",
		Long: `Sets the secret permissions of the access policy of a principal (a service principal's object id,
such as a managed identity's principalId), as az does: the permissions given replace the
principal's secret permissions; its permissions on keys, certificates and storage are kept. The
permissions are get, list, set, delete, recover, backup, restore, purge and all. The next request
of the principal is decided by the new policy.`,
		Example: `  lanyard keyvault set-policy --name kv1 --object-id $MI --secret-permissions get list`,
		Args:    idsArgs("secret-permissions", &perms),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(a); err != nil {
				return err
			}
			if err := checkGUID("object-id", objectID); err != nil {
				return err
			}
			if len(perms) == 0 {
				return fmt.Errorf("--secret-permissions: give at least one of get, list, set, delete, recover, backup, restore, purge, all")
			}
			ctx, c := cmd.Context(), a.g.client()
			r, err := findVault(ctx, a, c, f.name, f.group)
			if err != nil {
				return err
			}
			var props struct {
				TenantID       string         `json:"tenantId"`
				AccessPolicies []accessPolicy `json:"accessPolicies"`
			}
			if err := json.Unmarshal(r.Properties, &props); err != nil {
				return fmt.Errorf("vault properties: %w", err)
			}
			entry := accessPolicy{TenantID: props.TenantID, ObjectID: strings.ToLower(objectID), Permissions: map[string]json.RawMessage{}}
			for _, p := range props.AccessPolicies {
				if strings.EqualFold(p.ObjectID, objectID) {
					for k, v := range p.Permissions {
						entry.Permissions[k] = v
					}
				}
			}
			entry.Permissions["secrets"], _ = json.Marshal(perms)
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, r.ID+"/accessPolicies/replace", client.APIVersionVaults,
				map[string]any{"properties": map[string]any{"accessPolicies": []accessPolicy{entry}}}, &out); err != nil {
				return err
			}
			warnUnknownObject(ctx, c, cmd.ErrOrStderr(), objectID)
			return printRaw(a.g, cmd.OutOrStdout(), out)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&objectID, "object-id", "", "object id of the principal (required)")
	cmd.Flags().StringSliceVar(&perms, "secret-permissions", nil, "permissions on secrets, space- or comma-separated")
	_ = cmd.MarkFlagRequired("object-id")
	return cmd
}

// warnUnknownObject warns on w when objectID names no service principal or group of the tenant:
// the policy is kept, as Azure keeps it, but it grants nobody until such an object exists. The
// usual slip, an appId (a managed identity's clientId) given for the object id, is named.
func warnUnknownObject(ctx context.Context, c *client.Client, w io.Writer, objectID string) {
	var obj json.RawMessage
	err := c.GraphEntity(ctx, client.GraphBase+"/servicePrincipals/"+objectID, &obj)
	if client.IsNotFound(err) {
		err = c.GraphEntity(ctx, client.GraphBase+"/groups/"+objectID, &obj)
	}
	if !client.IsNotFound(err) {
		return // found, or the check itself failed: nothing to say
	}
	var sp client.ServicePrincipal
	if c.GraphEntity(ctx, client.GraphBase+"/servicePrincipals(appId='"+objectID+"')", &sp) == nil {
		fmt.Fprintf(w, "lanyard: warning: %s is the appId (client id) of %q, not an object id: its object id is %s; the policy set for %s grants nobody\n",
			objectID, sp.DisplayName, sp.ID, objectID)
		return
	}
	fmt.Fprintf(w, "lanyard: warning: no service principal or group of this tenant has the object id %s: the policy is kept, as Azure keeps it, but grants nobody until one does (a managed identity's object id is its principalId)\n", objectID)
}

func newKeyVaultDeletePolicyCmd(a *armCmd) *cobra.Command {
	var f vaultFlags
	var objectID string
	cmd := &cobra.Command{
		Use:     "delete-policy --name NAME --object-id ID",
		Short:   "Remove a principal's access policy from the vault",
		Long:    `Removes the access policy of a principal: its next request to the vault is 403 Forbidden.`,
		Example: `  lanyard keyvault delete-policy --name kv1 --object-id $MI`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(a); err != nil {
				return err
			}
			if err := checkGUID("object-id", objectID); err != nil {
				return err
			}
			ctx, c := cmd.Context(), a.g.client()
			r, err := findVault(ctx, a, c, f.name, f.group)
			if err != nil {
				return err
			}
			var props struct {
				TenantID string `json:"tenantId"`
			}
			if err := json.Unmarshal(r.Properties, &props); err != nil {
				return fmt.Errorf("vault properties: %w", err)
			}
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, r.ID+"/accessPolicies/remove", client.APIVersionVaults,
				map[string]any{"properties": map[string]any{"accessPolicies": []accessPolicy{{TenantID: props.TenantID, ObjectID: strings.ToLower(objectID)}}}}, &out); err != nil {
				return err
			}
			return printRaw(a.g, cmd.OutOrStdout(), out)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&objectID, "object-id", "", "object id of the principal (required)")
	_ = cmd.MarkFlagRequired("object-id")
	return cmd
}

// secretCmd is what the secret commands share: the vault's data plane, found by --vault-name.
type secretCmd struct {
	a         *armCmd
	vaultName string
	name      string
}

func (s *secretCmd) add(cmd *cobra.Command, withName bool) {
	cmd.Flags().StringVar(&s.vaultName, "vault-name", "", "name of the vault (required)")
	_ = cmd.MarkFlagRequired("vault-name")
	if withName {
		cmd.Flags().StringVarP(&s.name, "name", "n", "", "name of the secret (required)")
		_ = cmd.MarkFlagRequired("name")
	}
}

// vault checks the flags and returns a client of the vault's data plane.
func (s *secretCmd) vault(ctx context.Context, withName bool) (*client.VaultClient, error) {
	if err := checkVaultName(s.vaultName); err != nil {
		return nil, fmt.Errorf("--vault-%s", strings.TrimPrefix(err.Error(), "--"))
	}
	if withName && !vault.ValidName(s.name) {
		return nil, fmt.Errorf("--name %q: a secret's name is 1 to 127 characters: letters, digits and '-'", s.name)
	}
	if err := s.a.check(); err != nil {
		return nil, err
	}
	c := s.a.g.client()
	host, err := vaultHostByName(ctx, s.a, c, s.vaultName)
	if err != nil {
		return nil, err
	}
	return c.Vault(host), nil
}

// vaultHostByName returns the host of the data plane of the vault of that name in the
// subscription: {name}.{vault_domain}[:port], from its vaultUri.
func vaultHostByName(ctx context.Context, a *armCmd, c *client.Client, name string) (string, error) {
	r, err := findVault(ctx, a, c, name, "")
	if err != nil {
		return "", err
	}
	var props struct {
		VaultURI string `json:"vaultUri"`
	}
	if err := json.Unmarshal(r.Properties, &props); err != nil {
		return "", fmt.Errorf("vault properties: %w", err)
	}
	return client.VaultHost(props.VaultURI)
}

func newKeyVaultSecretCmd(a *armCmd) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage the secrets of a vault",
		Long: `Manages secrets through the vault's data plane, as the administrator. Values are sealed at rest;
deleted secrets are kept for the vault's retention period ("list-deleted", "recover", "purge").`,
		Example: `  lanyard keyvault secret set --vault-name kv1 --name db-password --file pw.txt
  lanyard keyvault secret show --vault-name kv1 --name db-password --query value -o tsv`,
	}
	cmd.AddCommand(newSecretSetCmd(a), newSecretShowCmd(a), newSecretListCmd(a, "list"), newSecretListCmd(a, "list-versions"),
		newSecretListCmd(a, "list-deleted"), newSecretSetAttributesCmd(a), newSecretOpCmd(a, "delete"), newSecretOpCmd(a, "recover"),
		newSecretOpCmd(a, "purge"), newSecretBackupCmd(a), newSecretRestoreCmd(a))
	return cmd
}

// parseTime reads an RFC 3339 time flag into unix seconds.
func parseTime(flag, v string) (*int64, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: use RFC 3339, such as 2027-01-31T00:00:00Z", flag, v)
	}
	u := t.Unix()
	return &u, nil
}

func newSecretSetCmd(a *armCmd) *cobra.Command {
	s := &secretCmd{a: a}
	var value, file, contentType, expires, notBefore string
	var disabled bool
	var tags []string
	cmd := &cobra.Command{
		Use:   "set --vault-name VAULT --name NAME (--value VALUE | --file PATH)",
		Short: "Add a version of a secret (creating it)",
		Long: `Adds a version of a secret: it becomes the latest. The value (at most 25 KB) comes from --value or
from --file; prefer --file, as command lines are visible to other users of the host.`,
		Example: `  lanyard keyvault secret set --vault-name kv1 --name db-password --file pw.txt
  lanyard keyvault secret set --vault-name kv1 -n api-key --value k-123 --expires 2027-01-31T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (value == "") == (file == "") {
				return fmt.Errorf("give the value with exactly one of --value and --file")
			}
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				value = string(b)
			}
			if len(value) > vault.MaxValueBytes {
				return fmt.Errorf("the value is %d bytes: a secret's value is at most %d bytes", len(value), vault.MaxValueBytes)
			}
			exp, err := parseTime("expires", expires)
			if err != nil {
				return err
			}
			nbf, err := parseTime("not-before", notBefore)
			if err != nil {
				return err
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			v, err := s.vault(cmd.Context(), true)
			if err != nil {
				return err
			}
			enabled := !disabled
			out, err := v.SetSecret(cmd.Context(), s.name, client.SecretSet{Value: value, ContentType: contentType, Tags: t,
				Attributes: &client.SecretAttributes{Enabled: &enabled, Expires: exp, NotBefore: nbf}})
			if err != nil {
				return err
			}
			out.Value = nil // az prints it; a terminal's scrollback is no place for it
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	s.add(cmd, true)
	cmd.Flags().StringVar(&value, "value", "", "the value")
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the value from this file")
	cmd.Flags().StringVar(&contentType, "content-type", "", "the value's content type, such as text/plain")
	cmd.Flags().StringVar(&expires, "expires", "", "expiry (RFC 3339): reads are refused from then on")
	cmd.Flags().StringVar(&notBefore, "not-before", "", "activation time (RFC 3339): reads are refused before")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "create the version disabled")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags, KEY=VALUE, comma-separated")
	return cmd
}

func newSecretShowCmd(a *armCmd) *cobra.Command {
	s := &secretCmd{a: a}
	var version string
	cmd := &cobra.Command{
		Use:     "show --vault-name VAULT --name NAME [--version VERSION]",
		Short:   "Show a secret's value and attributes (the latest version unless --version)",
		Example: `  lanyard keyvault secret show --vault-name kv1 --name db-password --query value -o tsv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := s.vault(cmd.Context(), true)
			if err != nil {
				return err
			}
			out, err := v.GetSecret(cmd.Context(), s.name, version)
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	s.add(cmd, true)
	cmd.Flags().StringVar(&version, "version", "", "the version (default: the latest)")
	return cmd
}

func newSecretListCmd(a *armCmd, what string) *cobra.Command {
	s := &secretCmd{a: a}
	short := map[string]string{
		"list":          "List the secrets of a vault (their latest versions, without values)",
		"list-versions": "List the versions of a secret, oldest first, without values",
		"list-deleted":  "List the deleted secrets of a vault, with their purge dates",
	}[what]
	withName := what == "list-versions"
	use := what + " --vault-name VAULT"
	if withName {
		use += " --name NAME"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  lanyard keyvault secret " + use + ` -o table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := s.vault(cmd.Context(), withName)
			if err != nil {
				return err
			}
			var out []client.Secret
			switch what {
			case "list":
				out, err = v.ListSecrets(cmd.Context())
			case "list-versions":
				out, err = v.ListSecretVersions(cmd.Context(), s.name)
			default:
				out, err = v.ListDeletedSecrets(cmd.Context())
			}
			if err != nil {
				return err
			}
			if out == nil {
				out = []client.Secret{}
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	s.add(cmd, withName)
	return cmd
}

func newSecretSetAttributesCmd(a *armCmd) *cobra.Command {
	s := &secretCmd{a: a}
	var version, enabled, contentType, expires, notBefore string
	var tags []string
	cmd := &cobra.Command{
		Use:   "set-attributes --vault-name VAULT --name NAME [--version VERSION] [--enabled true|false] ...",
		Short: "Change a version's attributes (the latest unless --version)",
		Example: `  lanyard keyvault secret set-attributes --vault-name kv1 --name db-password --enabled false
  lanyard keyvault secret set-attributes --vault-name kv1 -n api-key --expires 2027-06-30T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in client.SecretUpdate
			attrs := &client.SecretAttributes{}
			switch enabled {
			case "":
			case "true", "false":
				e := enabled == "true"
				attrs.Enabled = &e
			default:
				return fmt.Errorf("--enabled %q: true or false", enabled)
			}
			var err error
			if attrs.Expires, err = parseTime("expires", expires); err != nil {
				return err
			}
			if attrs.NotBefore, err = parseTime("not-before", notBefore); err != nil {
				return err
			}
			in.Attributes = attrs
			if cmd.Flags().Changed("content-type") {
				in.ContentType = &contentType
			}
			if in.Tags, err = parseTags(tags); err != nil {
				return err
			}
			v, err := s.vault(cmd.Context(), true)
			if err != nil {
				return err
			}
			out, err := v.UpdateSecret(cmd.Context(), s.name, version, in)
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	s.add(cmd, true)
	cmd.Flags().StringVar(&version, "version", "", "the version (default: the latest)")
	cmd.Flags().StringVar(&enabled, "enabled", "", "true or false")
	cmd.Flags().StringVar(&contentType, "content-type", "", "the value's content type")
	cmd.Flags().StringVar(&expires, "expires", "", "expiry (RFC 3339)")
	cmd.Flags().StringVar(&notBefore, "not-before", "", "activation time (RFC 3339)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags, KEY=VALUE, comma-separated (replace the version's tags)")
	return cmd
}

func newSecretOpCmd(a *armCmd, op string) *cobra.Command {
	s := &secretCmd{a: a}
	short := map[string]string{
		"delete":  "Delete a secret, every version (kept for the vault's retention period: see recover, purge)",
		"recover": "Recover a deleted secret, with every version",
		"purge":   "Delete a deleted secret for good (refused under purge protection)",
	}[op]
	cmd := &cobra.Command{
		Use:     op + " --vault-name VAULT --name NAME",
		Short:   short,
		Example: "  lanyard keyvault secret " + op + " --vault-name kv1 --name db-password",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := s.vault(cmd.Context(), true)
			if err != nil {
				return err
			}
			var out client.Secret
			switch op {
			case "delete":
				out, err = v.DeleteSecret(cmd.Context(), s.name)
			case "recover":
				out, err = v.RecoverSecret(cmd.Context(), s.name)
			default:
				return v.PurgeSecret(cmd.Context(), s.name)
			}
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	s.add(cmd, true)
	return cmd
}

func newSecretBackupCmd(a *armCmd) *cobra.Command {
	s := &secretCmd{a: a}
	var file string
	cmd := &cobra.Command{
		Use:   "backup --vault-name VAULT --name NAME --file PATH",
		Short: "Write a secret's backup (every version, sealed) to a file",
		Long: `Writes a backup of a secret, every version, to a new file (mode 0600). The backup is sealed: it
restores only into a vault of the same tenant of this installation.`,
		Example: `  lanyard keyvault secret backup --vault-name kv1 --name db-password --file db-password.bak`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := s.vault(cmd.Context(), true)
			if err != nil {
				return err
			}
			blob, err := v.BackupSecret(cmd.Context(), s.name)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			if _, err := f.WriteString(blob); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	s.add(cmd, true)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the file to write (must not exist; required)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newSecretRestoreCmd(a *armCmd) *cobra.Command {
	s := &secretCmd{a: a}
	var file string
	cmd := &cobra.Command{
		Use:     "restore --vault-name VAULT --file PATH",
		Short:   "Restore a secret from a backup file (its name must be free in the vault)",
		Example: `  lanyard keyvault secret restore --vault-name kv2 --file db-password.bak`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			v, err := s.vault(cmd.Context(), false)
			if err != nil {
				return err
			}
			out, err := v.RestoreSecret(cmd.Context(), strings.TrimSpace(string(b)))
			if err != nil {
				return err
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	s.add(cmd, false)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the backup file (required)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
