package rbac

import "time"

// Permission is one entry of a role definition's permissions: control-plane actions and data
// actions, each granted by a pattern in Actions (DataActions) unless a pattern in NotActions
// (NotDataActions) also matches. Patterns use ARM's wildcards (see MatchAction).
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a role: a name and the permissions it grants wherever it is assigned.
type RoleDefinition struct {
	ID          string // GUID, lower case: ARM's id of the built-in role
	Name        string // roleName: "Owner", "Key Vault Secrets User"
	Description string
	Permissions []Permission
}

// Principal types ARM knows. Lanyard's directory has service principals only (groups later).
const PrincipalTypeServicePrincipal = "ServicePrincipal"

// Assignment grants a principal a role at a scope, and everywhere below it.
type Assignment struct {
	TenantID         string
	ID               string // the assignment's name, a GUID, lower case; unique in the tenant
	Scope            string // canonical ARM id of the scope (arm.ID.String()), "/" for the root
	RoleDefinitionID string // GUID of the role definition, lower case
	PrincipalID      string // object id of the principal, lower case
	PrincipalType    string // "ServicePrincipal"
	Description      string
	Created          time.Time
	CreatedBy        string // object id of the creator, or the administrator's audit name
}

// Grant is the part of an assignment the authorization question needs.
type Grant struct {
	ScopeKey         string // lower-cased canonical scope (arm.ID.Key())
	RoleDefinitionID string
}

// AssignmentQuery selects a tenant's role assignments for a list: those whose scope key is one of
// AtScopes, plus, when Below is not "", those whose scope key starts with Below; and only those
// of PrincipalID when it is not "". Keys and prefixes are lower case.
type AssignmentQuery struct {
	AtScopes    []string
	Below       string // a scope key followed by "/", or "/" for everything
	PrincipalID string
	// After, when set, starts the list after this (scope key, id) in the list's order; Limit, when
	// above 0, returns at most that many (a page).
	After *AssignmentCursor
	Limit int
}

// AssignmentCursor is a place in a list of role assignments, which is ordered by scope key then id.
type AssignmentCursor struct {
	ScopeKey, ID string
}
