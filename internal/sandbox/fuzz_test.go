package sandbox

import "testing"

// FuzzResolverAnswer: whatever an app sends the sandbox's resolver, it answers or drops it, never
// panics, and never asks the upstream about an Azure name (there is no upstream here: a question
// that is not answered locally is dropped).
func FuzzResolverAnswer(f *testing.F) {
	f.Add([]byte("\x00\x2a\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05graph\x09microsoft\x03com\x00\x00\x01\x00\x01"))
	f.Add([]byte{})
	r := &Resolver{Relay: RelayAddr}
	f.Fuzz(func(t *testing.T, q []byte) {
		_ = r.answer(q, "udp")
	})
}

// FuzzMatch: Match never panics and calls a name Azure's only when it ends with an Azure host.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"graph.microsoft.com", "kv1.vault.azure.net:443", "x", "[::1]:80", "a.vault.azure.net."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		api, vault := Match(host)
		if api == Vault && vault != "" && !validVaultName(vault) {
			t.Fatalf("Match(%q) = vault %q, not a vault name", host, vault)
		}
	})
}
