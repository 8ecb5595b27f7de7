package appservice

import (
	"context"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// HostedSite is what a node hosting site needs beyond its front door's settings: its app
// settings with Key Vault references resolved, and for a function app its current package and
// keys (the master key and the host's default key made on this first use). site is the stored
// resource, with its identities; the caller (internal/nodes) has checked that the node hosts it.
func (s *Service) HostedSite(ctx context.Context, site resources.Resource) (map[string]string, *agentapi.SiteFunctions, error) {
	settings, _, err := s.ResolvedSettings(ctx, site)
	if err != nil {
		return nil, nil, err
	}
	if len(settings) == 0 {
		settings = nil
	}
	if !isFunctionApp(site) {
		return settings, nil, nil
	}
	pkg, err := s.CurrentPackage(ctx, site.TenantID, site.Key())
	if err != nil {
		return nil, nil, err
	}
	keys, err := s.keysOf(ctx, site.TenantID, site.Key(), "")
	if err != nil {
		return nil, nil, err
	}
	return settings, &agentapi.SiteFunctions{Package: pkg, Keys: keys}, nil
}
