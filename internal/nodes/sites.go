package nodes

import (
	"context"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// Sites tells node n's agent what its front door needs of the sites it runs: each site's host
// name and Easy Auth settings (authsettingsV2, checked again here so that the agent acts on a
// known shape), and, when req.CSR is set, a serving certificate for the host names of the sites
// placed on n. A site placed elsewhere or gone gets an Error and no certificate name: a node
// can only ever hold a certificate for its own sites.
func (s *Service) Sites(ctx context.Context, n Node, req agentapi.SitesRequest) (agentapi.SitesResponse, error) {
	if len(req.Apps) > agentapi.MaxSites {
		return agentapi.SitesResponse{}, &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "too many apps in one request"}
	}
	out := agentapi.SitesResponse{Sites: make([]agentapi.Site, 0, len(req.Apps))}
	var names []string
	for _, app := range req.Apps {
		site, err := s.site(ctx, n, app)
		if err != nil {
			return agentapi.SitesResponse{}, err
		}
		out.Sites = append(out.Sites, site)
		if site.Error == "" {
			names = append(names, site.HostName)
		}
	}
	if len(req.CSR) > 0 && len(names) > 0 {
		der, err := s.Signer.SignServingCSR(req.CSR, names, s.certLifetime())
		if err != nil {
			return agentapi.SitesResponse{}, &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: errs.Message(err)}
		}
		out.Certificate = s.chainPEM(der)
	}
	return out, nil
}

// site describes one site for node n.
func (s *Service) site(ctx context.Context, n Node, app string) (agentapi.Site, error) {
	out := agentapi.Site{App: app}
	id, err := arm.Parse(app)
	if err != nil || !strings.EqualFold(id.ResourceType(), resources.TypeSite) {
		out.Error = "not a site's ARM id"
		return out, nil
	}
	// A missing site and one placed elsewhere get the same answer, as the token endpoint gives:
	// a node cannot learn which sites of its tenant exist.
	r, err := s.Store.GetResourceIdentities(ctx, n.TenantID, id.Key())
	switch {
	case errs.Is(err, errs.NotFound) || err == nil && !resources.PlacedOn(r, n.Name):
		out.Error = "the site is not placed on this node"
		return out, nil
	case err != nil:
		return out, err
	}
	out.Name = id.Name()
	out.HostName = strings.ToLower(id.Name()) + "." + s.siteDomain()
	out.TenantID = n.TenantID
	out.Kind = r.Kind
	if s.Apps != nil {
		if out.Settings, out.Functions, err = s.Apps.HostedSite(ctx, r); err != nil {
			return out, err
		}
	}
	raw, err := s.Store.GetSiteConfig(ctx, n.TenantID, id.Key(), strings.ToLower(resources.AuthSettingsName))
	if errs.Is(err, errs.NotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	a, err := resources.ParseAuthSettings(raw)
	if err != nil {
		// Stored by an older rule that no longer holds: fail closed, every request refused.
		out.Error = "the site's authsettingsV2 is no longer valid: " + errs.Message(err)
		return out, nil
	}
	if !a.Platform.Enabled {
		return out, nil
	}
	aad := a.IdentityProviders.AzureActiveDirectory
	tenant := a.IssuerTenant()
	if tenant == "" {
		tenant = n.TenantID
	}
	out.Auth = &agentapi.SiteAuth{
		RequireAuthentication: a.GlobalValidation.RequireAuthentication,
		Action:                a.Action(),
		ExcludedPaths:         a.GlobalValidation.ExcludedPaths,
		RequireHTTPS:          a.RequireHTTPS(),
		IssuerTenant:          tenant,
		AllowedIdentities:     aad.Validation.DefaultAuthorizationPolicy.AllowedPrincipals.Identities,
		AllowedApplications:   aad.Validation.DefaultAuthorizationPolicy.AllowedApplications,
		AllowedAudiences:      aad.Validation.AllowedAudiences,
	}
	if a.AADEnabled() {
		out.Auth.ClientID = aad.Registration.ClientID
	}
	return out, nil
}

func (s *Service) siteDomain() string {
	if s.SiteDomain != "" {
		return strings.ToLower(s.SiteDomain)
	}
	return "sites.localhost"
}

func (s *Service) serveSites(w http.ResponseWriter, r *http.Request, n Node) error {
	var req agentapi.SitesRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: errs.Message(err)}
	}
	resp, err := s.Sites(r.Context(), n, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}
