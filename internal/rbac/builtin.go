package rbac

import "strings"

// The ids of the built-in roles: Azure's own role-definition ids, so that templates and scripts
// that name roles by id work unchanged.
const (
	Owner                       = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	Contributor                 = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	Reader                      = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	UserAccessAdministrator     = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	ManagedIdentityOperator     = "f1a07417-d97a-45cb-824c-7a7467783830"
	ManagedIdentityContributor  = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"
	KeyVaultAdministrator       = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	KeyVaultSecretsOfficer      = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	KeyVaultSecretsUser         = "4633458b-17de-408a-b874-0445c86b69e6"
	KeyVaultReader              = "21090545-7ca7-4776-b22c-e363652d74d2"
	roleDefinitionsResourceType = "Microsoft.Authorization/roleDefinitions"
)

// builtins are the built-in role definitions, with the permissions Azure publishes for them
// ("Azure built-in roles", the generated reference of 2026). Roles live in code, not in the store.
var builtins = []RoleDefinition{
	{
		ID: Owner, Name: "Owner",
		Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Permissions: []Permission{{Actions: []string{"*"}}},
	},
	{
		ID: Contributor, Name: "Contributor",
		Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		Permissions: []Permission{{
			Actions: []string{"*"},
			NotActions: []string{
				"Microsoft.Authorization/*/Delete",
				"Microsoft.Authorization/*/Write",
				"Microsoft.Authorization/elevateAccess/Action",
				"Microsoft.Blueprint/blueprintAssignments/write",
				"Microsoft.Blueprint/blueprintAssignments/delete",
				"Microsoft.Compute/galleries/share/action",
				"Microsoft.Purview/consents/write",
				"Microsoft.Purview/consents/delete",
				"Microsoft.Resources/deploymentStacks/manageDenySetting/action",
				"Microsoft.Subscription/cancel/action",
				"Microsoft.Subscription/enable/action",
			},
		}},
	},
	{
		ID: Reader, Name: "Reader",
		Description: "View all resources, but does not allow you to make any changes.",
		Permissions: []Permission{{Actions: []string{"*/read"}}},
	},
	{
		ID: UserAccessAdministrator, Name: "User Access Administrator",
		Description: "Lets you manage user access to Azure resources.",
		Permissions: []Permission{{Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}}},
	},
	{
		ID: ManagedIdentityOperator, Name: "Managed Identity Operator",
		Description: "Read and Assign User Assigned Identity",
		Permissions: []Permission{{Actions: []string{
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		}}},
	},
	{
		ID: ManagedIdentityContributor, Name: "Managed Identity Contributor",
		Description: "Create, Read, Update, and Delete User Assigned Identity",
		Permissions: []Permission{{Actions: []string{
			"Microsoft.ManagedIdentity/userAssignedIdentities/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/write",
			"Microsoft.ManagedIdentity/userAssignedIdentities/delete",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
			"Microsoft.ManagedIdentity/userAssignedIdentities/revokeTokens/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		}}},
	},
	{
		ID: KeyVaultAdministrator, Name: "Key Vault Administrator",
		Description: "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{
			Actions:     keyVaultReadActions(),
			DataActions: []string{"Microsoft.KeyVault/vaults/*"},
		}},
	},
	{
		ID: KeyVaultSecretsOfficer, Name: "Key Vault Secrets Officer",
		Description: "Perform any action on the secrets of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{
			Actions:     keyVaultReadActions(),
			DataActions: []string{"Microsoft.KeyVault/vaults/secrets/*"},
		}},
	},
	{
		ID: KeyVaultSecretsUser, Name: "Key Vault Secrets User",
		Description: "Read secret contents. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{DataActions: []string{
			"Microsoft.KeyVault/vaults/secrets/getSecret/action",
			"Microsoft.KeyVault/vaults/secrets/readMetadata/action",
		}}},
	},
	{
		ID: KeyVaultReader, Name: "Key Vault Reader",
		Description: "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{
			Actions: keyVaultReadActions(),
			DataActions: []string{
				"Microsoft.KeyVault/vaults/*/read",
				"Microsoft.KeyVault/vaults/secrets/readMetadata/action",
			},
		}},
	},
}

// keyVaultReadActions are the control-plane actions the Key Vault data roles share.
func keyVaultReadActions() []string {
	return []string{
		"Microsoft.Authorization/*/read",
		"Microsoft.Insights/alertRules/*",
		"Microsoft.Resources/deployments/*",
		"Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Support/*",
		"Microsoft.KeyVault/checkNameAvailability/read",
		"Microsoft.KeyVault/deletedVaults/read",
		"Microsoft.KeyVault/locations/*/read",
		"Microsoft.KeyVault/vaults/*/read",
		"Microsoft.KeyVault/operations/read",
	}
}

// perms is one Permission of a built-in role, its patterns compiled, on one plane.
type perms struct{ allow, deny []pattern }

var (
	builtinByID   = map[string]*RoleDefinition{}
	builtinByName = map[string]*RoleDefinition{} // by lower-cased role name
	compiledPerms = map[string][2][]perms{}      // role id → [control plane, data plane]
)

func init() {
	for i := range builtins {
		d := &builtins[i]
		builtinByID[d.ID] = d
		builtinByName[strings.ToLower(d.Name)] = d
		var cp [2][]perms
		for _, p := range d.Permissions {
			cp[0] = append(cp[0], perms{allow: compileAll(p.Actions), deny: compileAll(p.NotActions)})
			cp[1] = append(cp[1], perms{allow: compileAll(p.DataActions), deny: compileAll(p.NotDataActions)})
		}
		compiledPerms[d.ID] = cp
	}
}

// BuiltinRoles returns the built-in role definitions, in a fixed order.
func BuiltinRoles() []RoleDefinition {
	out := make([]RoleDefinition, len(builtins))
	copy(out, builtins)
	return out
}

// RoleByID returns the role definition with the GUID id (any case).
func RoleByID(id string) (RoleDefinition, bool) {
	d, ok := builtinByID[strings.ToLower(id)]
	if !ok {
		return RoleDefinition{}, false
	}
	return *d, true
}

// RoleByName returns the role definition named name, ignoring case ("reader").
func RoleByName(name string) (RoleDefinition, bool) {
	d, ok := builtinByName[strings.ToLower(name)]
	if !ok {
		return RoleDefinition{}, false
	}
	return *d, true
}

// roleAllows reports whether the role with id grants action (lower case) on its plane: some
// permission of the role matches it in its actions and not in its not-actions. An unknown role
// grants nothing.
func roleAllows(roleID, action string, data bool) bool {
	cp, ok := compiledPerms[roleID]
	if !ok {
		return false
	}
	plane := cp[0]
	if data {
		plane = cp[1]
	}
	for _, p := range plane {
		if anyMatch(p.allow, action) && !anyMatch(p.deny, action) {
			return true
		}
	}
	return false
}

// Allows reports whether the permission grants action, on the data plane when data is true: the
// action matches one of its (data) actions and none of its not-(data-)actions. Control-plane
// actions never grant data actions, nor the other way round. Case is ignored.
func (p Permission) Allows(action string, data bool) bool {
	allow, deny := p.Actions, p.NotActions
	if data {
		allow, deny = p.DataActions, p.NotDataActions
	}
	matchAny := func(patterns []string) bool {
		for _, pat := range patterns {
			if MatchAction(pat, action) {
				return true
			}
		}
		return false
	}
	return matchAny(allow) && !matchAny(deny)
}

// Allows reports whether any permission of the role grants action on its plane.
func (d RoleDefinition) Allows(action string, data bool) bool {
	for _, p := range d.Permissions {
		if p.Allows(action, data) {
			return true
		}
	}
	return false
}
