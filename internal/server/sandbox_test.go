package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
)

// TestServerServesAzureNames: an enrolled node reads the sandbox CA's certificate (nobody else
// does); the server presents that CA's certificate to a client asking for one of Azure's names
// and Lanyard's to one asking for its own; and it serves Azure's names as its APIs.
func TestServerServesAzureNames(t *testing.T) {
	e := startManagement(t)
	n := e.enrollNode("sbx-node")
	st, _, raw := n.do(http.MethodGet, agentapi.PathSandboxCA, nil)
	var out agentapi.SandboxCAResponse
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("the sandbox CA for a node: %d %s", st, raw)
	}
	sbRoots := x509.NewCertPool()
	if !sbRoots.AppendCertsFromPEM([]byte(out.Certificate)) {
		t.Fatalf("not a PEM certificate: %q", out.Certificate)
	}
	resp, err := e.HTTP.Get(e.URL + agentapi.PathSandboxCA)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("the sandbox CA without a node's certificate: %d", resp.StatusCode)
	}

	addr := strings.TrimPrefix(e.URL, "https://")
	handshake := func(name string, roots *x509.CertPool) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, name := range []string{"graph.microsoft.com", "management.azure.com", "login.microsoftonline.com", "kv1.vault.azure.net"} {
		if err := handshake(name, sbRoots); err != nil {
			t.Errorf("%s with the sandbox CA: %v", name, err)
		}
		if err := handshake(name, e.CAPool); err == nil {
			t.Errorf("%s verifies with Lanyard's CA", name)
		}
	}
	if err := handshake("localhost", e.CAPool); err != nil {
		t.Errorf("localhost with Lanyard's CA: %v", err)
	}
	if err := handshake("localhost", sbRoots); err == nil {
		t.Error("localhost verifies with the sandbox CA")
	}

	// Azure's names served as the server's APIs (the client dials the server; nothing is resolved).
	both := x509.NewCertPool()
	both.AppendCertsFromPEM([]byte(out.Certificate))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: both},
	}}
	get := func(u string) (int, http.Header, string) {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if st, _, body := get("https://management.azure.com/metadata/endpoints?api-version=2022-09-01"); st != 200 || !strings.Contains(body, `"resourceManager"`) {
		t.Errorf("management.azure.com's cloud metadata: %d %.200s", st, body)
	}
	if st, h, body := get("https://graph.microsoft.com/v1.0/groups"); st != 401 || !strings.Contains(body, `"InvalidAuthenticationToken"`) {
		t.Errorf("graph.microsoft.com without a token: %d %v %.200s", st, h, body)
	}
}
