package vault

import (
	"net"
	"strings"
	"testing"
)

// FuzzVaultName: the Host of every request decides whether it goes to a vault, and to which.
// VaultName does not panic, and a name it finds is one label (no dot, no port, lower case) that,
// put back in front of the vault domain, is the request's host.
func FuzzVaultName(f *testing.F) {
	s := &Service{VaultDomain: "Vault.LocalHost", Port: "8443"}
	for _, h := range []string{"kv1.vault.localhost:8443", "KV1.Vault.Localhost", "kv1.vault.localhost.:1", "a.b.vault.localhost",
		"kv1.vault.localhost.evil", ".vault.localhost", "[::1]:443", "kv\x00.vault.localhost", "kv1.vault.localhost:", "%6bv.vault.localhost"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, host string) {
		name, ok := s.VaultName(host)
		if !ok {
			if name != "" {
				t.Fatalf("%q: not a vault host, but name %q", host, name)
			}
			return
		}
		if name == "" || strings.ContainsAny(name, ".:") || strings.ToLower(name) != name {
			t.Fatalf("%q: vault name %q", host, name)
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		if !strings.EqualFold(strings.TrimSuffix(h, "."), name+".vault.localhost") {
			t.Fatalf("%q gave the vault %q, which is not its host", host, name)
		}
	})
}
