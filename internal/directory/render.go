package directory

import (
	"slices"
	"strings"
)

// entityType is what $select and $filter may name on one Graph type.
type entityType struct {
	name       string   // full type name, for error messages
	properties []string // every property the API renders: $select accepts these
	filterable []string // the properties $filter accepts
	guids      []string // the filterable ones that are Edm.Guid: compared with unquoted GUIDs only
}

var (
	applicationType = entityType{
		name:       "microsoft.graph.application",
		properties: []string{"id", "appId", "displayName", "identifierUris", "appRoles", "signInAudience", "createdDateTime"},
		filterable: []string{"id", "appId", "displayName", "identifierUris", "signInAudience"},
	}
	servicePrincipalType = entityType{
		name: "microsoft.graph.servicePrincipal",
		properties: []string{"id", "appId", "displayName", "servicePrincipalType", "servicePrincipalNames", "alternativeNames",
			"appRoles", "accountEnabled", "appOwnerOrganizationId", "appRoleAssignmentRequired"},
		filterable: []string{"id", "appId", "displayName", "servicePrincipalType", "servicePrincipalNames", "alternativeNames",
			"accountEnabled", "appOwnerOrganizationId", "appRoleAssignmentRequired"},
		guids: []string{"appOwnerOrganizationId"},
	}
	assignmentType = entityType{
		name: "microsoft.graph.appRoleAssignment",
		properties: []string{"id", "deletedDateTime", "appRoleId", "createdDateTime", "principalDisplayName", "principalId",
			"principalType", "resourceDisplayName", "resourceId"},
		filterable: []string{"id", "appRoleId", "principalDisplayName", "principalId", "principalType", "resourceDisplayName", "resourceId"},
		guids:      []string{"appRoleId", "principalId", "resourceId"},
	}
	groupType = entityType{
		name: "microsoft.graph.group",
		properties: []string{"id", "displayName", "description", "mailNickname", "securityEnabled", "mailEnabled",
			"groupTypes", "createdDateTime"},
		filterable: []string{"id", "displayName", "description", "mailNickname", "securityEnabled", "mailEnabled", "groupTypes"},
	}
	roleAssignmentType = entityType{
		name:       "microsoft.graph.unifiedRoleAssignment",
		properties: []string{"id", "principalId", "roleDefinitionId", "directoryScopeId"},
		filterable: []string{"id", "principalId", "roleDefinitionId", "directoryScopeId"},
	}
)

// filterName returns the canonical name of a filterable property, matched regardless of case.
func (t entityType) filterName(field string) (string, bool) {
	i := slices.IndexFunc(t.filterable, func(f string) bool { return strings.EqualFold(f, field) })
	if i < 0 {
		return "", false
	}
	return t.filterable[i], true
}

// Times as Graph writes them: whole seconds for objects, 7 fractional digits for assignments.
const (
	secondsLayout = "2006-01-02T15:04:05Z"
	ticksLayout   = "2006-01-02T15:04:05.0000000Z"
)

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func strs(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func roles(v []AppRole) []AppRole {
	if v == nil {
		return []AppRole{}
	}
	return v
}

// Every rendering holds only string, bool, nil, []string and (not filterable) []AppRole values:
// what odata's Eval and Project work on.

func applicationJSON(a Application) map[string]any {
	return map[string]any{
		"id": a.ID, "appId": a.AppID, "displayName": a.DisplayName, "identifierUris": strs(a.IdentifierURIs),
		"appRoles": roles(a.AppRoles), "signInAudience": a.SignInAudience,
		"createdDateTime": a.Created.UTC().Format(secondsLayout),
	}
}

func servicePrincipalJSON(sp ServicePrincipal) map[string]any {
	return map[string]any{
		"id": sp.ID, "appId": sp.AppID, "displayName": sp.DisplayName, "servicePrincipalType": sp.Type,
		"servicePrincipalNames": strs(sp.ServicePrincipalNames), "alternativeNames": strs(sp.AlternativeNames),
		"appRoles": roles(sp.AppRoles), "accountEnabled": sp.AccountEnabled,
		"appOwnerOrganizationId": orNull(sp.AppOwnerOrganizationID), "appRoleAssignmentRequired": sp.AppRoleAssignmentRequired,
	}
}

// memberJSON is a service principal in a collection of directory objects.
func memberJSON(sp ServicePrincipal) map[string]any {
	m := servicePrincipalJSON(sp)
	m["@odata.type"] = "#microsoft.graph.servicePrincipal"
	return m
}

func assignmentJSON(a AppRoleAssignment) map[string]any {
	return map[string]any{
		"id": a.ID, "deletedDateTime": nil, "appRoleId": a.AppRoleID, "createdDateTime": a.Created.UTC().Format(ticksLayout),
		"principalDisplayName": a.PrincipalDisplayName, "principalId": a.PrincipalID, "principalType": principalTypeServicePrincipal,
		"resourceDisplayName": a.ResourceDisplayName, "resourceId": a.ResourceID,
	}
}

func groupJSON(g Group) map[string]any {
	return map[string]any{
		"id": g.ID, "displayName": g.DisplayName, "description": orNull(g.Description), "mailNickname": g.MailNickname,
		"securityEnabled": g.SecurityEnabled, "mailEnabled": g.MailEnabled, "groupTypes": strs(g.GroupTypes),
		"createdDateTime": g.Created.UTC().Format(secondsLayout),
	}
}

func roleAssignmentJSON(a DirectoryRoleAssignment) map[string]any {
	return map[string]any{
		"id": a.ID, "principalId": a.PrincipalID, "roleDefinitionId": a.RoleDefinitionID, "directoryScopeId": a.DirectoryScopeID,
	}
}
