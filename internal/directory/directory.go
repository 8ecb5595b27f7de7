package directory

import (
	"strings"
	"time"
)

// Application is an app registration.
type Application struct {
	TenantID       string
	ID             string // object id, a GUID
	AppID          string // client id, a GUID
	DisplayName    string
	IdentifierURIs []string // absolute URIs, unique in the tenant (compared by NameKey)
	AppRoles       []AppRole
	SignInAudience string
	Builtin        bool // one of the built-in applications: not editable, not deletable
	Created        time.Time
}

// AppRole is a permission an application defines. Its JSON form is Graph's appRole.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
	Origin             string   `json:"origin"`
}

// The types of service principal.
const (
	TypeApplication     = "Application"
	TypeManagedIdentity = "ManagedIdentity"
)

// ServicePrincipal is the identity that gets tokens and role assignments: an application's
// (ApplicationID set; what it inherits from the application is kept in step with it in the same
// transaction as every change of the application) or a managed identity's (no application).
type ServicePrincipal struct {
	TenantID                  string
	ID                        string // object id: a managed identity's principalId
	AppID                     string // client id
	ApplicationID             string // object id of the application; "" for a managed identity
	Type                      string // TypeApplication or TypeManagedIdentity
	DisplayName               string
	ServicePrincipalNames     []string // the application's identifierUris and the appId
	AlternativeNames          []string // managed identities: "isExplicit=True|False" and the ARM id
	AppRoles                  []AppRole
	AccountEnabled            bool
	AppRoleAssignmentRequired bool
	AppOwnerOrganizationID    string // "" when none
	Builtin                   bool
	Created                   time.Time
}

// MIResourceID returns the ARM id a managed identity's alternativeNames carry, or "".
func (sp ServicePrincipal) MIResourceID() string {
	if sp.Type != TypeManagedIdentity {
		return ""
	}
	for _, n := range sp.AlternativeNames {
		if strings.HasPrefix(n, "/") {
			return n
		}
	}
	return ""
}

// AppRoleAssignment grants PrincipalID the app role AppRoleID of the resource service principal
// ResourceID. Display names are read with it, from the service principals as they are now.
type AppRoleAssignment struct {
	TenantID             string
	ID                   string // 43 characters of base64url, like Graph's
	AppRoleID            string // a GUID; DefaultAccessRole for "default access"
	PrincipalID          string
	ResourceID           string
	PrincipalDisplayName string
	ResourceDisplayName  string
	Created              time.Time
}

// DefaultAccessRole is the app role id of an assignment to a resource that defines no roles.
const DefaultAccessRole = "00000000-0000-0000-0000-000000000000"

// Group is a security group whose members are service principals.
type Group struct {
	TenantID        string
	ID              string
	DisplayName     string
	Description     string
	MailNickname    string
	SecurityEnabled bool
	MailEnabled     bool
	GroupTypes      []string
	Created         time.Time
}

// DirectoryRoleAssignment gives a principal a directory role (Graph's unifiedRoleAssignment).
type DirectoryRoleAssignment struct {
	TenantID         string
	ID               string
	PrincipalID      string
	RoleDefinitionID string // one of the Role* template ids
	DirectoryScopeID string // "/"
	Created          time.Time
}

// Directory roles: Microsoft's role template ids.
const (
	RoleGlobalAdministrator           = "62e90394-69f5-4237-9190-012177145e10"
	RoleApplicationAdministrator      = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	RoleCloudApplicationAdministrator = "158c047a-c907-4556-b7ef-446551a6b5f7"
	RolePrivilegedRoleAdministrator   = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleDirectoryReaders              = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
)

// DirectoryRoles are the directory roles Lanyard knows, by template id.
var DirectoryRoles = map[string]string{
	RoleGlobalAdministrator:           "Global Administrator",
	RoleApplicationAdministrator:      "Application Administrator",
	RoleCloudApplicationAdministrator: "Cloud Application Administrator",
	RolePrivilegedRoleAdministrator:   "Privileged Role Administrator",
	RoleDirectoryReaders:              "Directory Readers",
}

// Application permissions of the directory API: app roles of the directory's ("Microsoft Graph") service
// principal, with Microsoft Graph's values.
const (
	PermDirectoryReadAll          = "Directory.Read.All"
	PermDirectoryReadWriteAll     = "Directory.ReadWrite.All"
	PermApplicationReadAll        = "Application.Read.All"
	PermApplicationReadWriteAll   = "Application.ReadWrite.All"
	PermAppRoleAssignmentRWAll    = "AppRoleAssignment.ReadWrite.All"
	PermGroupReadAll              = "Group.Read.All"
	PermGroupReadWriteAll         = "Group.ReadWrite.All"
	PermUserReadAll               = "User.Read.All"
	defaultSignInAudience         = "AzureADMyOrg"
	principalTypeServicePrincipal = "ServicePrincipal"
)

// Key names one application or service principal: exactly one field is set. Name (service
// principals only) is one of its servicePrincipalNames other than the appId, that is one of its
// application's identifierUris, compared by NameKey.
type Key struct {
	ID    string
	AppID string
	Name  string
}

func (k Key) String() string {
	switch {
	case k.ID != "":
		return k.ID
	case k.AppID != "":
		return k.AppID
	}
	return k.Name
}

// NameKey is the form in which identifier URIs are compared, for uniqueness and to resolve a
// token's resource: lower case, without trailing slashes.
func NameKey(uri string) string {
	return strings.ToLower(strings.TrimRight(uri, "/"))
}
