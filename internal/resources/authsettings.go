package resources

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// App Service Authentication ("Easy Auth") v2: the site's config document authsettingsV2, a
// resource of its own in ARM (GET/PUT .../sites/{name}/config/authsettingsV2, GET
// .../config/authsettingsV2/list). Azure keeps the whole document and acts on part of it; Lanyard
// does the same: it stores the properties as given (after checking the fields it acts on) and
// its front door enforces the fields of AuthSettings.

// AuthSettingsName is the config document's name as ARM spells it.
const AuthSettingsName = "authsettingsV2"

// The ARM actions on a site's config documents (Azure's; the list action reads secrets).
const (
	actionConfigRead  = "Microsoft.Web/sites/config/read"
	actionConfigWrite = "Microsoft.Web/sites/config/write"
	actionConfigList  = "Microsoft.Web/sites/config/list/action"
)

// The values of globalValidation.unauthenticatedClientAction (Azure's enum).
const (
	ActionRedirectToLoginPage = "RedirectToLoginPage"
	ActionAllowAnonymous      = "AllowAnonymous"
	ActionReturn401           = "Return401"
	ActionReturn403           = "Return403"
)

// AuthSettings is the part of a site's authsettingsV2 properties that Lanyard acts on, in
// Azure's field names.
type AuthSettings struct {
	Platform struct {
		Enabled        bool   `json:"enabled"`
		RuntimeVersion string `json:"runtimeVersion,omitempty"`
	} `json:"platform"`
	GlobalValidation struct {
		RequireAuthentication       bool     `json:"requireAuthentication"`
		UnauthenticatedClientAction string   `json:"unauthenticatedClientAction,omitempty"`
		RedirectToProvider          string   `json:"redirectToProvider,omitempty"`
		ExcludedPaths               []string `json:"excludedPaths,omitempty"`
	} `json:"globalValidation"`
	HTTPSettings struct {
		RequireHTTPS *bool `json:"requireHttps,omitempty"`
	} `json:"httpSettings"`
	IdentityProviders struct {
		AzureActiveDirectory struct {
			Enabled      *bool `json:"enabled,omitempty"`
			Registration struct {
				ClientID                string `json:"clientId,omitempty"`
				ClientSecretSettingName string `json:"clientSecretSettingName,omitempty"`
				OpenIDIssuer            string `json:"openIdIssuer,omitempty"`
			} `json:"registration"`
			Validation struct {
				AllowedAudiences           []string `json:"allowedAudiences,omitempty"`
				DefaultAuthorizationPolicy struct {
					AllowedApplications []string `json:"allowedApplications,omitempty"`
					AllowedPrincipals   struct {
						Identities []string `json:"identities,omitempty"`
						Groups     []string `json:"groups,omitempty"`
					} `json:"allowedPrincipals"`
				} `json:"defaultAuthorizationPolicy"`
			} `json:"validation"`
		} `json:"azureActiveDirectory"`
	} `json:"identityProviders"`
}

// AADEnabled reports whether the Microsoft identity provider is on: it is unless disabled
// explicitly, once it has a registration.
func (a AuthSettings) AADEnabled() bool {
	aad := a.IdentityProviders.AzureActiveDirectory
	return (aad.Enabled == nil || *aad.Enabled) && aad.Registration.ClientID != ""
}

// RequireHTTPS is httpSettings.requireHttps, true when not given (Azure's default).
func (a AuthSettings) RequireHTTPS() bool {
	return a.HTTPSettings.RequireHTTPS == nil || *a.HTTPSettings.RequireHTTPS
}

// Action is the unauthenticated client action in force: Return401 when none is given
// (Lanyard's default; Azure's is RedirectToLoginPage, which needs a human sign-in).
func (a AuthSettings) Action() string {
	if a.GlobalValidation.UnauthenticatedClientAction == "" {
		return ActionReturn401
	}
	return a.GlobalValidation.UnauthenticatedClientAction
}

// IssuerTenant returns the tenant id that openIdIssuer names (a GUID path segment of it), or
// "" when it names none (or is empty).
func (a AuthSettings) IssuerTenant() string {
	u, err := url.Parse(a.IdentityProviders.AzureActiveDirectory.Registration.OpenIDIssuer)
	if err != nil {
		return ""
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if guid.Valid(seg) {
			return strings.ToLower(seg)
		}
	}
	return ""
}

// ParseAuthSettings decodes and checks the properties of an authsettingsV2 document. Fields it
// does not know are kept by the caller and ignored here, as Azure ignores what a plan lacks.
func ParseAuthSettings(props json.RawMessage) (AuthSettings, error) {
	var a AuthSettings
	props = bytes.TrimSpace(props)
	if len(props) == 0 || string(props) == "null" {
		return a, nil
	}
	if props[0] != '{' {
		return a, invalidAuth("properties must be a JSON object")
	}
	if err := json.Unmarshal(props, &a); err != nil {
		return a, invalidAuth("properties do not match the authsettingsV2 schema: " + errs.Message(errs.Wrap(errs.Invalid, err, err.Error())))
	}
	switch act := a.GlobalValidation.UnauthenticatedClientAction; act {
	case "", ActionAllowAnonymous, ActionReturn401, ActionReturn403:
	case ActionRedirectToLoginPage:
		return a, invalidAuth("globalValidation.unauthenticatedClientAction RedirectToLoginPage needs an interactive sign-in, which Lanyard does not offer yet: use Return401, Return403 or AllowAnonymous")
	default:
		return a, invalidAuth("globalValidation.unauthenticatedClientAction must be one of RedirectToLoginPage, AllowAnonymous, Return401, Return403, not " + clip(act))
	}
	for _, p := range a.GlobalValidation.ExcludedPaths {
		if !strings.HasPrefix(p, "/") || len(p) > 2048 {
			return a, invalidAuth("globalValidation.excludedPaths: " + clip(p) + " is not a path starting with /")
		}
	}
	aad := a.IdentityProviders.AzureActiveDirectory
	reg := aad.Registration
	if reg.OpenIDIssuer != "" {
		u, err := url.Parse(reg.OpenIDIssuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || a.IssuerTenant() == "" {
			return a, invalidAuth("identityProviders.azureActiveDirectory.registration.openIdIssuer must be the tenant's issuer, https://{host}/{tenantId}/ or https://{host}/{tenantId}/v2.0, not " + clip(reg.OpenIDIssuer))
		}
	}
	for _, list := range []struct {
		name string
		v    []string
	}{
		{"validation.allowedAudiences", aad.Validation.AllowedAudiences},
		{"validation.defaultAuthorizationPolicy.allowedApplications", aad.Validation.DefaultAuthorizationPolicy.AllowedApplications},
		{"validation.defaultAuthorizationPolicy.allowedPrincipals.identities", aad.Validation.DefaultAuthorizationPolicy.AllowedPrincipals.Identities},
	} {
		if len(list.v) > 100 {
			return a, invalidAuth("identityProviders.azureActiveDirectory." + list.name + " has more than 100 entries")
		}
		for _, v := range list.v {
			if strings.TrimSpace(v) == "" || len(v) > 1024 {
				return a, invalidAuth("identityProviders.azureActiveDirectory." + list.name + " has an empty or over-long entry")
			}
		}
	}
	// Azure caps the identities list at 500 characters (functions.md §9).
	if n := len(strings.Join(aad.Validation.DefaultAuthorizationPolicy.AllowedPrincipals.Identities, ",")); n > 500 {
		return a, invalidAuth("identityProviders.azureActiveDirectory.validation.defaultAuthorizationPolicy.allowedPrincipals.identities is longer than 500 characters")
	}
	if len(aad.Validation.DefaultAuthorizationPolicy.AllowedPrincipals.Groups) > 0 {
		return a, invalidAuth("allowedPrincipals.groups is not supported yet: tokens do not carry group claims")
	}
	if a.Platform.Enabled && a.GlobalValidation.RequireAuthentication && !a.AADEnabled() {
		return a, invalidAuth("authentication is required but no identity provider is configured: set identityProviders.azureActiveDirectory.registration.clientId")
	}
	return a, nil
}

func invalidAuth(msg string) error {
	return arm.E(errs.Invalid, "BadRequest", "%s", msg)
}

// SiteConfigStore keeps a site's config documents (the store does).
type SiteConfigStore interface {
	// GetSiteConfig returns the document name (lower case) of the site siteKey: errs.NotFound
	// when it was never written.
	GetSiteConfig(ctx context.Context, tenantID, siteKey, name string) (json.RawMessage, error)
}

// authSettingsJSON is the document as ARM answers it.
type authSettingsJSON struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Location   string          `json:"location,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Properties json.RawMessage `json:"properties"`
}

// defaultAuthProperties is the document of a site that never configured authentication.
var defaultAuthProperties = json.RawMessage(`{"platform":{"enabled":false},"globalValidation":{"requireAuthentication":false},"identityProviders":{},"login":{},"httpSettings":{"requireHttps":true}}`)

// GetAuthSettings returns the site's authsettingsV2 properties, the default document when none
// was written. withSecrets is the list action's read (Lanyard keeps no secrets in the document,
// so both reads answer the same; only the permission differs, as on Azure).
func (s *Service) GetAuthSettings(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, withSecrets bool) (Resource, json.RawMessage, error) {
	action := actionConfigRead
	if withSecrets {
		action = actionConfigList
	}
	res, err := s.siteFor(ctx, p, tenantID, site, action)
	if err != nil {
		return Resource{}, nil, err
	}
	props, err := s.Store.GetSiteConfig(ctx, tenantID, site.Key(), strings.ToLower(AuthSettingsName))
	if errs.Is(err, errs.NotFound) {
		return res, defaultAuthProperties, nil
	}
	return res, props, err
}

// PutAuthSettings replaces the site's authsettingsV2 properties with props, after checking them.
func (s *Service) PutAuthSettings(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, props json.RawMessage) (Resource, json.RawMessage, error) {
	res, err := s.siteFor(ctx, p, tenantID, site, actionConfigWrite)
	if err != nil {
		return Resource{}, nil, err
	}
	if _, err := ParseAuthSettings(props); err != nil {
		return Resource{}, nil, err
	}
	if len(bytes.TrimSpace(props)) == 0 || string(bytes.TrimSpace(props)) == "null" {
		props = json.RawMessage(`{}`)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, props); err != nil {
		return Resource{}, nil, invalidAuth("properties are not valid JSON")
	}
	err = s.Store.PutSiteConfig(ctx, tenantID, site.Key(), strings.ToLower(AuthSettingsName), compact.Bytes(), s.now())
	if errs.Is(err, errs.NotFound) {
		err = ResourceNotFound(site)
	}
	target := site.String() + "/config/" + AuthSettingsName
	if err := s.recordWrite(ctx, p, "site.authsettings.write", target, "", err); err != nil {
		return Resource{}, nil, err
	}
	return res, compact.Bytes(), nil
}

// siteFor checks that site is a site of the tenant that p may act on with action.
func (s *Service) siteFor(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, action string) (Resource, error) {
	t, err := s.target(ctx, tenantID, site)
	if err != nil {
		return Resource{}, err
	}
	if t.Name != TypeSite {
		return Resource{}, arm.E(errs.NotFound, arm.CodeResourceNotFound, "Only sites have config documents.")
	}
	if err := s.Access.Check(ctx, p, tenantID, action, site); err != nil {
		return Resource{}, err
	}
	if _, err := s.group(ctx, tenantID, site); err != nil {
		return Resource{}, err
	}
	r, err := s.Store.GetResource(ctx, tenantID, site.Key())
	if errs.Is(err, errs.NotFound) {
		return Resource{}, ResourceNotFound(site)
	}
	return r, err
}

// serveAuthSettings serves GET/PUT .../config/authsettingsV2 and GET/POST .../list.
func (s *Service) serveAuthSettings(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, site arm.ID, list bool) error {
	ctx := r.Context()
	var (
		res   Resource
		props json.RawMessage
		err   error
	)
	switch {
	case r.Method == http.MethodPut && !list:
		var in struct {
			Properties json.RawMessage `json:"properties"`
		}
		if err := httpx.DecodeJSON(r, &in); err != nil {
			return arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The request content was invalid and could not be deserialized: %s", errs.Message(err))
		}
		res, props, err = s.PutAuthSettings(ctx, p, tenantID, site, in.Properties)
	default:
		res, props, err = s.GetAuthSettings(ctx, p, tenantID, site, list)
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, authSettingsJSON{
		ID: res.ID + "/config/" + AuthSettingsName, Name: AuthSettingsName, Type: TypeSite + "/config",
		Location: res.Location, Properties: props,
	})
	return nil
}

// SiteFor checks that site is a site of the tenant that p may act on with action (an ARM
// action, such as Microsoft.Web/sites/config/list/action), and returns it: for the other
// routes of a site (internal/appservice).
func (s *Service) SiteFor(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, action string) (Resource, error) {
	return s.siteFor(ctx, p, tenantID, site, action)
}

// ServeSiteRoute runs what every route of the management API does first (the method among
// methods, authentication, the api-version among the sites' and the caller's tenant) and then
// op, rendering its error in ARM's shape: for the routes of a site served outside this package.
func (s *Service) ServeSiteRoute(w http.ResponseWriter, r *http.Request, methods string, op func(p authn.Principal, tenantID string) error) {
	s.serve(w, r, methods, TypeOf(TypeSite).Versions, op)
}

// KeyVaultReferenceIdentityProperty is the site property naming the identity Key Vault
// references in app settings are resolved with (functions.md §7): "SystemAssigned" (the
// default) or a user-assigned identity's ARM id.
const KeyVaultReferenceIdentityProperty = "keyVaultReferenceIdentity"

// checkKeyVaultReferenceIdentity checks properties.keyVaultReferenceIdentity of a site.
func checkKeyVaultReferenceIdentity(props map[string]json.RawMessage) error {
	raw, ok := props[KeyVaultReferenceIdentityProperty]
	if !ok || string(raw) == "null" {
		delete(props, KeyVaultReferenceIdentityProperty)
		return nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return invalidContent("'properties.keyVaultReferenceIdentity' must be a string.")
	}
	if v == "" || strings.EqualFold(v, "SystemAssigned") {
		return nil
	}
	id, err := arm.Parse(v)
	if err != nil || !strings.EqualFold(id.ResourceType(), TypeUserAssigned) {
		return invalidContent("'properties.keyVaultReferenceIdentity' must be SystemAssigned or a user-assigned identity's resource id, not '%s'.", clip(v))
	}
	return nil
}

// KeyVaultReferenceIdentity returns properties.keyVaultReferenceIdentity of site r: "" for the
// system-assigned identity, else the user-assigned identity's ARM id.
func KeyVaultReferenceIdentity(r Resource) string {
	var props struct {
		ID string `json:"keyVaultReferenceIdentity"`
	}
	_ = json.Unmarshal(r.Properties, &props)
	if strings.EqualFold(props.ID, "SystemAssigned") {
		return ""
	}
	return props.ID
}
