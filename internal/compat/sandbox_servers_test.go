package compat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// TestSandboxRelayFollowsServers: an agent given two servers of one control plane (PostgreSQL),
// an app in its sandbox calling https://graph.microsoft.com and https://NAME.vault.azure.net
// with curl. The first server stops; the app's next calls succeed through the second, and their
// answers still name Azure's hosts. Meanwhile a client inside the sandbox keeps sending Graph
// GETs through the relay, and none of them fails while the server stops.
func TestSandboxRelayFollowsServers(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skipf("this host does not allow sandboxes: %v", err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		missing(t, "LANYARD_REQUIRE_CURL", "curl is not installed")
	}
	dsn := lanyardtest.PostgresDSN(t)
	a := lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"store": dsn}})
	b := lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"store": a.Config.Store, "public-url": a.URL}})
	base := func(e *lanyardtest.Env) string {
		_, port, _ := net.SplitHostPort(e.Config.Listen)
		return "https://localhost:" + port
	}
	ctx := context.Background()
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	armDo(t, a, http.MethodGet, "/subscriptions", "2022-12-01", nil, &subs)
	sub := subs.Value[0].SubscriptionID
	group := "/subscriptions/" + sub + "/resourceGroups/apps"
	armDo(t, a, http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil)
	var site armRes
	armDo(t, a, http.MethodPut, group+"/providers/Microsoft.Web/sites/ha-app", vWeb, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "ha-node"}},
	}, &site)
	grant(t, a, sp{ID: site.Identity.PrincipalID}, builtin(t, a, graphAppID), "Application.Read.All")
	e := &vaultEnv{t: t, env: a, sub: sub}
	e.arm(http.MethodPut, client.ResourcePath(sub, "apps", client.TypeVaults, "kv-ha"), client.APIVersionVaults, map[string]any{
		"location": "local", "properties": map[string]any{"tenantId": a.Server.Default.ID, "sku": map[string]string{"family": "A", "name": "standard"},
			"accessPolicies": []map[string]any{{"tenantId": a.Server.Default.ID, "objectId": site.Identity.PrincipalID,
				"permissions": map[string][]string{"secrets": {"get", "list"}}}}},
	}, nil)
	u, _ := url.Parse(a.URL)
	if _, err := a.Admin.Vault("kv-ha.vault.localhost:"+u.Port()).SetSecret(ctx, "greeting", client.SecretSet{Value: "hello-from-vault"}); err != nil {
		t.Fatal(err)
	}

	ag := b.StartAgent(t, "ha-node", agent.Config{ServerURL: base(a), Servers: []string{base(b)}, Sandbox: agent.SandboxOn})
	appCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	appEnv, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID})
	if err != nil {
		t.Fatal(err)
	}
	nsPath, binds, ok := ag.SandboxOf("ha-app")
	if !ok {
		t.Fatal("the app has no sandbox")
	}
	// The app: tokens from its 169.254.169.254, then three rounds of a Graph list (its status and
	// nextLink's host) and a secret (its value and id's host), with curl and no CA flag.
	script := `set -e
tok() { curl -sS -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$1" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'; }
G=$(tok https://graph.microsoft.com/)
V=$(tok https://vault.azure.net)
for i in 1 2 3; do
  curl -sS -w ' %{http_code}\n' -H "Authorization: Bearer $G" 'https://graph.microsoft.com/v1.0/servicePrincipals?$top=1' | grep -o '"@odata.nextLink":"https://[^/]*/[^/]*/\| [0-9]*$' | tr -d '\n'; echo
  curl -sS -w ' %{http_code}\n' -H "Authorization: Bearer $V" 'https://kv-ha.vault.azure.net/secrets/greeting?api-version=7.4' | grep -o '"value":"[^"]*"\|"id":"https://[^/]*/\| [0-9]*$' | tr -d '\n'; echo
done`
	want := strings.Repeat(`"@odata.nextLink":"https://graph.microsoft.com/v1.0/ 200`+"\n"+
		`"value":"hello-from-vault""id":"https://kv-ha.vault.azure.net/ 200`+"\n", 3)
	runApp := func() string {
		cmd, err := sandbox.Command(&sandbox.Netns{Path: nsPath}, binds, []string{"sh", "-c", script})
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, appEnv.List()...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
		err = cmd.Wait()
		timer.Stop()
		if err != nil || stderr.Len() > 0 {
			t.Logf("the app: %v\n%s", err, stderr.String())
		}
		return stdout.String()
	}
	if got := runApp(); got != want {
		t.Fatalf("with both servers up, the app printed\n%s\nwant\n%s", got, want)
	}

	// A client inside the sandbox (its connections made in the app's namespace, to the relay's
	// address: nothing is resolved on the host) sending Graph GETs while the first server stops.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := a.Admin.Do(ctx, http.MethodPost, "/admin/v1/tokens", map[string]any{"principalId": site.Identity.PrincipalID, "resource": graphURI}, &tok); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, bd := range binds {
		if bd.Dst == sandbox.SystemTrustStores[0] {
			pem, err := os.ReadFile(bd.Src)
			if err != nil {
				t.Fatal(err)
			}
			roots.AppendCertsFromPEM(pem)
		}
	}
	ns := &sandbox.Netns{Name: "ha-app", Path: nsPath}
	inside := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (c net.Conn, err error) {
			err = ns.Do(func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, sandbox.RelayAddr.String()+":443")
				return err
			})
			return c, err
		},
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true,
	}}
	defer inside.CloseIdleConnections()
	get := func() error {
		req, _ := http.NewRequest(http.MethodGet, "https://graph.microsoft.com/v1.0/servicePrincipals?$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := inside.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"@odata.nextLink":"https://graph.microsoft.com/v1.0/`) {
			return fmt.Errorf("%d %.200s", resp.StatusCode, body)
		}
		return nil
	}
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if err := get(); err != nil {
					failed.Add(1)
					t.Errorf("a Graph GET through the relay failed while a server stopped: %v", err)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d Graph GETs through the relay from 4 clients while the first server stopped: %d failed", sent.Load(), failed.Load())
	if sent.Load() < 8 {
		t.Errorf("only %d requests were sent: the stop was not under load", sent.Load())
	}
	// The first server is gone: the app's next calls go through the second.
	if c, err := net.Dial("tcp", a.Config.Listen); err == nil {
		c.Close()
		t.Fatal("the first server still accepts connections")
	}
	if got := runApp(); got != want {
		t.Fatalf("with the first server stopped, the app printed\n%s\nwant\n%s", got, want)
	}
}
