package rbac

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// ARM's error codes for role assignments and definitions.
const (
	CodeRoleAssignmentExists             = "RoleAssignmentExists"
	CodeRoleAssignmentNotFound           = "RoleAssignmentNotFound"
	CodeRoleAssignmentUpdateNotPermitted = "RoleAssignmentUpdateNotPermitted"
	CodeInvalidRoleAssignmentID          = "InvalidRoleAssignmentId"
	CodeRoleDefinitionDoesNotExist       = "RoleDefinitionDoesNotExist"
	CodeInvalidRoleDefinitionID          = "InvalidRoleDefinitionId"
	CodeInvalidPrincipalID               = "InvalidPrincipalId"
	CodePrincipalNotFound                = "PrincipalNotFound"
	CodeUnmatchedPrincipalType           = "UnmatchedPrincipalType"
)

// AssignmentInput is what a caller asks for when creating a role assignment.
type AssignmentInput struct {
	RoleDefinitionID string // a role definition id: /subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid} or /providers/...
	PrincipalID      string
	PrincipalType    string // "" means ServicePrincipal
	Description      string
}

// principalTypes are the values ARM accepts for principalType, in its casing.
var principalTypes = []string{"User", "Group", PrincipalTypeServicePrincipal, "ForeignGroup", "Device"}

// maxDescription bounds a role assignment's description, in characters.
const maxDescription = 2048

// CreateRoleAssignment creates the role assignment named name (a GUID) at scope, for the caller
// in ctx, who needs Microsoft.Authorization/roleAssignments/write there. It is idempotent: when
// the assignment exists with the same scope, role and principal it is returned with created
// false. Errors carry ARM's codes: 409 RoleAssignmentExists (the principal holds the role at
// the scope under another name), 409 RoleAssignmentUpdateNotPermitted (the name is taken by a
// different assignment), 400 RoleDefinitionDoesNotExist, InvalidPrincipalId, PrincipalNotFound,
// UnmatchedPrincipalType, InvalidRoleAssignmentId.
func (s *Service) CreateRoleAssignment(ctx context.Context, tenantID string, scope arm.ID, name string, in AssignmentInput) (a Assignment, created bool, err error) {
	p, err := caller(ctx)
	if err != nil {
		return Assignment{}, false, err
	}
	if err := s.assignmentScope(ctx, tenantID, scope); err != nil {
		return Assignment{}, false, err
	}
	if err := validateAssignmentName(name); err != nil {
		return Assignment{}, false, err
	}
	if err := s.Check(ctx, p, tenantID, ActionRoleAssignmentsWrite, scope); err != nil {
		return Assignment{}, false, err
	}
	role, err := roleFromID(in.RoleDefinitionID)
	if err != nil {
		return Assignment{}, false, err
	}
	if !guid.Valid(in.PrincipalID) {
		return Assignment{}, false, arm.E(errs.Invalid, CodeInvalidPrincipalID,
			"A valid principal ID must be provided for role assignment.")
	}
	principalID := strings.ToLower(in.PrincipalID)
	ptype, err := principalType(in.PrincipalType)
	if err != nil {
		return Assignment{}, false, err
	}
	if utf8.RuneCountInString(in.Description) > maxDescription {
		return Assignment{}, false, arm.E(errs.Invalid, arm.CodeInvalidRequestContent,
			"The role assignment description must be at most %d characters.", maxDescription)
	}
	principalNotFound := arm.E(errs.Invalid, CodePrincipalNotFound,
		"Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", principalID, tenantID)
	if s.Principals != nil {
		ok, err := s.Principals.PrincipalExists(ctx, tenantID, principalID)
		if err != nil {
			return Assignment{}, false, err
		}
		if !ok {
			return Assignment{}, false, principalNotFound
		}
	}
	if ptype != PrincipalTypeServicePrincipal {
		return Assignment{}, false, arm.E(errs.Invalid, CodeUnmatchedPrincipalType,
			"The PrincipalId '%s' has type '%s', which is different from specified PrincipalType '%s'.",
			principalID, PrincipalTypeServicePrincipal, ptype)
	}
	a = Assignment{
		TenantID: tenantID, ID: strings.ToLower(name), Scope: scope.String(), RoleDefinitionID: role.ID,
		PrincipalID: principalID, PrincipalType: ptype, Description: in.Description,
		Created: s.now(), CreatedBy: createdBy(p.ObjectID, p.Actor),
	}
	if old, err := s.Store.GetRoleAssignment(ctx, tenantID, a.ID); err == nil {
		return sameAssignment(old, a)
	} else if !errs.Is(err, errs.NotFound) {
		return Assignment{}, false, err
	}
	switch err := s.Store.CreateRoleAssignment(ctx, a); {
	case errs.Is(err, errs.Conflict):
		// Another request created it under this name in between, or the triple exists.
		if old, gerr := s.Store.GetRoleAssignment(ctx, tenantID, a.ID); gerr == nil {
			return sameAssignment(old, a)
		}
		return Assignment{}, false, arm.E(errs.Conflict, CodeRoleAssignmentExists, "The role assignment already exists.")
	case errs.Is(err, errs.NotFound):
		return Assignment{}, false, principalNotFound
	case err != nil:
		return Assignment{}, false, err
	}
	if err := s.record(ctx, p, "rbac.roleAssignment.create", assignmentARMID(a), audit.Success,
		"role="+role.Name+" principal="+a.PrincipalID); err != nil {
		return Assignment{}, false, err
	}
	return a, true, nil
}

// sameAssignment answers a create whose name is taken by old: old itself when it is the same
// grant, ARM's 409 otherwise.
func sameAssignment(old, want Assignment) (Assignment, bool, error) {
	if strings.EqualFold(old.Scope, want.Scope) && old.RoleDefinitionID == want.RoleDefinitionID && old.PrincipalID == want.PrincipalID {
		return old, false, nil
	}
	return Assignment{}, false, arm.E(errs.Conflict, CodeRoleAssignmentUpdateNotPermitted,
		"Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
}

func createdBy(objectID, actor string) string {
	if objectID != "" {
		return objectID
	}
	return actor
}

// GetRoleAssignment returns the role assignment named name at scope; the caller needs
// Microsoft.Authorization/roleAssignments/read there. 404 RoleAssignmentNotFound when there is
// none (an assignment of that name at another scope is not this one).
func (s *Service) GetRoleAssignment(ctx context.Context, tenantID string, scope arm.ID, name string) (Assignment, error) {
	p, err := caller(ctx)
	if err != nil {
		return Assignment{}, err
	}
	if err := s.assignmentScope(ctx, tenantID, scope); err != nil {
		return Assignment{}, err
	}
	if err := validateAssignmentName(name); err != nil {
		return Assignment{}, err
	}
	if err := s.Check(ctx, p, tenantID, ActionRoleAssignmentsRead, scope); err != nil {
		return Assignment{}, err
	}
	a, err := s.Store.GetRoleAssignment(ctx, tenantID, strings.ToLower(name))
	if errs.Is(err, errs.NotFound) || err == nil && !strings.EqualFold(a.Scope, scope.String()) {
		return Assignment{}, arm.E(errs.NotFound, CodeRoleAssignmentNotFound, "The role assignment '%s' is not found.", name)
	}
	return a, err
}

// DeleteRoleAssignment deletes the role assignment named name at scope and returns it; found is
// false when there was none (ARM answers 204 then). The caller needs
// Microsoft.Authorization/roleAssignments/delete at scope.
func (s *Service) DeleteRoleAssignment(ctx context.Context, tenantID string, scope arm.ID, name string) (a Assignment, found bool, err error) {
	p, err := caller(ctx)
	if err != nil {
		return Assignment{}, false, err
	}
	if err := s.assignmentScope(ctx, tenantID, scope); err != nil {
		return Assignment{}, false, err
	}
	if err := validateAssignmentName(name); err != nil {
		return Assignment{}, false, err
	}
	if err := s.Check(ctx, p, tenantID, ActionRoleAssignmentsDelete, scope); err != nil {
		return Assignment{}, false, err
	}
	id := strings.ToLower(name)
	a, err = s.Store.GetRoleAssignment(ctx, tenantID, id)
	if errs.Is(err, errs.NotFound) || err == nil && !strings.EqualFold(a.Scope, scope.String()) {
		return Assignment{}, false, nil
	}
	if err != nil {
		return Assignment{}, false, err
	}
	a, err = s.Store.DeleteRoleAssignment(ctx, tenantID, id)
	if errs.Is(err, errs.NotFound) {
		return Assignment{}, false, nil
	}
	if err != nil {
		return Assignment{}, false, err
	}
	if err := s.record(ctx, p, "rbac.roleAssignment.delete", assignmentARMID(a), audit.Success,
		"role="+a.RoleDefinitionID+" principal="+a.PrincipalID); err != nil {
		return Assignment{}, false, err
	}
	return a, true, nil
}

// ListRoleAssignments lists the role assignments that apply at scope, as ARM does: with
// f.AtScope those at the scope or above it; otherwise those at, above and below it; only
// f.PrincipalID's when that is set. The caller needs Microsoft.Authorization/roleAssignments/read
// at scope.
func (s *Service) ListRoleAssignments(ctx context.Context, tenantID string, scope arm.ID, f AssignmentFilter) ([]Assignment, error) {
	list, _, err := s.ListRoleAssignmentsPage(ctx, tenantID, scope, f, nil, 0)
	return list, err
}

// ListRoleAssignmentsPage is ListRoleAssignments one page at a time: at most top assignments
// (all when top is 0) after the cursor after (from the start when nil), in the order of scope
// then id, and the cursor of the next page (nil after the last).
func (s *Service) ListRoleAssignmentsPage(ctx context.Context, tenantID string, scope arm.ID, f AssignmentFilter, after *AssignmentCursor, top int) ([]Assignment, *AssignmentCursor, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := s.assignmentScope(ctx, tenantID, scope); err != nil {
		return nil, nil, err
	}
	if err := s.Check(ctx, p, tenantID, ActionRoleAssignmentsRead, scope); err != nil {
		return nil, nil, err
	}
	var q AssignmentQuery
	for id := scope; !id.IsRoot(); id = id.Parent() {
		q.AtScopes = append(q.AtScopes, id.Key())
	}
	if !f.AtScope {
		q.Below = scope.Key() + "/"
	}
	q.PrincipalID = strings.ToLower(f.PrincipalID)
	q.After = after
	if top > 0 {
		q.Limit = top + 1 // one more tells whether there is a next page
	}
	list, err := s.Store.ListRoleAssignments(ctx, tenantID, q)
	if err != nil || top <= 0 || len(list) <= top {
		return list, nil, err
	}
	list = list[:top]
	last := list[top-1]
	key := strings.ToLower(last.Scope)
	if id, err := arm.Parse(last.Scope); err == nil {
		key = id.Key()
	}
	return list, &AssignmentCursor{ScopeKey: key, ID: last.ID}, nil
}

// RoleDefinition returns the built-in role definition with the GUID name, as seen at scope. At
// a subscription scope (or below) the subscription must be the caller's and the caller needs
// Microsoft.Authorization/roleDefinitions/read there; at the root and tenant level the built-in
// definitions are public to every authenticated caller, as they are in Azure.
func (s *Service) RoleDefinition(ctx context.Context, tenantID string, scope arm.ID, name string) (RoleDefinition, error) {
	if err := s.definitionScope(ctx, tenantID, scope); err != nil {
		return RoleDefinition{}, err
	}
	d, ok := RoleByID(name)
	if !ok {
		return RoleDefinition{}, arm.E(errs.NotFound, CodeRoleDefinitionDoesNotExist,
			"The specified role definition with ID '%s' does not exist.", name)
	}
	return d, nil
}

// ListRoleDefinitions lists the role definitions f selects, as seen at scope (see RoleDefinition).
func (s *Service) ListRoleDefinitions(ctx context.Context, tenantID string, scope arm.ID, f DefinitionFilter) ([]RoleDefinition, error) {
	if err := s.definitionScope(ctx, tenantID, scope); err != nil {
		return nil, err
	}
	var out []RoleDefinition
	for _, d := range builtins {
		if f.RoleName != "" && !strings.EqualFold(f.RoleName, d.Name) {
			continue
		}
		if f.Type != "" && !strings.EqualFold(f.Type, roleTypeBuiltIn) {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *Service) definitionScope(ctx context.Context, tenantID string, scope arm.ID) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	if scope.SubscriptionID() == "" {
		return nil
	}
	if err := s.checkSubscription(ctx, tenantID, scope); err != nil {
		return err
	}
	return s.Check(ctx, p, tenantID, ActionRoleDefinitionsRead, scope)
}

func validateAssignmentName(name string) error {
	if !guid.Valid(name) {
		return arm.E(errs.Invalid, CodeInvalidRoleAssignmentID,
			"The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", clip(name))
	}
	return nil
}

// roleFromID finds the built-in role a role definition id names.
func roleFromID(s string) (RoleDefinition, error) {
	id, err := arm.Parse(s)
	if err != nil || id.Kind() != arm.KindResource || !strings.EqualFold(id.ResourceType(), roleDefinitionsResourceType) || !guid.Valid(id.Name()) {
		return RoleDefinition{}, arm.E(errs.Invalid, CodeInvalidRoleDefinitionID,
			"The role definition ID '%s' is not valid. Expected '/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/{guid}'.", clip(s))
	}
	d, ok := RoleByID(id.Name())
	if !ok {
		return RoleDefinition{}, arm.E(errs.Invalid, CodeRoleDefinitionDoesNotExist,
			"The specified role definition with ID '%s' does not exist.", strings.ToLower(id.Name()))
	}
	return d, nil
}

func principalType(t string) (string, error) {
	if t == "" {
		return PrincipalTypeServicePrincipal, nil
	}
	for _, pt := range principalTypes {
		if strings.EqualFold(t, pt) {
			return pt, nil
		}
	}
	return "", arm.E(errs.Invalid, arm.CodeInvalidRequestContent,
		"The principal type '%s' is invalid. The supported types are '%s'.", clip(t), strings.Join(principalTypes, ","))
}

// clip bounds caller input repeated in a message.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) > 200 {
		return string([]rune(s)[:200]) + "..."
	}
	return s
}
