package pki

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
)

// sandboxMem is a SandboxStore over a memStore.
type sandboxMem struct{ memStore }

func (m *sandboxMem) GetSandboxCA(ctx context.Context) (CARecord, error) { return m.GetCA(ctx) }
func (m *sandboxMem) CreateSandboxCA(ctx context.Context, ca CARecord) error {
	return m.CreateCA(ctx, ca)
}

// TestSandboxCA: the sandbox CA is made once and read back; its certificate for Azure's names
// verifies for each of them (a vault's through the wildcard) and names nothing else; a
// certificate it signs for any other name does not verify (the name constraint), and none of its
// certificates verifies against Lanyard's root.
func TestSandboxCA(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	names := []string{"graph.microsoft.com", "management.azure.com", "login.microsoftonline.com", "vault.azure.net"}
	st := &sandboxMem{}
	ca, err := LoadOrCreateSandboxCA(ctx, st, kek, names, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSandboxCA(ctx, st, kek, names, nil, nil)
	if err != nil || !again.Certificate().Equal(ca.Certificate()) || st.creates != 1 {
		t.Fatalf("the sandbox CA is not kept: %v (%d made)", err, st.creates)
	}
	if c := ca.Certificate(); c.Subject.CommonName != SandboxCACommonName || !c.PermittedDNSDomainsCritical ||
		!slices.Equal(c.PermittedDNSDomains, names) {
		t.Fatalf("the sandbox CA: %q, constraints %v (critical %v)", c.Subject.CommonName, c.PermittedDNSDomains, c.PermittedDNSDomainsCritical)
	}
	if _, err := LoadOrCreateSandboxCA(ctx, st, newKEK(t), names, nil, nil); err == nil {
		t.Error("the sandbox CA opened with another KEK")
	}

	certs, err := NewServingCerts(ca, ServingOptions{Hosts: append(slices.Clone(names), "*.vault.azure.net"), Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs.Current().Leaf
	if slices.Contains(leaf.DNSNames, "localhost") || len(leaf.IPAddresses) > 0 {
		t.Errorf("the certificate for Azure's names names more: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	roots := ca.Pool()
	for _, name := range append(slices.Clone(names), "kv1.vault.azure.net") {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	evil, err := ca.IssueNames([]string{"bank.example.com"}, DefaultServingLifetime)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evil.Leaf.Verify(x509.VerifyOptions{DNSName: "bank.example.com", Roots: roots}); err == nil {
		t.Error("a certificate for bank.example.com signed by the sandbox CA verifies")
	}
	lanyard, err := LoadOrCreateCA(ctx, &memStore{}, kek, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "graph.microsoft.com", Roots: lanyard.Pool()}); err == nil {
		t.Error("the certificate for Azure's names verifies against Lanyard's root")
	}
	if _, err := LoadOrCreateSandboxCA(ctx, &sandboxMem{}, kek, nil, nil, nil); err == nil {
		t.Error("a sandbox CA without names was made")
	}
}
