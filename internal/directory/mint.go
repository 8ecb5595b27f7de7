package directory

import (
	"context"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/token"
)

// TokenRequest says what a token minted for principalID (a service principal's object id) and
// resource (a resource or a scope; one "/.default" is trimmed) contains: the resource must name a
// service principal of the tenant by one of its servicePrincipalNames (an identifierUri, compared
// without case and trailing slashes, or its appId), else errs.Invalid with code invalid_resource;
// the principal must exist (errs.NotFound) and be enabled (errs.Denied). Roles are the values of
// the enabled app roles the principal holds on that service principal. It is the hot path of every
// token: one statement (Store.TokenFacts).
func (s *Service) TokenRequest(ctx context.Context, tenantID, principalID, resource string) (token.MintRequest, error) {
	tenantID = strings.ToLower(tenantID)
	aud := token.Resource(resource)
	key := Key{Name: NameKey(aud)}
	if guid.Valid(aud) {
		key = Key{AppID: strings.ToLower(aud)}
	}
	var f TokenFacts
	var err error = errs.E(errs.NotFound, "empty resource")
	if aud != "" && len(aud) <= token.MaxAudience && (key.AppID != "" || key.Name != "") {
		pid := strings.ToLower(principalID)
		if !guid.Valid(pid) {
			pid = "" // matches no principal
		}
		f, err = s.Store.TokenFacts(ctx, tenantID, pid, key)
	}
	if errs.Is(err, errs.NotFound) {
		return token.MintRequest{}, &errs.Error{Kind: errs.Invalid, Code: codeInvalidResource, Msg: "AADSTS500011: The resource principal named " + aud +
			" was not found in the tenant named " + tenantID + ". This can happen if the application has not been installed by the administrator of the tenant" +
			" or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."}
	}
	if err != nil {
		return token.MintRequest{}, err
	}
	p := f.Principal
	if p == nil {
		return token.MintRequest{}, errs.E(errs.NotFound, "service principal %s not found", principalID)
	}
	if !p.AccountEnabled {
		return token.MintRequest{}, &errs.Error{Kind: errs.Denied, Code: "unauthorized_client", Msg: "AADSTS7000112: Application '" + p.AppID + "' is disabled."}
	}
	return token.MintRequest{
		TenantID: tenantID, Audience: aud, AppID: p.AppID, ObjectID: p.ID,
		Roles: roleValues(f.Resource.AppRoles, f.RoleIDs), MIResID: p.MIResourceID(),
	}, nil
}

// roleValues returns the values of the enabled roles whose ids are in ids, sorted, once each.
func roleValues(roles []AppRole, ids []string) []string {
	var out []string
	for _, r := range roles {
		if r.IsEnabled && slices.Contains(ids, r.ID) {
			out = append(out, r.Value)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ManagedIdentityInput describes a managed identity's service principal.
type ManagedIdentityInput struct {
	DisplayName string // the identity's (user-assigned) or the resource's (system-assigned) name
	ResourceID  string // the ARM id of the user-assigned identity, or of the resource that owns a system-assigned one
	Explicit    bool   // user-assigned: alternativeNames holds isExplicit=True, else isExplicit=False
}

// NewManagedIdentitySP returns, without storing it, a managed identity's service principal with a
// new object id (its principalId) and appId (its clientId). The resources domain stores it together
// with its own rows, in one transaction; CreateManagedIdentitySP is the same plus storing it alone.
func (s *Service) NewManagedIdentitySP(tenantID string, in ManagedIdentityInput) (ServicePrincipal, error) {
	if err := checkDisplayName(in.DisplayName); err != nil {
		return ServicePrincipal{}, errs.E(errs.Invalid, "managed identity: %s", errs.Message(err))
	}
	if !strings.HasPrefix(in.ResourceID, "/") || len(in.ResourceID) > 2048 || !printable(in.ResourceID) {
		return ServicePrincipal{}, errs.E(errs.Invalid, "managed identity: the resource id must be an ARM id")
	}
	explicit := "isExplicit=False"
	if in.Explicit {
		explicit = "isExplicit=True"
	}
	sp := ServicePrincipal{
		TenantID: strings.ToLower(tenantID), Type: TypeManagedIdentity, DisplayName: in.DisplayName,
		AlternativeNames: []string{explicit, in.ResourceID}, AppRoles: []AppRole{}, AccountEnabled: true, Created: s.now(),
	}
	var err error
	if sp.ID, err = s.newGUID(); err != nil {
		return ServicePrincipal{}, err
	}
	if sp.AppID, err = s.newGUID(); err != nil {
		return ServicePrincipal{}, err
	}
	sp.ServicePrincipalNames = []string{sp.AppID}
	return sp, nil
}

// CreateManagedIdentitySP creates a managed identity's service principal (no application): the
// resources domain calls it when an identity is turned on or a user-assigned identity created.
// It is not audited here; the caller audits the operation it is part of.
func (s *Service) CreateManagedIdentitySP(ctx context.Context, tenantID string, in ManagedIdentityInput) (ServicePrincipal, error) {
	sp, err := s.NewManagedIdentitySP(tenantID, in)
	if err != nil {
		return ServicePrincipal{}, err
	}
	return s.Store.CreateServicePrincipal(ctx, sp, nil)
}

// DeleteManagedIdentitySP deletes a managed identity's service principal and, in the same
// transaction, its app role assignments, group memberships and directory role assignments.
// errs.NotFound if there is none; errs.Invalid if id is not a managed identity's.
func (s *Service) DeleteManagedIdentitySP(ctx context.Context, tenantID, id string) error {
	tenantID, id = strings.ToLower(tenantID), strings.ToLower(id)
	sp, err := s.Store.GetServicePrincipal(ctx, tenantID, Key{ID: id})
	if err != nil {
		return err
	}
	if sp.Type != TypeManagedIdentity {
		return errs.E(errs.Invalid, "service principal %s is not a managed identity's", id)
	}
	return s.Store.DeleteServicePrincipal(ctx, tenantID, id)
}
