package directory

import "context"

// Store is what the directory needs from storage: one small interface per kind of object. Every
// method is scoped by a tenant id; an object of another tenant does not exist. Lists are keyset
// pages in ascending id order: up to limit objects whose id is greater than afterID ("" for the
// first page). Unknown objects are errs.NotFound.
type Store interface {
	ApplicationStore
	ServicePrincipalStore
	AppRoleAssignmentStore
	GroupStore
	DirectoryRoleStore
}

// ApplicationStore keeps applications and, in the same transactions, what their service
// principals inherit from them.
type ApplicationStore interface {
	// CreateApplication inserts app and, when sp is not nil, its service principal, in one
	// transaction; errs.Conflict when one of app.IdentifierURIs is taken in the tenant (compared by
	// NameKey), or app's appId or sp's appId has an object already.
	CreateApplication(ctx context.Context, app Application, sp *ServicePrincipal) error
	// GetApplication finds an application by Key.ID or Key.AppID.
	GetApplication(ctx context.Context, tenantID string, key Key) (Application, error)
	ListApplications(ctx context.Context, tenantID, afterID string, limit int) ([]Application, error)
	// ListApplicationsByName is ListApplications restricted to the display names that start
	// with prefix under odata.FoldKey (Graph's startswith), through an index; it may return other
	// candidates too (the caller checks the name).
	ListApplicationsByName(ctx context.Context, tenantID, prefix, afterID string, limit int) ([]Application, error)
	// UpdateApplication reads the application and its service principal (nil when it has none),
	// locked, calls update, which changes them in place or fails, and writes both back in the same
	// transaction (identifierUris included: errs.Conflict when one is taken).
	UpdateApplication(ctx context.Context, tenantID, id string, update func(app *Application, sp *ServicePrincipal) error) (Application, error)
	// DeleteApplication deletes the application, its service principal and everything that refers
	// to that (app role assignments as principal and as resource, group memberships, directory
	// role assignments), in one transaction.
	DeleteApplication(ctx context.Context, tenantID, id string) error
}

// ServicePrincipalStore keeps service principals.
type ServicePrincipalStore interface {
	// CreateServicePrincipal inserts sp. When sp.ApplicationID is set, the application is read and
	// locked in the same transaction and inherit copies what sp takes from it (errs.NotFound if the
	// application is gone). errs.Conflict when the application, or sp's appId, has a service
	// principal already. It returns sp as stored.
	CreateServicePrincipal(ctx context.Context, sp ServicePrincipal, inherit func(Application, *ServicePrincipal)) (ServicePrincipal, error)
	// GetServicePrincipal finds a service principal by Key.ID, Key.AppID or Key.Name (one of its
	// application's identifierUris, compared by NameKey): one indexed lookup each.
	GetServicePrincipal(ctx context.Context, tenantID string, key Key) (ServicePrincipal, error)
	ListServicePrincipals(ctx context.Context, tenantID, afterID string, limit int) ([]ServicePrincipal, error)
	// ListServicePrincipalsByName is ListServicePrincipals restricted to the display names that
	// start with prefix under odata.FoldKey (Graph's startswith), through an index; it may return
	// other candidates too (the caller checks the name).
	ListServicePrincipalsByName(ctx context.Context, tenantID, prefix, afterID string, limit int) ([]ServicePrincipal, error)
	// GetServicePrincipals returns those of ids that exist in the tenant, in one query, in no
	// particular order (getByIds and the console's display names).
	GetServicePrincipals(ctx context.Context, tenantID string, ids []string) ([]ServicePrincipal, error)
	// DeleteServicePrincipal deletes it and everything that refers to it (app role assignments as
	// principal and as resource, group memberships, directory role assignments) in one transaction.
	DeleteServicePrincipal(ctx context.Context, tenantID, id string) error
}

// AssignmentsOf selects the app role assignments of a list: those held by PrincipalID, or those
// granted on ResourceID (exactly one is set).
type AssignmentsOf struct {
	PrincipalID string
	ResourceID  string
}

// AppRoleAssignmentStore keeps app role assignments.
type AppRoleAssignmentStore interface {
	// CreateAppRoleAssignment inserts a and returns it with its display names; errs.NotFound when
	// its principal or resource is gone, errs.Conflict when the same (principal, resource, app
	// role) exists.
	CreateAppRoleAssignment(ctx context.Context, a AppRoleAssignment) (AppRoleAssignment, error)
	GetAppRoleAssignment(ctx context.Context, tenantID, id string) (AppRoleAssignment, error)
	ListAppRoleAssignments(ctx context.Context, tenantID string, of AssignmentsOf, afterID string, limit int) ([]AppRoleAssignment, error)
	DeleteAppRoleAssignment(ctx context.Context, tenantID, id string) error
	// AssignedAppRoleIDs returns the app role ids principalID holds on resourceID, in one indexed
	// lookup (the hot path of minting).
	AssignedAppRoleIDs(ctx context.Context, tenantID, principalID, resourceID string) ([]string, error)
	// TokenFacts reads what a token needs in one statement: the service principal resource
	// names (Key.AppID or Key.Name; errs.NotFound if none), the principal principalID (nil if it
	// does not exist) and the app role ids it holds on the resource.
	TokenFacts(ctx context.Context, tenantID, principalID string, resource Key) (TokenFacts, error)
}

// TokenFacts is what TokenFacts reads: of the resource, its id and app roles; of the principal,
// its id, appId, type, alternative names and whether it is enabled.
type TokenFacts struct {
	Resource  ServicePrincipal
	Principal *ServicePrincipal
	RoleIDs   []string
}

// GroupStore keeps groups and their members.
type GroupStore interface {
	CreateGroup(ctx context.Context, g Group) error
	GetGroup(ctx context.Context, tenantID, id string) (Group, error)
	ListGroups(ctx context.Context, tenantID, afterID string, limit int) ([]Group, error)
	// DeleteGroup deletes the group and its memberships.
	DeleteGroup(ctx context.Context, tenantID, id string) error
	// AddGroupMember adds a service principal to a group: errs.NotFound if either is unknown,
	// errs.Conflict if it is a member already.
	AddGroupMember(ctx context.Context, tenantID, groupID, memberID string) error
	// RemoveGroupMember: errs.NotFound if the group is unknown or memberID is not a member.
	RemoveGroupMember(ctx context.Context, tenantID, groupID, memberID string) error
	// ListGroupMembers pages through the members of a group (errs.NotFound for an unknown group)
	// by member id.
	ListGroupMembers(ctx context.Context, tenantID, groupID, afterID string, limit int) ([]ServicePrincipal, error)
}

// DirectoryRoleStore keeps directory role assignments.
type DirectoryRoleStore interface {
	// CreateDirectoryRoleAssignment: errs.NotFound if the principal is unknown, errs.Conflict if it
	// holds the role at that scope already.
	CreateDirectoryRoleAssignment(ctx context.Context, a DirectoryRoleAssignment) error
	GetDirectoryRoleAssignment(ctx context.Context, tenantID, id string) (DirectoryRoleAssignment, error)
	ListDirectoryRoleAssignments(ctx context.Context, tenantID, afterID string, limit int) ([]DirectoryRoleAssignment, error)
	DeleteDirectoryRoleAssignment(ctx context.Context, tenantID, id string) error
	// DirectoryRolesOf returns the role definition ids principalID holds, at any scope.
	DirectoryRolesOf(ctx context.Context, tenantID, principalID string) ([]string, error)
}
