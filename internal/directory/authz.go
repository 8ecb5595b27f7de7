package directory

import (
	"context"
	"slices"

	"github.com/lanyardhq/lanyard/internal/authn"
)

// access is a kind of operation the authorization matrix decides on.
type access string

// The kinds of operation.
const (
	readApplications     access = "read applications, service principals and their app role assignments"
	writeApplications    access = "write applications and service principals"
	writeAssignments     access = "create and delete app role assignments"
	grantGraphRoles      access = "grant Microsoft Graph's application permissions (app roles of the Directory service principal)"
	readGroups           access = "read groups and members"
	writeGroups          access = "write groups and members"
	readRoleAssignments  access = "read directory role assignments"
	writeRoleAssignments access = "write directory role assignments"
)

// rule says who may do one kind of operation: a token caller holding every application permission
// of AllOf and at least one of AnyOf (when AnyOf is empty, AllOf alone; when both are empty, no
// permission suffices), or a principal holding one of the directory roles Roles. An administrator
// on the admin socket is a Global Administrator.
type rule struct {
	AllOf []string
	AnyOf []string
	Roles []string
}

var (
	readAppPerms = []string{PermApplicationReadAll, PermApplicationReadWriteAll, PermDirectoryReadAll, PermDirectoryReadWriteAll}
	appAdmins    = []string{RoleGlobalAdministrator, RoleApplicationAdministrator, RoleCloudApplicationAdministrator}
)

// policy is the authorization matrix of the directory API: application permissions OR directory
// roles, per kind of operation. The routes table (http.go) gives each route its kind.
var policy = map[access]rule{
	readApplications:  {AnyOf: readAppPerms, Roles: append(slices.Clone(appAdmins), RoleDirectoryReaders)},
	writeApplications: {AnyOf: []string{PermApplicationReadWriteAll, PermDirectoryReadWriteAll}, Roles: appAdmins},
	writeAssignments: {AllOf: []string{PermAppRoleAssignmentRWAll}, AnyOf: readAppPerms,
		Roles: append(slices.Clone(appAdmins), RolePrivilegedRoleAdministrator)},
	// As in Entra, the application administrator roles grant app roles of ordinary APIs but not
	// Microsoft Graph's application permissions: an Application Administrator could otherwise
	// grant itself AppRoleAssignment.ReadWrite.All or Directory.ReadWrite.All. Checked on top of
	// writeAssignments, when the resource is the Directory (createAppRoleAssignment).
	grantGraphRoles: {AllOf: []string{PermAppRoleAssignmentRWAll}, AnyOf: readAppPerms,
		Roles: []string{RoleGlobalAdministrator, RolePrivilegedRoleAdministrator}},
	readGroups: {AnyOf: []string{PermGroupReadAll, PermGroupReadWriteAll, PermDirectoryReadAll, PermDirectoryReadWriteAll},
		Roles: []string{RoleGlobalAdministrator, RoleDirectoryReaders}},
	writeGroups: {AnyOf: []string{PermGroupReadWriteAll, PermDirectoryReadWriteAll}, Roles: []string{RoleGlobalAdministrator}},
	readRoleAssignments: {AnyOf: []string{PermDirectoryReadAll, PermDirectoryReadWriteAll},
		Roles: []string{RoleGlobalAdministrator, RolePrivilegedRoleAdministrator, RoleDirectoryReaders}},
	writeRoleAssignments: {Roles: []string{RoleGlobalAdministrator, RolePrivilegedRoleAdministrator}},
}

// permitted reports whether p's application permissions satisfy r.
func (r rule) permitted(p authn.Principal) bool {
	if len(r.AllOf) == 0 && len(r.AnyOf) == 0 {
		return false
	}
	for _, perm := range r.AllOf {
		if !p.HasRole(perm) {
			return false
		}
	}
	return len(r.AnyOf) == 0 || p.HasRole(r.AnyOf...)
}

// authorize decides whether p may do an operation of kind a in tenantID: its token's application
// permissions first, then its directory roles, read from the store on every request.
func (s *Service) authorize(ctx context.Context, p authn.Principal, tenantID string, a access) error {
	if p.Admin {
		return nil
	}
	r, ok := policy[a]
	if !ok {
		return errDenied
	}
	if r.permitted(p) {
		return nil
	}
	if len(r.Roles) == 0 || p.ObjectID == "" {
		return errDenied
	}
	held, err := s.Store.DirectoryRolesOf(ctx, tenantID, p.ObjectID)
	if err != nil {
		return err
	}
	for _, role := range held {
		if slices.Contains(r.Roles, role) {
			return nil
		}
	}
	return errDenied
}
