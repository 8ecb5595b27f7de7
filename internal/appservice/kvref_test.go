package appservice

import "testing"

// TestParseRef: both of Azure's syntaxes (functions.md §7), parameter names without case, and
// the malformed references that get InvalidSyntax.
func TestParseRef(t *testing.T) {
	const ver = "ec96f02080254f109c51a1f14cdb1931"
	ok := map[string]Ref{
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret/)":          {"myvault", "mysecret", ""},
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret)":           {"myvault", "mysecret", ""},
		"@Microsoft.KeyVault(SecretUri=https://MyVault.vault.localhost:8443/secrets/s/" + ver + ")": {"myvault", "s", ver},
		"@Microsoft.KeyVault(VaultName=myvault;SecretName=mysecret)":                                {"myvault", "mysecret", ""},
		"@microsoft.keyvault(vaultname=myvault; SECRETNAME=mysecret; SecretVersion=" + ver + ";)":   {"myvault", "mysecret", ver},
	}
	for in, want := range ok {
		got, err := ParseRef(in)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"plain",
		"@Microsoft.KeyVault(VaultName=myvault;SecretName=mysecret",
		"@Microsoft.KeyVault(VaultName=myvault)",
		"@Microsoft.KeyVault(SecretName=s)",
		"@Microsoft.KeyVault(VaultName=myvault;SecretName=s;Other=x)",
		"@Microsoft.KeyVault(VaultName=myvault;SecretName=s;VaultName=other)",
		"@Microsoft.KeyVault(VaultName=myvault;SecretName=s;SecretVersion=1)",
		"@Microsoft.KeyVault(VaultName=my_vault;SecretName=s)",
		"@Microsoft.KeyVault(SecretUri=http://myvault.vault.azure.net/secrets/s)",
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/keys/s)",
		"@Microsoft.KeyVault(SecretUri=https://myvault/secrets/s)",
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/s;VaultName=x)",
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/s?x=1)",
	} {
		if r, err := ParseRef(in); err == nil {
			t.Errorf("ParseRef(%q) = %+v, want an error", in, r)
		}
	}
}
