package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/appservice"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// The management API (the ARM subset): resources (subscriptions, groups, resources and their
// identities) and RBAC (role assignments and definitions), behind one bearer for the Management
// service principal's identifiers, sharing ARM's error shape.

var _ rbac.SubscriptionResolver = (*resources.Service)(nil)

// openManagement builds the resources and RBAC services and makes every new tenant get its
// default subscription. It runs after the directory is built and before the default tenant is
// ensured.
func (s *Server) openManagement() {
	bearer := &authn.Bearer{Verifier: s.Tokens, Audiences: s.Dir.BuiltinIdentifiers(directory.ManagementAppID)}
	defaultTenant := func() string { return s.Default.ID }
	shape := s.managementShape()
	s.RBAC = &rbac.Service{
		Store: s.DB, Principals: rbac.PrincipalExistsFunc(s.principalExists), Auth: bearer, Audit: s.Audit,
		Now: s.now, DefaultTenant: defaultTenant, Shape: shape,
	}
	s.Resources = &resources.Service{
		Store: s.DB, Identities: s.Dir, Access: s.RBAC, Auth: bearer, Audit: s.Audit, Now: s.now, Rand: s.rand,
		DefaultTenant: defaultTenant, Tenants: s.Tenants, VaultDomain: s.cfg.VaultDomain,
		PublicURL: strings.TrimRight(s.cfg.PublicURL, "/"), SiteDomain: siteDomain, Shape: shape,
	}
	s.RBAC.Subscriptions = s.Resources
	s.Tenants.OnCreate = append(s.Tenants.OnCreate, func(ctx context.Context, t tenant.Tenant) error {
		_, err := s.Resources.EnsureDefaultSubscription(ctx, t.ID)
		return err
	})
}

// siteDomain is the domain of sites' defaultHostName. Sites run on nodes under the agent, not
// behind a front end of the control plane; the name is informational.
const siteDomain = "sites.localhost"

// ensureManagement gives an existing tenant what openManagement's hook gives a new one.
func (s *Server) ensureManagement(ctx context.Context, tenantID string) error {
	_, err := s.Resources.EnsureDefaultSubscription(ctx, tenantID)
	return err
}

// principalExists tells RBAC whether an object id names a service principal of the tenant.
func (s *Server) principalExists(ctx context.Context, tenantID, id string) (bool, error) {
	_, err := s.DB.GetServicePrincipal(ctx, tenantID, directory.Key{ID: id})
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return err == nil, err
}

// managementShape is ARM's error shape; a 401's challenge names the default tenant's authority.
func (s *Server) managementShape() httpx.Shape {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	return func(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
		httpx.ARMShape(base+"/"+s.Default.ID)(w, r, status, code, msg)
	}
}

// isManagementPath reports whether the front door sends path to the management API: paths
// under /subscriptions and /providers, in any case, as ARM's are.
func isManagementPath(path string) bool {
	for _, prefix := range []string{"/subscriptions", "/providers"} {
		if len(path) >= len(prefix) && strings.EqualFold(path[:len(prefix)], prefix) &&
			(len(path) == len(prefix) || path[len(prefix)] == '/') {
			return true
		}
	}
	return false
}

// managementHandler routes the management API: RBAC's roleAssignments and roleDefinitions paths
// (at any scope) to RBAC, the rest to resources.
func (s *Server) managementHandler() http.Handler {
	roles, res, apps := s.RBAC.Handler(), s.Resources.Handler(), s.Apps.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rbac.MatchPath(r.URL.Path) {
			r.Pattern = "management: rbac"
			roles.ServeHTTP(w, r)
			return
		}
		if appservice.MatchPath(r.URL.Path) {
			r.Pattern = "management: appservice"
			apps.ServeHTTP(w, r)
			return
		}
		r.Pattern = "management: resources"
		res.ServeHTTP(w, r)
	})
}
