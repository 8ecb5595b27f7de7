package server

import (
	"github.com/lanyardhq/lanyard/internal/appservice"
	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// Sites' app settings (with Key Vault references), function keys and deployment packages: ARM
// routes under a site's id, served by appservice beside resources, and what the agent API gives
// nodes hosting function apps.

var (
	_ appservice.Sites        = (*resources.Service)(nil)
	_ appservice.SecretReader = (*vault.Service)(nil)
	_ nodes.Apps              = (*appservice.Service)(nil)
)

// openAppService builds the service. It runs after openManagement and openVault, before
// openNodes.
func (s *Server) openAppService() {
	s.Apps = &appservice.Service{
		Store: s.DB, Sites: s.Resources, KEK: s.KEK, Vault: s.Vault, Audit: s.Audit, Log: s.log, Now: s.now, Rand: s.rand,
		SiteDomain: siteDomain, MaxPackageSize: s.cfg.Limits.MaxPackageSize, Shape: s.managementShape(),
	}
}
