package sandbox

import (
	"bytes"
	"testing"
)

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

// FuzzMapWriter: an answer mapped as it streams, in writes of any size, is the answer mapped in
// one pass.
func FuzzMapWriter(f *testing.F) {
	f.Add([]byte(`{"@odata.nextLink":"https://a.lanyard.test:8443/v1.0/groups?$skiptoken=x","id":"https://kv.vault.lanyard.test/x"}`), uint16(7))
	f.Add([]byte("https://a.lanyard.test:8443/v1.0"), uint16(1))
	f.Add([]byte("https://https://kv.vault.lanyard.test"), uint16(3))
	m := newMapper([][2]string{{"https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0"}, {"https://kv.vault.lanyard.test", "https://kv.vault.azure.net"}})
	f.Fuzz(func(t *testing.T, src []byte, chunk uint16) {
		want := m.mapAll(nil, src)
		if got := chunked(m, src, int(chunk)); !bytes.Equal(got, want) {
			t.Fatalf("streamed in chunks of %d:\n got %q\nwant %q", chunk, got, want)
		}
	})
}
