package sandbox

import (
	"net"
	"strings"
)

// API says which Lanyard API an Azure host name means.
type API int

// The APIs Azure's names mean.
const (
	NotAzure   API = iota
	Management     // management.azure.com, management.core.windows.net: the management API
	Graph          // graph.microsoft.com: the directory API
	Login          // login.microsoftonline.com, login.windows.net: the token service
	Vault          // vault.azure.net (the resource) and NAME.vault.azure.net (a vault)
)

// Azure's public names (Azure's own; what they mean here is Lanyard's mapping).
var azureHosts = map[string]API{
	"management.azure.com":        Management,
	"management.core.windows.net": Management,
	"graph.microsoft.com":         Graph,
	"login.microsoftonline.com":   Login,
	"login.windows.net":           Login,
	"vault.azure.net":             Vault,
}

// VaultSuffix is the domain of Azure's vaults: NAME.vault.azure.net.
const VaultSuffix = ".vault.azure.net"

// Names are the names the sandbox CA may certify and the resolver answers for: Azure's hosts
// (with vault.azure.net covering every NAME.vault.azure.net).
func Names() []string {
	return []string{"management.azure.com", "management.core.windows.net", "graph.microsoft.com",
		"login.microsoftonline.com", "login.windows.net", "vault.azure.net"}
}

// Match says which API host (a name, perhaps with a port and a trailing dot) means, and for a
// vault its name.
func Match(host string) (api API, vault string) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if a, ok := azureHosts[host]; ok {
		return a, ""
	}
	if name, ok := strings.CutSuffix(host, VaultSuffix); ok && validVaultName(name) {
		return Vault, name
	}
	return NotAzure, ""
}

// validVaultName is Key Vault's rule: 3 to 24 letters, digits and dashes, starting with a letter.
func validVaultName(n string) bool {
	if len(n) < 3 || len(n) > 24 || n[0] < 'a' || n[0] > 'z' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
