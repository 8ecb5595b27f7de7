package server

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// The vault data plane: Key Vault's secrets API on every vault's own host name,
// {name}.{vault_domain}[:port], behind one bearer for the Vault service principal's identifiers.

var _ vault.Access = (*rbac.Service)(nil)

// vaultPurgeInterval is how often the server holding the purge lease looks for deleted secrets
// whose retention period has ended.
const vaultPurgeInterval = time.Minute

// openVault builds the vault service. It runs after the directory and RBAC are built.
func (s *Server) openVault() {
	port := ""
	if _, p, err := net.SplitHostPort(s.cfg.VaultDomain); err == nil {
		port = p
	} else if u, err := url.Parse(s.cfg.PublicURL); err == nil {
		port = u.Port()
	}
	s.Vault = &vault.Service{
		Store: s.DB, KEK: s.KEK, Access: s.RBAC, Audit: s.Audit, Now: s.now, Rand: s.rand, Log: s.log,
		Auth:        &authn.Bearer{Verifier: s.Tokens, Audiences: s.Dir.BuiltinIdentifiers(directory.VaultAppID)},
		VaultDomain: s.cfg.VaultDomain, Port: port, Authority: strings.TrimRight(s.cfg.PublicURL, "/"),
	}
}

// isVaultHost reports whether the front door sends r to the vault data plane: its Host (port
// stripped, without case) is {name}.{vault_domain}.
func (s *Server) isVaultHost(r *http.Request) bool {
	_, ok := s.Vault.VaultName(r.Host)
	return ok
}

// runVaultPurge purges deleted secrets whose retention period has ended (one server at a time).
func (s *Server) runVaultPurge(ctx context.Context) error {
	return s.Vault.RunPurge(ctx, vaultPurgeInterval)
}
