package directory

import (
	"net/http"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/directory/odata"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// The handlers of the routes table: decode → Service → encode. Each write is audited once it
// has succeeded (denials are audited in serve, and a grant of Graph's permissions refused by
// createAppRoleAssignment in create).

// segKey reads the key of an application or service principal segment: an object id, or
// (appId='…'). A malformed GUID is a 400, as in Graph.
func segKey(seg odata.Segment) (Key, error) {
	if seg.AltKeyName != "" {
		id, err := objectID(seg.AltKeyValue)
		return Key{AppID: id}, err
	}
	id, err := objectID(seg.Key)
	return Key{ID: id}, err
}

// keyLookup maps an indexed filter (id eq, appId eq, servicePrincipalNames/any(x:x eq)) to a Key.
func keyLookup(op, field, value string, names bool) (Key, bool) {
	switch {
	case op == odata.OpEq && strings.EqualFold(field, "id"):
		return Key{ID: strings.ToLower(value)}, true
	case op == odata.OpEq && strings.EqualFold(field, "appId"):
		return Key{AppID: strings.ToLower(value)}, true
	case names && op == odata.OpAny && strings.EqualFold(field, "servicePrincipalNames") && value != "":
		if guid.Valid(value) {
			return Key{AppID: strings.ToLower(value)}, true
		}
		return Key{Name: value}, true
	}
	return Key{}, false
}

func noContent(c *call) error {
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// Applications.

func (s *Service) listApplications(c *call) error {
	return list(s, c, listing[Application]{
		typ: applicationType, context: "applications", render: applicationJSON,
		id: func(a Application) string { return a.ID },
		fetch: func(after string, n int) ([]Application, error) {
			return s.Store.ListApplications(c.ctx, c.tenant, after, n)
		},
		byName: func(prefix, after string, n int) ([]Application, error) {
			return s.Store.ListApplicationsByName(c.ctx, c.tenant, prefix, after, n)
		},
		lookup: func(op, field, value string) ([]Application, bool, error) {
			key, ok := keyLookup(op, field, value, false)
			if !ok {
				return nil, false, nil
			}
			a, err := s.Store.GetApplication(c.ctx, c.tenant, key)
			return []Application{a}, true, err
		},
	})
}

func (s *Service) postApplication(c *call) error {
	var b applicationBody
	if err := decodeBody(c.r, &b, applicationType.name); err != nil {
		return err
	}
	app, err := s.createApplication(c.ctx, c.tenant, b.input())
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, app.ID, "appId="+app.AppID); err != nil {
		return err
	}
	s.writeEntity(c, http.StatusCreated, "applications", applicationJSON(app), nil)
	return nil
}

func (s *Service) getApplicationRoute(c *call) error {
	key, err := segKey(c.seg(0))
	if err != nil {
		return err
	}
	app, err := s.getApplication(c.ctx, c.tenant, key)
	if err != nil {
		return err
	}
	return s.getEntity(c, applicationType, "applications", applicationJSON(app))
}

func (s *Service) patchApplication(c *call) error {
	key, err := segKey(c.seg(0))
	if err != nil {
		return err
	}
	var b applicationBody
	if err := decodeBody(c.r, &b, applicationType.name); err != nil {
		return err
	}
	app, err := s.updateApplication(c.ctx, c.tenant, key, b.input())
	if err != nil {
		return err
	}
	var changed []string
	for name, set := range map[string]bool{"displayName": b.DisplayName != nil, "identifierUris": b.IdentifierURIs != nil,
		"appRoles": b.AppRoles != nil, "signInAudience": b.SignInAudience != nil} {
		if set {
			changed = append(changed, name)
		}
	}
	if err := s.record(c, audit.Success, app.ID, "appId="+app.AppID+" changed="+strings.Join(slices.Sorted(slices.Values(changed)), ",")); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Service) deleteApplicationRoute(c *call) error {
	key, err := segKey(c.seg(0))
	if err != nil {
		return err
	}
	app, err := s.deleteApplication(c.ctx, c.tenant, key)
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, app.ID, "appId="+app.AppID); err != nil {
		return err
	}
	return noContent(c)
}

// Service principals.

func (s *Service) spLookup(c *call) func(op, field, value string) ([]ServicePrincipal, bool, error) {
	return func(op, field, value string) ([]ServicePrincipal, bool, error) {
		key, ok := keyLookup(op, field, value, true)
		if !ok {
			return nil, false, nil
		}
		sp, err := s.Store.GetServicePrincipal(c.ctx, c.tenant, key)
		return []ServicePrincipal{sp}, true, err
	}
}

func (s *Service) listServicePrincipals(c *call) error {
	return list(s, c, listing[ServicePrincipal]{
		typ: servicePrincipalType, context: "servicePrincipals", render: servicePrincipalJSON,
		id: func(sp ServicePrincipal) string { return sp.ID },
		fetch: func(after string, n int) ([]ServicePrincipal, error) {
			return s.Store.ListServicePrincipals(c.ctx, c.tenant, after, n)
		},
		byName: func(prefix, after string, n int) ([]ServicePrincipal, error) {
			return s.Store.ListServicePrincipalsByName(c.ctx, c.tenant, prefix, after, n)
		},
		lookup: s.spLookup(c),
	})
}

func (s *Service) postServicePrincipal(c *call) error {
	var b servicePrincipalBody
	if err := decodeBody(c.r, &b, servicePrincipalType.name); err != nil {
		return err
	}
	sp, err := s.createServicePrincipal(c.ctx, c.tenant, servicePrincipalInput{
		AppID: b.AppID, AccountEnabled: b.AccountEnabled, AppRoleAssignmentRequired: b.AppRoleAssignmentRequired,
	})
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, sp.ID, "appId="+sp.AppID); err != nil {
		return err
	}
	s.writeEntity(c, http.StatusCreated, "servicePrincipals", servicePrincipalJSON(sp), nil)
	return nil
}

func (s *Service) getServicePrincipalRoute(c *call) error {
	key, err := segKey(c.seg(0))
	if err != nil {
		return err
	}
	sp, err := s.getServicePrincipal(c.ctx, c.tenant, key)
	if err != nil {
		return err
	}
	return s.getEntity(c, servicePrincipalType, "servicePrincipals", servicePrincipalJSON(sp))
}

func (s *Service) deleteServicePrincipalRoute(c *call) error {
	key, err := segKey(c.seg(0))
	if err != nil {
		return err
	}
	sp, err := s.deleteServicePrincipal(c.ctx, c.tenant, key)
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, sp.ID, "appId="+sp.AppID); err != nil {
		return err
	}
	return noContent(c)
}

// App role assignments, through either end: assignments(true) is servicePrincipals/{id}/
// appRoleAssignedTo (the addressed service principal is the resource), assignments(false) is
// servicePrincipals/{id}/appRoleAssignments (it is the principal).
type assignments bool

func (a assignments) nav() string {
	if a {
		return "appRoleAssignedTo"
	}
	return "appRoleAssignments"
}

func (a assignments) anchor(s *Service, c *call) (ServicePrincipal, error) {
	key, err := segKey(c.seg(0))
	if err != nil {
		return ServicePrincipal{}, err
	}
	return s.getServicePrincipal(c.ctx, c.tenant, key)
}

func (a assignments) context(sp ServicePrincipal) string {
	return "servicePrincipals('" + sp.ID + "')/" + a.nav()
}

func (a assignments) list(s *Service, c *call) error {
	sp, err := a.anchor(s, c)
	if err != nil {
		return err
	}
	of := AssignmentsOf{PrincipalID: sp.ID}
	if a {
		of = AssignmentsOf{ResourceID: sp.ID}
	}
	return list(s, c, listing[AppRoleAssignment]{
		typ: assignmentType, context: a.context(sp), render: assignmentJSON,
		id: func(x AppRoleAssignment) string { return x.ID },
		fetch: func(after string, n int) ([]AppRoleAssignment, error) {
			return s.Store.ListAppRoleAssignments(c.ctx, c.tenant, of, after, n)
		},
	})
}

func (a assignments) create(s *Service, c *call) error {
	sp, err := a.anchor(s, c)
	if err != nil {
		return err
	}
	var b assignmentBody
	if err := decodeBody(c.r, &b, assignmentType.name); err != nil {
		return err
	}
	out, err := s.createAppRoleAssignment(c.ctx, c.p, c.tenant, sp, bool(a), assignmentInput{
		PrincipalID: b.PrincipalID, ResourceID: b.ResourceID, AppRoleID: b.AppRoleID, PrincipalType: b.PrincipalType,
	})
	if errs.Is(err, errs.Denied) {
		if aerr := s.record(c, audit.Denied, c.path.String(), "graph appRole="+b.AppRoleID); aerr != nil {
			return aerr
		}
	}
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, out.ID, "principal="+out.PrincipalID+" resource="+out.ResourceID+" appRole="+out.AppRoleID); err != nil {
		return err
	}
	s.writeEntity(c, http.StatusCreated, a.context(sp), assignmentJSON(out), nil)
	return nil
}

func (a assignments) get(s *Service, c *call) error {
	sp, err := a.anchor(s, c)
	if err != nil {
		return err
	}
	id := c.seg(1).Key
	x, err := s.Store.GetAppRoleAssignment(c.ctx, c.tenant, id)
	if err != nil {
		return orNotFound(err, id)
	}
	if (a && x.ResourceID != sp.ID) || (!a && x.PrincipalID != sp.ID) {
		return notFound(id)
	}
	return s.getEntity(c, assignmentType, a.context(sp), assignmentJSON(x))
}

func (a assignments) delete(s *Service, c *call) error {
	sp, err := a.anchor(s, c)
	if err != nil {
		return err
	}
	x, err := s.deleteAppRoleAssignment(c.ctx, c.tenant, sp, bool(a), c.seg(1).Key)
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, x.ID, "principal="+x.PrincipalID+" resource="+x.ResourceID+" appRole="+x.AppRoleID); err != nil {
		return err
	}
	return noContent(c)
}

// Groups.

func (s *Service) listGroups(c *call) error {
	return list(s, c, listing[Group]{
		typ: groupType, context: "groups", render: groupJSON,
		id: func(g Group) string { return g.ID },
		fetch: func(after string, n int) ([]Group, error) {
			return s.Store.ListGroups(c.ctx, c.tenant, after, n)
		},
		lookup: func(op, field, value string) ([]Group, bool, error) {
			if op != odata.OpEq || !strings.EqualFold(field, "id") {
				return nil, false, nil
			}
			g, err := s.Store.GetGroup(c.ctx, c.tenant, strings.ToLower(value))
			return []Group{g}, true, err
		},
	})
}

func (s *Service) postGroup(c *call) error {
	var b groupBody
	if err := decodeBody(c.r, &b, groupType.name); err != nil {
		return err
	}
	g, err := s.createGroup(c.ctx, c.tenant, groupInput{
		DisplayName: b.DisplayName, Description: b.Description, MailNickname: b.MailNickname,
		SecurityEnabled: b.SecurityEnabled, MailEnabled: b.MailEnabled, GroupTypes: b.GroupTypes,
	})
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, g.ID, ""); err != nil {
		return err
	}
	s.writeEntity(c, http.StatusCreated, "groups", groupJSON(g), nil)
	return nil
}

func (s *Service) groupOf(c *call) (Group, error) {
	id, err := objectID(c.seg(0).Key)
	if err != nil {
		return Group{}, err
	}
	return s.getGroup(c.ctx, c.tenant, id)
}

func (s *Service) getGroupRoute(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	return s.getEntity(c, groupType, "groups", groupJSON(g))
}

func (s *Service) deleteGroupRoute(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteGroup(c.ctx, c.tenant, g.ID); err != nil {
		return orNotFound(err, g.ID)
	}
	if err := s.record(c, audit.Success, g.ID, ""); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Service) listMembers(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	return list(s, c, listing[ServicePrincipal]{
		typ: servicePrincipalType, context: "directoryObjects", render: memberJSON,
		id: func(sp ServicePrincipal) string { return sp.ID },
		fetch: func(after string, n int) ([]ServicePrincipal, error) {
			members, err := s.Store.ListGroupMembers(c.ctx, c.tenant, g.ID, after, n)
			return members, orNotFound(err, g.ID)
		},
	})
}

func (s *Service) addMember(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	var b refBody
	if err := decodeBody(c.r, &b, "microsoft.graph.directoryObject"); err != nil {
		return err
	}
	member, err := memberRef(b.ODataID)
	if err != nil {
		return err
	}
	if err := s.addGroupMember(c.ctx, c.tenant, g.ID, member); err != nil {
		return err
	}
	if err := s.record(c, audit.Success, g.ID, "member="+member); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Service) removeMember(c *call) error {
	id, err := objectID(c.seg(0).Key)
	if err != nil {
		return err
	}
	member, err := objectID(c.seg(1).Key)
	if err != nil {
		return err
	}
	if err := s.removeGroupMember(c.ctx, c.tenant, id, member); err != nil {
		return err
	}
	if err := s.record(c, audit.Success, id, "member="+member); err != nil {
		return err
	}
	return noContent(c)
}

// Directory role assignments.

const roleAssignmentsContext = "roleManagement/directory/roleAssignments"

func (s *Service) listRoleAssignments(c *call) error {
	return list(s, c, listing[DirectoryRoleAssignment]{
		typ: roleAssignmentType, context: roleAssignmentsContext, render: roleAssignmentJSON,
		id: func(a DirectoryRoleAssignment) string { return a.ID },
		fetch: func(after string, n int) ([]DirectoryRoleAssignment, error) {
			return s.Store.ListDirectoryRoleAssignments(c.ctx, c.tenant, after, n)
		},
	})
}

func (s *Service) postRoleAssignment(c *call) error {
	var b roleAssignmentBody
	if err := decodeBody(c.r, &b, roleAssignmentType.name); err != nil {
		return err
	}
	a, err := s.createRoleAssignment(c.ctx, c.tenant, roleAssignmentInput{
		PrincipalID: b.PrincipalID, RoleDefinitionID: b.RoleDefinitionID, DirectoryScopeID: b.DirectoryScopeID,
	})
	if err != nil {
		return err
	}
	if err := s.record(c, audit.Success, a.ID, "principal="+a.PrincipalID+" role="+a.RoleDefinitionID); err != nil {
		return err
	}
	s.writeEntity(c, http.StatusCreated, roleAssignmentsContext, roleAssignmentJSON(a), nil)
	return nil
}

func (s *Service) getRoleAssignmentRoute(c *call) error {
	id := c.seg(2).Key
	a, err := s.Store.GetDirectoryRoleAssignment(c.ctx, c.tenant, id)
	if err != nil {
		return orNotFound(err, id)
	}
	return s.getEntity(c, roleAssignmentType, roleAssignmentsContext, roleAssignmentJSON(a))
}

func (s *Service) deleteRoleAssignmentRoute(c *call) error {
	id := c.seg(2).Key
	a, err := s.Store.GetDirectoryRoleAssignment(c.ctx, c.tenant, id)
	if err != nil {
		return orNotFound(err, id)
	}
	if err := s.Store.DeleteDirectoryRoleAssignment(c.ctx, c.tenant, id); err != nil {
		return orNotFound(err, id)
	}
	if err := s.record(c, audit.Success, a.ID, "principal="+a.PrincipalID+" role="+a.RoleDefinitionID); err != nil {
		return err
	}
	return noContent(c)
}
