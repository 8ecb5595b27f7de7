package server

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/lanyardhq/lanyard/internal/pki"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// Azure's names inside sandboxes (issue 12): an agent's relay passes an app's connections to
// graph.microsoft.com, management.azure.com, login.microsoftonline.com and NAME.vault.azure.net
// on to this server untouched; the server presents the sandbox CA's certificate for those names
// (trusted inside sandboxes only) and serves them as its own APIs (sandbox.AzureNames).

// openSandboxCA loads the installation's sandbox CA, or makes it, and issues its certificate for
// Azure's names.
func (s *Server) openSandboxCA(ctx context.Context) error {
	var err error
	if s.SandboxCA, err = pki.LoadOrCreateSandboxCA(ctx, s.DB, s.KEK, sandbox.Names(), s.now, s.rand); err != nil {
		return fmt.Errorf("sandbox CA: %w", err)
	}
	names := append(sandbox.Names(), "*"+sandbox.VaultSuffix)
	if s.SandboxCerts, err = pki.NewServingCerts(s.SandboxCA, pki.ServingOptions{Hosts: names, Exact: true, Log: s.log}); err != nil {
		return fmt.Errorf("sandbox certificate: %w", err)
	}
	return nil
}

// tlsConfig is the HTTPS listener's: the serving certificate, or for a client that asks for one
// of Azure's names (server name indication) the sandbox CA's.
func (s *Server) tlsConfig() *tls.Config {
	cfg := s.Certs.TLSConfig()
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if api, _ := sandbox.Match(hello.ServerName); api != sandbox.NotAzure {
			return s.SandboxCerts.GetCertificate(hello)
		}
		return s.Certs.GetCertificate(hello)
	}
	return cfg
}

// azureNames serves Azure's names as the server's APIs.
func (s *Server) azureNames() *sandbox.AzureNames {
	return &sandbox.AzureNames{PublicURL: s.cfg.PublicURL, VaultHost: s.Vault.HostOf, VaultResource: s.Vault.Resource(), Log: s.log}
}
