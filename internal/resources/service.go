package resources

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Recorder is the audit dependency.
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (audit.Event, error)
}

// Access answers RBAC's question for the management API (rbac.Service does): Check for a
// caller, auditing a denial and answering ARM's AuthorizationFailed; Allowed without either.
type Access interface {
	Check(ctx context.Context, p authn.Principal, tenantID, action string, scope arm.ID) error
	Allowed(ctx context.Context, tenantID, principalID, action string, scope arm.ID, data bool) (bool, error)
}

// Identities makes managed identities' service principals without storing them
// (directory.Service does); the store inserts them with the resource that owns them.
type Identities interface {
	NewManagedIdentitySP(tenantID string, in directory.ManagedIdentityInput) (directory.ServicePrincipal, error)
}

// Authenticator says who is calling: the admin socket's principal already in the request's
// context, or the subject of a bearer token for the management API (an *authn.Bearer whose
// audiences are the Management service principal's identifiers).
type Authenticator interface {
	Authenticate(r *http.Request) (authn.Principal, error)
}

// TenantChecker says whether a tenant exists (tenant.Service does).
type TenantChecker interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Service holds the rules of resources and serves them in ARM's shape.
type Service struct {
	Store      Store
	Identities Identities
	Access     Access
	Auth       Authenticator
	Audit      Recorder
	Now        func() time.Time
	Rand       io.Reader // subscription ids; may be used from several goroutines
	// DefaultTenant names the tenant of an administrator's requests unless the X-Lanyard-Tenant
	// header names another.
	DefaultTenant func() string
	// Tenants, when set, checks the tenant an X-Lanyard-Tenant header names.
	Tenants TenantChecker
	// VaultDomain (host[:port]) and PublicURL make a vault's vaultUri (see VaultURI).
	VaultDomain string
	PublicURL   string
	// SiteDomain is the domain of a site's defaultHostName, {name}.{SiteDomain}.
	SiteDomain string
	// Shape renders errors; nil: httpx.ARMShape("").
	Shape httpx.Shape

	randMu sync.Mutex
}

// TenantHeader lets an administrator on the admin socket name the tenant of a request.
const TenantHeader = "X-Lanyard-Tenant"

// DefaultLocation is the location of a group or resource created without one.
const DefaultLocation = "local"

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return s.Now().UTC().Truncate(time.Microsecond)
}

// newGUID returns a random (version 4) GUID in lower case.
func (s *Service) newGUID() (string, error) {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	var b [16]byte
	if _, err := io.ReadFull(s.Rand, b[:]); err != nil {
		return "", errs.Wrap(errs.Internal, err, "read random bytes")
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String(), nil
}

func (s *Service) shape() httpx.Shape {
	if s.Shape != nil {
		return s.Shape
	}
	return httpx.ARMShape("")
}

// record writes an audit event; its failure is logged and returned.
func (s *Service) record(ctx context.Context, p authn.Principal, action, target, result, detail string) error {
	if s.Audit == nil {
		return nil
	}
	_, err := s.Audit.Record(ctx, audit.Event{
		Actor: actorOf(p), Action: action, Target: target, Result: result, RequestID: httpx.RequestID(ctx), Detail: detail,
	})
	if err != nil {
		httpx.Logger(ctx).ErrorContext(ctx, "audit record failed", "action", action, "error", err.Error())
	}
	return err
}

// recordWrite audits the outcome of a write: success, or failure with the error's kind.
func (s *Service) recordWrite(ctx context.Context, p authn.Principal, action, target, detail string, err error) error {
	if err != nil {
		if errs.KindOf(err) != errs.Denied { // denials are audited where they are decided
			_ = s.record(ctx, p, action, target, audit.Failure, strings.TrimSpace(detail+" error="+errs.KindOf(err).String()))
		}
		return err
	}
	return s.record(ctx, p, action, target, audit.Success, detail)
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

// tenantOf returns the tenant a request acts in: the token's, or for an administrator the
// default tenant unless the X-Lanyard-Tenant header names another.
func (s *Service) tenantOf(r *http.Request, p authn.Principal) (string, error) {
	if !p.Admin {
		if p.TenantID == "" {
			return "", errs.E(errs.Unauthenticated, "The access token names no tenant.")
		}
		return strings.ToLower(p.TenantID), nil
	}
	if h := r.Header.Get(TenantHeader); h != "" {
		if !guid.Valid(h) {
			return "", invalidContent("The %s header must be a tenant id (a GUID).", TenantHeader)
		}
		h = strings.ToLower(h)
		if s.Tenants != nil {
			ok, err := s.Tenants.Exists(r.Context(), h)
			if err != nil {
				return "", err
			}
			if !ok {
				return "", invalidContent("The tenant '%s' named by the %s header does not exist.", h, TenantHeader)
			}
		}
		return h, nil
	}
	if s.DefaultTenant != nil {
		if t := s.DefaultTenant(); t != "" {
			return t, nil
		}
	}
	return "", errs.E(errs.Unavailable, "the default tenant is not ready yet")
}

func invalidContent(format string, args ...any) error {
	return arm.E(errs.Invalid, arm.CodeInvalidRequestContent, format, args...)
}

// Subscriptions.

// EnsureDefaultSubscription creates tenantID's default subscription unless it has one, and
// returns it. The server runs it from tenant.Service.OnCreate and for every tenant at start.
func (s *Service) EnsureDefaultSubscription(ctx context.Context, tenantID string) (Subscription, error) {
	id, err := s.newGUID()
	if err != nil {
		return Subscription{}, err
	}
	return s.Store.EnsureDefaultSubscription(ctx, Subscription{
		TenantID: strings.ToLower(tenantID), ID: id, DisplayName: DefaultSubscriptionName, State: StateEnabled,
		Default: true, Created: s.now(),
	})
}

// SubscriptionTenant returns the tenant of a subscription; errs.NotFound for an unknown one. It
// makes Service an rbac.SubscriptionResolver.
func (s *Service) SubscriptionTenant(ctx context.Context, subscriptionID string) (string, error) {
	if !guid.Valid(subscriptionID) {
		return "", errs.E(errs.NotFound, "subscription %s not found", subscriptionID)
	}
	sub, err := s.Store.GetSubscription(ctx, strings.ToLower(subscriptionID))
	if err != nil {
		return "", err
	}
	return sub.TenantID, nil
}

// subscription returns the subscription subID of tenantID: 404 SubscriptionNotFound when it is
// unknown or another tenant's, as ARM answers.
func (s *Service) subscription(ctx context.Context, tenantID, subID string) (Subscription, error) {
	notFound := arm.E(errs.NotFound, arm.CodeSubscriptionNotFound, "The subscription '%s' could not be found.", clip(subID))
	if !guid.Valid(subID) {
		return Subscription{}, notFound
	}
	sub, err := s.Store.GetSubscription(ctx, strings.ToLower(subID))
	switch {
	case errs.Is(err, errs.NotFound):
		return Subscription{}, notFound
	case err != nil:
		return Subscription{}, err
	case sub.TenantID != tenantID:
		return Subscription{}, notFound
	}
	return sub, nil
}

// ListSubscriptions returns the subscriptions of tenantID that p may read.
func (s *Service) ListSubscriptions(ctx context.Context, p authn.Principal, tenantID string) ([]Subscription, error) {
	subs, err := s.Store.ListSubscriptions(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := subs[:0]
	for _, sub := range subs {
		ok, err := s.allowed(ctx, p, tenantID, ActionSubscriptionRead, arm.MustParse("/subscriptions/"+sub.ID))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, sub)
		}
	}
	return out, nil
}

// GetSubscription returns a subscription of tenantID that p may read.
func (s *Service) GetSubscription(ctx context.Context, p authn.Principal, tenantID, subID string) (Subscription, error) {
	sub, err := s.subscription(ctx, tenantID, subID)
	if err != nil {
		return Subscription{}, err
	}
	if err := s.Access.Check(ctx, p, tenantID, ActionSubscriptionRead, arm.MustParse("/subscriptions/"+sub.ID)); err != nil {
		return Subscription{}, err
	}
	return sub, nil
}

// allowed is Access.Allowed for a caller: an administrator may do anything; a token of another
// tenant nothing.
func (s *Service) allowed(ctx context.Context, p authn.Principal, tenantID, action string, scope arm.ID) (bool, error) {
	if p.Admin {
		return true, nil
	}
	if !strings.EqualFold(p.TenantID, tenantID) {
		return false, nil
	}
	return s.Access.Allowed(ctx, tenantID, p.ObjectID, action, scope, false)
}
