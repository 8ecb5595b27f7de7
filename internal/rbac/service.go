package rbac

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Recorder is the audit dependency.
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (audit.Event, error)
}

// PrincipalChecker says whether an object id names a principal of a tenant (the directory).
type PrincipalChecker interface {
	PrincipalExists(ctx context.Context, tenantID, id string) (bool, error)
}

// SubscriptionResolver says which tenant a subscription belongs to (the resources domain);
// errs.NotFound for an unknown subscription.
type SubscriptionResolver interface {
	SubscriptionTenant(ctx context.Context, subscriptionID string) (tenantID string, err error)
}

// PrincipalExistsFunc adapts a function to PrincipalChecker.
type PrincipalExistsFunc func(ctx context.Context, tenantID, id string) (bool, error)

// PrincipalExists calls f.
func (f PrincipalExistsFunc) PrincipalExists(ctx context.Context, tenantID, id string) (bool, error) {
	return f(ctx, tenantID, id)
}

// SubscriptionTenantFunc adapts a function to SubscriptionResolver.
type SubscriptionTenantFunc func(ctx context.Context, subscriptionID string) (string, error)

// SubscriptionTenant calls f.
func (f SubscriptionTenantFunc) SubscriptionTenant(ctx context.Context, subscriptionID string) (string, error) {
	return f(ctx, subscriptionID)
}

// Authenticator says who is calling (the server sets an *authn.Bearer for the management API's
// audiences, which also passes the admin socket's principal through).
type Authenticator interface {
	Authenticate(r *http.Request) (authn.Principal, error)
}

// Service holds the rules of RBAC.
type Service struct {
	Store         Store
	Principals    PrincipalChecker     // nil: only the store's foreign key checks principals
	Subscriptions SubscriptionResolver // nil: no subscription exists, every scope is refused
	Auth          Authenticator
	Audit         Recorder
	Now           func() time.Time
	// DefaultTenant names the tenant of an administrator's requests unless the X-Lanyard-Tenant
	// header names another.
	DefaultTenant func() string
	// Shape renders errors; nil: httpx.ARMShape("").
	Shape httpx.Shape

	grants grantIndex
}

// The actions RBAC's own routes require at their scope.
const (
	ActionRoleAssignmentsRead   = "Microsoft.Authorization/roleAssignments/read"
	ActionRoleAssignmentsWrite  = "Microsoft.Authorization/roleAssignments/write"
	ActionRoleAssignmentsDelete = "Microsoft.Authorization/roleAssignments/delete"
	ActionRoleDefinitionsRead   = "Microsoft.Authorization/roleDefinitions/read"
)

// Allowed answers the one question: may the principal perform action at scope? It reads the
// principal's role assignments as of the store's current state (see grantIndex: the tenant's RBAC
// generation is read on every call, the assignments only when it has changed) and grants the action when
// one of them is at scope or above it and its role allows the action on its plane (data actions
// when data is true; control-plane actions never grant data actions nor the other way round).
// Not-actions only narrow the permission they belong to: another assignment may still grant
// the action, as in Azure. A principal id that is not a GUID holds nothing.
func (s *Service) Allowed(ctx context.Context, tenantID, principalID, action string, scope arm.ID, data bool) (bool, error) {
	if tenantID == "" || !guid.Valid(principalID) {
		return false, nil
	}
	grants, err := s.grants.grants(ctx, s.Store, tenantID, strings.ToLower(principalID))
	if err != nil || len(grants) == 0 {
		return false, err
	}
	key, act := scope.Key(), strings.ToLower(action)
	for _, g := range grants {
		if arm.KeyWithin(key, g.ScopeKey) && roleAllows(g.RoleDefinitionID, act, data) {
			return true, nil
		}
	}
	return false, nil
}

// Check is Allowed for a caller of the management API, for a control-plane action: nil when p
// may perform action at scope in tenantID, otherwise errs.Denied with ARM's AuthorizationFailed
// message, and the denial is audited. An administrator on the admin socket is Owner at the root;
// a token caller of another tenant holds nothing.
func (s *Service) Check(ctx context.Context, p authn.Principal, tenantID, action string, scope arm.ID) error {
	if p.Admin {
		return nil
	}
	if p.TenantID != "" && strings.EqualFold(p.TenantID, tenantID) {
		ok, err := s.Allowed(ctx, tenantID, p.ObjectID, action, scope, false)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	s.record(ctx, p, "rbac.deny", scope.String(), audit.Denied, "action="+action)
	return AuthorizationFailed(p.ObjectID, action, scope)
}

// AuthorizationFailed is ARM's 403 for a principal that may not perform action at scope.
func AuthorizationFailed(objectID, action string, scope arm.ID) error {
	return arm.E(errs.Denied, arm.CodeAuthorizationFailed,
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' "+
			"or the scope is invalid. If access was recently granted, please refresh your credentials.",
		objectID, objectID, action, scope)
}

// record writes an audit event. A failed record of a denial does not change the answer; it is
// logged. A failed record of a write is returned by the caller (recordWrite).
func (s *Service) record(ctx context.Context, p authn.Principal, action, target, result, detail string) error {
	if s.Audit == nil {
		return nil
	}
	_, err := s.Audit.Record(ctx, audit.Event{
		Actor: actorOf(p), Action: action, Target: target, Result: result,
		RequestID: httpx.RequestID(ctx), Detail: detail,
	})
	if err != nil {
		httpx.Logger(ctx).ErrorContext(ctx, "audit record failed", "action", action, "error", err.Error())
	}
	return err
}

func actorOf(p authn.Principal) string {
	if p.Actor != "" {
		return p.Actor
	}
	if p.ObjectID != "" {
		return "sp:" + p.ObjectID
	}
	return "anonymous"
}

// caller returns the principal of ctx; errs.Unauthenticated when there is none.
func caller(ctx context.Context) (authn.Principal, error) {
	p, ok := authn.From(ctx)
	if !ok {
		return authn.Principal{}, arm.E(errs.Unauthenticated, arm.CodeAuthenticationFailed,
			"Authentication failed. The 'Authorization' header is missing.")
	}
	return p, nil
}

// checkSubscription refuses a scope whose subscription is not one of tenantID's, as ARM does:
// 404 SubscriptionNotFound (an unknown subscription and another tenant's look the same).
func (s *Service) checkSubscription(ctx context.Context, tenantID string, scope arm.ID) error {
	sub := scope.SubscriptionID()
	if sub == "" {
		return nil
	}
	notFound := arm.E(errs.NotFound, arm.CodeSubscriptionNotFound, "The subscription '%s' could not be found.", sub)
	if s.Subscriptions == nil {
		return notFound
	}
	t, err := s.Subscriptions.SubscriptionTenant(ctx, sub)
	switch {
	case errs.Is(err, errs.NotFound):
		return notFound
	case err != nil:
		return err
	case !strings.EqualFold(t, tenantID):
		return notFound
	}
	return nil
}

// assignmentScope checks that scope can hold role assignments (a subscription or anything in
// one) and belongs to tenantID.
func (s *Service) assignmentScope(ctx context.Context, tenantID string, scope arm.ID) error {
	if scope.SubscriptionID() == "" {
		return arm.E(errs.Invalid, arm.CodeMissingSubscription,
			"The request did not have a subscription or a valid tenant level resource provider.")
	}
	return s.checkSubscription(ctx, tenantID, scope)
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return s.Now().UTC().Truncate(time.Microsecond)
}
