package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// Recorder is the audit dependency.
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (audit.Event, error)
}

// Authenticator says who is calling: the admin socket's principal already in the request's
// context, or the subject of a bearer token for the directory API (an *authn.Bearer whose
// audiences are BuiltinIdentifiers(DirectoryAppID)).
type Authenticator interface {
	Authenticate(r *http.Request) (authn.Principal, error)
}

// TenantChecker says whether a tenant exists (tenant.Service does).
type TenantChecker interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Service holds the directory's rules and serves its Graph-compatible API.
type Service struct {
	Store Store
	Audit Recorder
	Auth  Authenticator
	Now   func() time.Time // default time.Now
	Rand  io.Reader        // ids and assignment keys (default crypto/rand); Service serialises its reads
	// PublicURL is the control plane's URL, https://host[:port] without a trailing slash: the base of
	// @odata.context and @odata.nextLink, and an identifier of the built-in Directory and
	// Management service principals.
	PublicURL string
	// VaultDomain is the vault domain, host[:port]; without a port, PublicURL's. The built-in Vault
	// service principal's identifier is https://{VaultDomain}, with the port unless it is 443.
	VaultDomain string
	// DefaultTenant names the tenant an administrator on the admin socket acts in, unless the
	// request's X-Lanyard-Tenant header names another.
	DefaultTenant func() string
	// Tenants, when set, checks the tenant an X-Lanyard-Tenant header names.
	Tenants TenantChecker

	randMu sync.Mutex
}

func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// random fills b from s.Rand.
func (s *Service) random(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return errs.Wrap(errs.Internal, err, "read random bytes")
	}
	return nil
}

// newGUID returns a random (version 4) GUID in lower case.
func (s *Service) newGUID() (string, error) {
	var b [16]byte
	if err := s.random(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String(), nil
}

// newKey returns 43 characters of base64url: the shape of Graph's appRoleAssignment ids.
func (s *Service) newKey() (string, error) {
	var b [32]byte
	if err := s.random(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Graph's error codes that are not the default of their status.
const (
	codeBadRequest      = "Request_BadRequest"
	codeNotFound        = "Request_ResourceNotFound"
	codeDenied          = "Authorization_RequestDenied"
	codeSameKeyValue    = "Request_MultipleObjectsWithSameKeyValue"
	codeEnabledRole     = "CannotDeleteOrUpdateEnabledEntitlement"
	codeInvalidResource = "invalid_resource"
)

func badRequest(format string, args ...any) error {
	e := errs.E(errs.Invalid, format, args...)
	e.Code = codeBadRequest
	return e
}

// notFound is Graph's answer for an object that does not exist.
func notFound(id string) error {
	return &errs.Error{Kind: errs.NotFound, Code: codeNotFound,
		Msg: "Resource '" + id + "' does not exist or one of its queried reference-property objects are not present."}
}

// orNotFound turns a store's errs.NotFound into Graph's answer for id; other errors pass.
func orNotFound(err error, id string) error {
	if errs.Is(err, errs.NotFound) {
		return notFound(id)
	}
	return err
}

var errDenied = &errs.Error{Kind: errs.Denied, Code: codeDenied, Msg: "Insufficient privileges to complete the operation."}

// guid checks that v, the value of property name, is a GUID and returns it in lower case.
func guidProp(name, v string) (string, error) {
	if !guid.Valid(v) {
		return "", badRequest("Invalid value specified for property '%s' of resource '%s'.", name, v)
	}
	return strings.ToLower(v), nil
}

// objectID checks an object id in a path: Graph's "Invalid object identifier".
func objectID(v string) (string, error) {
	if !guid.Valid(v) {
		return "", badRequest("Invalid object identifier '%s'.", v)
	}
	return strings.ToLower(v), nil
}

// Applications.

// applicationInput is a new application, or the changes to one (nil: unchanged).
type applicationInput struct {
	DisplayName    *string
	IdentifierURIs *[]string
	AppRoles       *[]AppRole
	SignInAudience *string
}

func (s *Service) createApplication(ctx context.Context, tenantID string, in applicationInput) (Application, error) {
	if in.DisplayName == nil {
		return Application{}, badRequest("Property 'displayName' is required.")
	}
	app := Application{TenantID: tenantID, SignInAudience: defaultSignInAudience, Created: s.now()}
	if err := applyApplication(&app, in); err != nil {
		return Application{}, err
	}
	var err error
	if app.ID, err = s.newGUID(); err != nil {
		return Application{}, err
	}
	if app.AppID, err = s.newGUID(); err != nil {
		return Application{}, err
	}
	if err := s.Store.CreateApplication(ctx, app, nil); err != nil {
		return Application{}, uriConflict(err)
	}
	return app, nil
}

// uriConflict is Graph's answer when an identifier URI is taken.
func uriConflict(err error) error {
	if errs.Is(err, errs.Conflict) {
		return badRequest("Another object with the same value for property identifierUris already exists.")
	}
	return err
}

// applyApplication validates in and applies it to app, enforcing that an enabled app role is
// disabled before it is removed or its value changed.
func applyApplication(app *Application, in applicationInput) error {
	if in.DisplayName != nil {
		if err := checkDisplayName(*in.DisplayName); err != nil {
			return err
		}
		app.DisplayName = *in.DisplayName
	}
	if in.IdentifierURIs != nil {
		uris, err := checkIdentifierURIs(*in.IdentifierURIs)
		if err != nil {
			return err
		}
		app.IdentifierURIs = uris
	}
	if in.SignInAudience != nil {
		if !signInAudiences[*in.SignInAudience] {
			return badRequest("Invalid value specified for property 'signInAudience' of resource 'Application'.")
		}
		app.SignInAudience = *in.SignInAudience
	}
	if in.AppRoles != nil {
		roles, err := checkAppRoles(*in.AppRoles)
		if err != nil {
			return err
		}
		for _, old := range app.AppRoles {
			i := slices.IndexFunc(roles, func(r AppRole) bool { return r.ID == old.ID })
			if old.IsEnabled && (i < 0 || roles[i].Value != old.Value) {
				return &errs.Error{Kind: errs.Invalid, Code: codeEnabledRole,
					Msg: "Permission (scope or role) cannot be deleted or updated unless disabled first."}
			}
		}
		app.AppRoles = roles
	}
	return nil
}

// inherit copies into sp what an application's service principal takes from its application.
func inherit(app Application, sp *ServicePrincipal) {
	sp.DisplayName = app.DisplayName
	sp.AppRoles = slices.Clone(app.AppRoles)
	sp.ServicePrincipalNames = append(slices.Clone(app.IdentifierURIs), app.AppID)
}

// getApplication finds an application by object id or by appId.
func (s *Service) getApplication(ctx context.Context, tenantID string, key Key) (Application, error) {
	app, err := s.Store.GetApplication(ctx, tenantID, key)
	return app, orNotFound(err, key.String())
}

func (s *Service) updateApplication(ctx context.Context, tenantID string, key Key, in applicationInput) (Application, error) {
	app, err := s.getApplication(ctx, tenantID, key)
	if err != nil {
		return Application{}, err
	}
	if app.Builtin {
		return Application{}, badRequest("The application '%s' is built in and cannot be changed.", app.DisplayName)
	}
	app, err = s.Store.UpdateApplication(ctx, tenantID, app.ID, func(a *Application, sp *ServicePrincipal) error {
		if err := applyApplication(a, in); err != nil {
			return err
		}
		if sp != nil {
			inherit(*a, sp)
		}
		return nil
	})
	return app, orNotFound(uriConflict(err), key.String())
}

func (s *Service) deleteApplication(ctx context.Context, tenantID string, key Key) (Application, error) {
	app, err := s.getApplication(ctx, tenantID, key)
	if err != nil {
		return Application{}, err
	}
	if app.Builtin {
		return Application{}, badRequest("The application '%s' is built in and cannot be deleted.", app.DisplayName)
	}
	return app, orNotFound(s.Store.DeleteApplication(ctx, tenantID, app.ID), key.String())
}

// Service principals.

// servicePrincipalInput is the body of POST servicePrincipals.
type servicePrincipalInput struct {
	AppID                     string
	AccountEnabled            *bool
	AppRoleAssignmentRequired *bool
}

func (s *Service) createServicePrincipal(ctx context.Context, tenantID string, in servicePrincipalInput) (ServicePrincipal, error) {
	if in.AppID == "" {
		return ServicePrincipal{}, badRequest("Property 'appId' is required.")
	}
	appID, err := guidProp("appId", in.AppID)
	if err != nil {
		return ServicePrincipal{}, err
	}
	app, err := s.Store.GetApplication(ctx, tenantID, Key{AppID: appID})
	if errs.Is(err, errs.NotFound) {
		return ServicePrincipal{}, badRequest("The appId '%s' of the service principal does not reference a valid application object.", in.AppID)
	}
	if err != nil {
		return ServicePrincipal{}, err
	}
	sp := ServicePrincipal{
		TenantID: tenantID, AppID: app.AppID, ApplicationID: app.ID, Type: TypeApplication, AccountEnabled: true,
		AppOwnerOrganizationID: tenantID, Created: s.now(), AlternativeNames: []string{},
	}
	if in.AccountEnabled != nil {
		sp.AccountEnabled = *in.AccountEnabled
	}
	if in.AppRoleAssignmentRequired != nil {
		sp.AppRoleAssignmentRequired = *in.AppRoleAssignmentRequired
	}
	if sp.ID, err = s.newGUID(); err != nil {
		return ServicePrincipal{}, err
	}
	sp, err = s.Store.CreateServicePrincipal(ctx, sp, inherit)
	switch {
	case errs.Is(err, errs.Conflict):
		return ServicePrincipal{}, &errs.Error{Kind: errs.Conflict, Code: codeSameKeyValue, Msg: "The service principal cannot be created, updated, or restored because the service principal name " + app.AppID + " is already in use."}
	case errs.Is(err, errs.NotFound):
		return ServicePrincipal{}, badRequest("The appId '%s' of the service principal does not reference a valid application object.", in.AppID)
	}
	return sp, err
}

// getServicePrincipal finds a service principal by object id, appId or name.
func (s *Service) getServicePrincipal(ctx context.Context, tenantID string, key Key) (ServicePrincipal, error) {
	sp, err := s.Store.GetServicePrincipal(ctx, tenantID, key)
	return sp, orNotFound(err, key.String())
}

func (s *Service) deleteServicePrincipal(ctx context.Context, tenantID string, key Key) (ServicePrincipal, error) {
	sp, err := s.getServicePrincipal(ctx, tenantID, key)
	if err != nil {
		return ServicePrincipal{}, err
	}
	switch {
	case sp.Builtin:
		return ServicePrincipal{}, badRequest("The service principal '%s' is built in and cannot be deleted.", sp.DisplayName)
	case sp.Type == TypeManagedIdentity:
		return ServicePrincipal{}, badRequest("The service principal '%s' belongs to a managed identity: it is deleted with its resource, or when its identity is turned off.", sp.ID)
	}
	return sp, orNotFound(s.Store.DeleteServicePrincipal(ctx, tenantID, sp.ID), key.String())
}
