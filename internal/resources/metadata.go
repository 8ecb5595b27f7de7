package resources

import (
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// CloudName is the name Lanyard's cloud metadata gives this cloud (az cloud register --name).
const CloudName = "Lanyard"

// cloudAuthentication is the authentication block of ARM's cloud metadata.
type cloudAuthentication struct {
	LoginEndpoint    string   `json:"loginEndpoint"`
	Audiences        []string `json:"audiences"`
	Tenant           string   `json:"tenant"`
	IdentityProvider string   `json:"identityProvider"`
}

// cloudMetadata is one cloud in the shape of ARM's GET /metadata/endpoints (api-version
// 2019-05-01 and later; older ones answer the legacy fields only, see legacyCloudMetadata).
type cloudMetadata struct {
	Portal                   string              `json:"portal"`
	Authentication           cloudAuthentication `json:"authentication"`
	Media                    string              `json:"media"`
	GraphAudience            string              `json:"graphAudience"`
	Graph                    string              `json:"graph"`
	Name                     string              `json:"name"`
	Suffixes                 map[string]string   `json:"suffixes"`
	Batch                    string              `json:"batch"`
	ResourceManager          string              `json:"resourceManager"`
	VMImageAliasDoc          string              `json:"vmImageAliasDoc"`
	ActiveDirectoryDataLake  string              `json:"activeDirectoryDataLake"`
	SQLManagement            string              `json:"sqlManagement"`
	MicrosoftGraphResourceID string              `json:"microsoftGraphResourceId"`
	Gallery                  string              `json:"gallery"`
}

// legacyCloudMetadata is the answer to api-version 2015-01-01, which msrestazure (az cloud
// register --endpoint-resource-manager) asks for.
type legacyCloudMetadata struct {
	GalleryEndpoint string              `json:"galleryEndpoint"`
	GraphEndpoint   string              `json:"graphEndpoint"`
	PortalEndpoint  string              `json:"portalEndpoint"`
	Authentication  cloudAuthentication `json:"authentication"`
}

// ServeCloudMetadata serves ARM's cloud metadata document, GET /metadata/endpoints, to anyone
// (ARM's is public): where this cloud's resource manager, token service, directory and vaults are.
// The resource identifiers are Azure's (tokens for https://management.core.windows.net/ and
// https://graph.microsoft.com/ are Lanyard's management and directory ones); the endpoints are
// Lanyard's own. With api-version 2019-05-01 or later the answer is a list of clouds (this one),
// as ARM's; with 2015-01-01, the single legacy object msrestazure reads.
func (s *Service) ServeCloudMetadata(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		httpx.WriteError(w, r, httpx.ARMShape(""), arm.E(errs.Invalid, arm.CodeMissingAPIVersion,
			"The api-version query parameter (?api-version=) is required for all requests."))
		return
	}
	base := strings.TrimRight(s.PublicURL, "/") + "/"
	auth := cloudAuthentication{
		LoginEndpoint:    base,
		Audiences:        []string{"https://management.core.windows.net/", "https://management.azure.com/"},
		Tenant:           "common",
		IdentityProvider: "AAD",
	}
	if v < "2019-05-01" {
		httpx.WriteJSON(w, http.StatusOK, legacyCloudMetadata{
			GalleryEndpoint: base, GraphEndpoint: "https://graph.windows.net/", PortalEndpoint: base, Authentication: auth,
		})
		return
	}
	// keyVaultDns is what follows a vault's name in its URL: the vault domain, with the port
	// when it is not 443 (az builds https://NAME + keyVaultDns; the sandbox relay reads it too).
	vaultDNS := strings.TrimSuffix(strings.TrimPrefix(VaultURI("x", s.VaultDomain, s.PublicURL), "https://x."), "/")
	httpx.WriteJSON(w, http.StatusOK, []cloudMetadata{{
		Portal: base, Authentication: auth, Name: CloudName, ResourceManager: base, Gallery: base,
		GraphAudience: "https://graph.windows.net/", Graph: "https://graph.windows.net/",
		MicrosoftGraphResourceID: "https://graph.microsoft.com/",
		Suffixes:                 map[string]string{"keyVaultDns": vaultDNS},
	}})
}
