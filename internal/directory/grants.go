package directory

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// App role assignments.

// assignmentInput is the body of POST …/appRoleAssignedTo and …/appRoleAssignments.
type assignmentInput struct {
	PrincipalID   string
	ResourceID    string
	AppRoleID     string
	PrincipalType string
}

// createAppRoleAssignment grants an app role. anchor is the service principal the request
// addresses: the resource (asResource, appRoleAssignedTo) or the principal (appRoleAssignments);
// the body may leave that side out, and must not name another. A grant of an app role of the
// Directory (Microsoft Graph's application permissions) needs more of p than writeAssignments:
// grantGraphRoles.
func (s *Service) createAppRoleAssignment(ctx context.Context, p authn.Principal, tenantID string, anchor ServicePrincipal, asResource bool, in assignmentInput) (AppRoleAssignment, error) {
	if asResource && in.ResourceID == "" {
		in.ResourceID = anchor.ID
	}
	if !asResource && in.PrincipalID == "" {
		in.PrincipalID = anchor.ID
	}
	for _, f := range []struct{ name, v string }{{"principalId", in.PrincipalID}, {"resourceId", in.ResourceID}, {"appRoleId", in.AppRoleID}} {
		if f.v == "" {
			return AppRoleAssignment{}, badRequest("Property '%s' is required.", f.name)
		}
	}
	a := AppRoleAssignment{TenantID: tenantID}
	var err error
	if a.PrincipalID, err = guidProp("principalId", in.PrincipalID); err != nil {
		return AppRoleAssignment{}, err
	}
	if a.ResourceID, err = guidProp("resourceId", in.ResourceID); err != nil {
		return AppRoleAssignment{}, err
	}
	if a.AppRoleID, err = guidProp("appRoleId", in.AppRoleID); err != nil {
		return AppRoleAssignment{}, err
	}
	switch {
	case asResource && a.ResourceID != anchor.ID:
		return AppRoleAssignment{}, badRequest("The resourceId '%s' is not the service principal '%s' of the request.", a.ResourceID, anchor.ID)
	case !asResource && a.PrincipalID != anchor.ID:
		return AppRoleAssignment{}, badRequest("The principalId '%s' is not the service principal '%s' of the request.", a.PrincipalID, anchor.ID)
	case in.PrincipalType != "" && in.PrincipalType != principalTypeServicePrincipal:
		return AppRoleAssignment{}, badRequest("Invalid value specified for property 'principalType': principals are service principals.")
	}
	res := anchor
	if !asResource {
		if res, err = s.getServicePrincipal(ctx, tenantID, Key{ID: a.ResourceID}); err != nil {
			return AppRoleAssignment{}, err
		}
	}
	if res.AppID == DirectoryAppID {
		if err := s.authorize(ctx, p, tenantID, grantGraphRoles); err != nil {
			return AppRoleAssignment{}, err
		}
	}
	if _, err := s.getServicePrincipal(ctx, tenantID, Key{ID: a.PrincipalID}); err != nil {
		return AppRoleAssignment{}, err
	}
	if err := checkAssignable(res, a.AppRoleID); err != nil {
		return AppRoleAssignment{}, err
	}
	if a.ID, err = s.newKey(); err != nil {
		return AppRoleAssignment{}, err
	}
	a.Created = s.now()
	out, err := s.Store.CreateAppRoleAssignment(ctx, a)
	switch {
	case errs.Is(err, errs.Conflict):
		return AppRoleAssignment{}, badRequest("Permission being assigned already exists on the object")
	case errs.Is(err, errs.NotFound):
		return AppRoleAssignment{}, notFound(a.PrincipalID)
	}
	return out, err
}

// checkAssignable checks that the resource res has an enabled app role roleID that service
// principals may hold, or that roleID is default access and res defines no roles.
func checkAssignable(res ServicePrincipal, roleID string) error {
	if roleID == DefaultAccessRole {
		if len(res.AppRoles) > 0 {
			return badRequest("Permission being assigned was not found on application '%s': the default access role applies only to an application that defines no app roles.", res.AppID)
		}
		return nil
	}
	i := slices.IndexFunc(res.AppRoles, func(r AppRole) bool { return r.ID == roleID })
	switch {
	case i < 0:
		return badRequest("Permission being assigned was not found on application '%s'.", res.AppID)
	case !res.AppRoles[i].IsEnabled:
		return badRequest("Permission being assigned is disabled on application '%s'.", res.AppID)
	case !slices.Contains(res.AppRoles[i].AllowedMemberTypes, "Application"):
		return badRequest("The app role '%s' of application '%s' cannot be assigned to a service principal: its allowedMemberTypes do not include Application.", res.AppRoles[i].Value, res.AppID)
	}
	return nil
}

// deleteAppRoleAssignment removes an assignment the anchor holds (as principal) or grants (as
// resource).
func (s *Service) deleteAppRoleAssignment(ctx context.Context, tenantID string, anchor ServicePrincipal, asResource bool, id string) (AppRoleAssignment, error) {
	a, err := s.Store.GetAppRoleAssignment(ctx, tenantID, id)
	if err != nil {
		return AppRoleAssignment{}, orNotFound(err, id)
	}
	if (asResource && a.ResourceID != anchor.ID) || (!asResource && a.PrincipalID != anchor.ID) {
		return AppRoleAssignment{}, notFound(id)
	}
	return a, orNotFound(s.Store.DeleteAppRoleAssignment(ctx, tenantID, id), id)
}

// Groups.

// groupInput is the body of POST groups.
type groupInput struct {
	DisplayName     *string
	Description     *string
	MailNickname    *string
	SecurityEnabled *bool
	MailEnabled     *bool
	GroupTypes      []string
}

func (s *Service) createGroup(ctx context.Context, tenantID string, in groupInput) (Group, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"displayName", in.DisplayName != nil}, {"mailEnabled", in.MailEnabled != nil}, {"mailNickname", in.MailNickname != nil}, {"securityEnabled", in.SecurityEnabled != nil}} {
		if !f.set {
			return Group{}, badRequest("Property '%s' is required.", f.name)
		}
	}
	if err := checkDisplayName(*in.DisplayName); err != nil {
		return Group{}, err
	}
	if err := checkMailNickname(*in.MailNickname); err != nil {
		return Group{}, err
	}
	g := Group{
		TenantID: tenantID, DisplayName: *in.DisplayName, MailNickname: *in.MailNickname,
		SecurityEnabled: *in.SecurityEnabled, MailEnabled: *in.MailEnabled, GroupTypes: []string{}, Created: s.now(),
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > maxDescription || !printable(*in.Description) {
			return Group{}, badRequest("Property 'description' must be at most %d printable characters.", maxDescription)
		}
		g.Description = *in.Description
	}
	if len(in.GroupTypes) > 0 {
		return Group{}, badRequest("Only security groups are supported: 'groupTypes' must be empty.")
	}
	var err error
	if g.ID, err = s.newGUID(); err != nil {
		return Group{}, err
	}
	return g, s.Store.CreateGroup(ctx, g)
}

func (s *Service) getGroup(ctx context.Context, tenantID, id string) (Group, error) {
	g, err := s.Store.GetGroup(ctx, tenantID, id)
	return g, orNotFound(err, id)
}

// memberRef reads the member id out of an @odata.id: any URL whose last path segment is the id
// (…/directoryObjects/{id}) or keys it (…/directoryObjects('{id}')).
func memberRef(ref string) (string, error) {
	bad := badRequest("Invalid value for '@odata.id': it must be the URL of a directory object, such as https://graph.microsoft.com/v1.0/directoryObjects/{id}.")
	if ref == "" {
		return "", badRequest("Property '@odata.id' is required.")
	}
	path := ref
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	if open := strings.IndexByte(last, '('); open >= 0 && strings.HasSuffix(last, "')") && len(last) > open+3 && last[open+1] == '\'' {
		last = last[open+2 : len(last)-2]
	}
	if !guid.Valid(last) {
		return "", bad
	}
	return strings.ToLower(last), nil
}

func (s *Service) addGroupMember(ctx context.Context, tenantID, groupID, memberID string) error {
	if _, err := s.getGroup(ctx, tenantID, groupID); err != nil {
		return err
	}
	if _, err := s.getServicePrincipal(ctx, tenantID, Key{ID: memberID}); err != nil {
		return err
	}
	err := s.Store.AddGroupMember(ctx, tenantID, groupID, memberID)
	switch {
	case errs.Is(err, errs.Conflict):
		return badRequest("One or more added object references already exist for the following modified properties: 'members'.")
	case errs.Is(err, errs.NotFound):
		return notFound(memberID)
	}
	return err
}

func (s *Service) removeGroupMember(ctx context.Context, tenantID, groupID, memberID string) error {
	if _, err := s.getGroup(ctx, tenantID, groupID); err != nil {
		return err
	}
	return orNotFound(s.Store.RemoveGroupMember(ctx, tenantID, groupID, memberID), memberID)
}

// Directory role assignments.

// roleAssignmentInput is the body of POST roleManagement/directory/roleAssignments.
type roleAssignmentInput struct {
	PrincipalID      string
	RoleDefinitionID string
	DirectoryScopeID string
}

func (s *Service) createRoleAssignment(ctx context.Context, tenantID string, in roleAssignmentInput) (DirectoryRoleAssignment, error) {
	for _, f := range []struct{ name, v string }{{"principalId", in.PrincipalID}, {"roleDefinitionId", in.RoleDefinitionID}} {
		if f.v == "" {
			return DirectoryRoleAssignment{}, badRequest("Property '%s' is required.", f.name)
		}
	}
	a := DirectoryRoleAssignment{TenantID: tenantID, DirectoryScopeID: in.DirectoryScopeID, Created: s.now()}
	var err error
	if a.PrincipalID, err = guidProp("principalId", in.PrincipalID); err != nil {
		return DirectoryRoleAssignment{}, err
	}
	if a.RoleDefinitionID, err = guidProp("roleDefinitionId", in.RoleDefinitionID); err != nil {
		return DirectoryRoleAssignment{}, err
	}
	if _, ok := DirectoryRoles[a.RoleDefinitionID]; !ok {
		return DirectoryRoleAssignment{}, badRequest("The role definition '%s' is not one this directory supports.", in.RoleDefinitionID)
	}
	if a.DirectoryScopeID == "" {
		a.DirectoryScopeID = "/"
	}
	if a.DirectoryScopeID != "/" {
		return DirectoryRoleAssignment{}, badRequest("Only the tenant-wide directory scope '/' is supported.")
	}
	if _, err := s.getServicePrincipal(ctx, tenantID, Key{ID: a.PrincipalID}); err != nil {
		return DirectoryRoleAssignment{}, err
	}
	if a.ID, err = s.newKey(); err != nil {
		return DirectoryRoleAssignment{}, err
	}
	err = s.Store.CreateDirectoryRoleAssignment(ctx, a)
	switch {
	case errs.Is(err, errs.Conflict):
		return DirectoryRoleAssignment{}, badRequest("A conflicting object with one or more of the specified property values is present in the directory.")
	case errs.Is(err, errs.NotFound):
		return DirectoryRoleAssignment{}, notFound(a.PrincipalID)
	}
	return a, err
}
