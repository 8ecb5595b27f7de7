package compat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// BenchmarkSandbox measures what the sandbox adds, each target against its group's baseline in
// the same run, interleaved (each target once a round), 16 keep-alive clients, medians of 5
// rounds of 4,000 requests:
//
//		go test -run '^$' -bench Sandbox -benchtime 1x ./internal/compat
//		go test -run '^$' -bench Sandbox/graph -benchtime 1x ./internal/compat  # one group
//
//	  - token: a cached token from the app's 169.254.169.254 inside its sandbox, against the same
//	    app's token from the agent's App Service endpoint on the host;
//	  - graph: GET /v1.0/servicePrincipals/{id} through the agent's relay in the sandbox as
//	    https://graph.microsoft.com (the connection passed to the server, which serves Azure's
//	    name), against the same request sent to the server directly;
//	  - start: registering an app with a sandbox (namespace, listeners, pasta) against without.
func BenchmarkSandbox(b *testing.B) {
	if err := sandbox.Check(); err != nil {
		b.Skipf("this host does not allow sandboxes: %v", err)
	}
	env := lanyardtest.Start(b, lanyardtest.Options{})
	ctx := context.Background()
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		b.Fatal(err)
	}
	group := client.ResourceGroupPath(sub.SubscriptionID, "apps")
	if err := env.Admin.ARM(ctx, http.MethodPut, group, client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil); err != nil {
		b.Fatal(err)
	}
	var site armRes
	if err := env.Admin.ARM(ctx, http.MethodPut, group+"/providers/Microsoft.Web/sites/bench", client.APIVersionSites, map[string]any{
		"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"lanyard": map[string]string{"node": "bench-node"}},
	}, &site); err != nil {
		b.Fatal(err)
	}
	var graphSP struct {
		ID string `json:"id"`
	}
	if err := env.Admin.Do(ctx, http.MethodGet, "/v1.0/servicePrincipals(appId='"+graphAppID+"')", nil, &graphSP); err != nil {
		b.Fatal(err)
	}
	var roles struct {
		AppRoles []struct{ ID, Value string } `json:"appRoles"`
	}
	_ = env.Admin.Do(ctx, http.MethodGet, "/v1.0/servicePrincipals/"+graphSP.ID, nil, &roles)
	for _, r := range roles.AppRoles {
		if r.Value == "Application.Read.All" {
			_ = env.Admin.Do(ctx, http.MethodPost, "/v1.0/servicePrincipals/"+graphSP.ID+"/appRoleAssignedTo",
				map[string]string{"principalId": site.Identity.PrincipalID, "resourceId": graphSP.ID, "appRoleId": r.ID}, nil)
		}
	}
	a := env.StartAgent(b, "bench-node", agent.Config{Sandbox: agent.SandboxOn, HitRate: 1e9, MissRate: 1e6, MissConcurrency: 64})
	appCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	appEnv, err := a.StartApp(appCtx, agent.AppConfig{Site: site.ID})
	if err != nil {
		b.Fatal(err)
	}
	nsPath, _, _ := a.SandboxOf("bench")
	ns := &sandbox.Netns{Name: "bench", Path: nsPath}
	// inside is a client whose connections are made inside the sandbox, all to addr: no name is
	// resolved by this process (an Azure name must never reach the host's resolver).
	inside := func(addr string, tlsCfg *tls.Config) *http.Client {
		return &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (c net.Conn, err error) {
				err = ns.Do(func() error {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
			TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: tlsCfg != nil,
		}, Timeout: 30 * time.Second}
	}
	host := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CAPool}, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true},
		Timeout: 30 * time.Second}
	bundle, err := os.ReadFile(sandboxBundle(b, a))
	if err != nil {
		b.Fatal(err)
	}
	sbRoots := x509.NewCertPool()
	sbRoots.AppendCertsFromPEM(bundle)

	res := "?resource=https://management.azure.com/&api-version="
	hostToken := func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, a.URL()+agent.PathAppService+res+"2019-08-01", nil)
		r.Header.Set("X-IDENTITY-HEADER", appEnv["IDENTITY_HEADER"])
		return r
	}
	imdsToken := func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254"+agent.PathIMDS+res+"2018-02-01", nil)
		r.Header.Set("Metadata", "true")
		return r
	}
	var graphTok struct {
		AccessToken string `json:"access_token"`
	}
	if err := env.Admin.Do(ctx, http.MethodPost, "/admin/v1/tokens", map[string]any{"principalId": site.Identity.PrincipalID, "resource": graphURI}, &graphTok); err != nil {
		b.Fatal(err)
	}
	graphReq := func(base string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, base+"/v1.0/servicePrincipals/"+graphSP.ID+"?$select=id,displayName", nil)
			r.Header.Set("Authorization", "Bearer "+graphTok.AccessToken)
			return r
		}
	}
	type target struct {
		name string
		req  func() *http.Request
		c    *http.Client
	}
	// Each group: its first target is the baseline of the others, every target run once a round,
	// in turn.
	groups := [][]target{
		{{"token: appservice-host", hostToken, host}, {"token: imds-sandbox", imdsToken, inside(sandbox.IMDSAddr.String()+":80", nil)}},
		{{"graph GET: direct", graphReq(env.URL), host},
			{"graph GET: relay in the sandbox", graphReq("https://graph.microsoft.com"), inside(sandbox.RelayAddr.String()+":443", &tls.Config{RootCAs: sbRoots})},
		},
	}
	b.ResetTimer()
	for _, g := range groups {
		g := g
		b.Run(strings.TrimSuffix(strings.Fields(g[0].name)[0], ":"), func(b *testing.B) {
			rates, cpus := make([][]float64, len(g)), make([][]float64, len(g))
			for round := 0; round < 5; round++ {
				for i, tg := range g {
					r, c := loadRate(b, tg.c, tg.req, 16, 4000)
					rates[i], cpus[i] = append(rates[i], r), append(cpus[i], c)
				}
			}
			base, baseCPU := median(rates[0]), median(cpus[0])
			b.Logf("%s: %.0f req/s, %.0f µs CPU a request", g[0].name, base, baseCPU)
			for i, tg := range g[1:] {
				r := rates[i+1]
				ratios := make([]float64, len(r))
				for j := range r {
					ratios[j] = r[j] / rates[0][j]
				}
				c := median(cpus[i+1])
				b.Logf("%s: %.0f req/s, %.2fx (median of the rounds' ratios %.2fx); %.0f µs CPU a request, direct/this %.2fx",
					tg.name, median(r), median(r)/base, median(ratios), c, baseCPU/c)
			}
		})
	}
	// App start: StartApp with and without a sandbox (and the sandbox's removal), 10 each.
	b.Run("start", func(b *testing.B) { appStart(ctx, b, a, group) })
}

// appStart measures StartApp with a sandbox against without.
func appStart(ctx context.Context, b *testing.B, a *lanyardtest.Agent, group string) {
	var with, without []float64
	for i := 0; i < 10; i++ {
		for _, mode := range []string{agent.SandboxOn, agent.SandboxOff} {
			name := fmt.Sprintf("start-%s-%d", mode, i)
			start := time.Now()
			c, stop := context.WithCancel(ctx)
			if _, err := a.StartApp(c, agent.AppConfig{Site: group + "/providers/Microsoft.Web/sites/" + name, Sandbox: mode}); err != nil {
				b.Fatal(err)
			}
			d := float64(time.Since(start).Microseconds()) / 1000
			stop()
			if mode == agent.SandboxOn {
				with = append(with, d)
			} else {
				without = append(without, d)
			}
		}
	}
	b.Logf("app start: %.1f ms with a sandbox, %.2f ms without (medians of 10)", median(with), median(without))
}

// sandboxBundle is the trust store the agent's sandboxes get.
func sandboxBundle(b *testing.B, a *lanyardtest.Agent) string {
	_, binds, ok := a.SandboxOf("bench")
	if !ok {
		b.Fatal("no sandbox")
	}
	for _, bd := range binds {
		if bd.Dst == sandbox.SystemTrustStores[0] {
			return bd.Src
		}
	}
	b.Fatal("the sandbox covers no trust store")
	return ""
}

// loadRate sends n requests from c clients at once and returns the rate, in requests per
// second, and the CPU time this process spent per request, in microseconds (clients, agent,
// relay and server are all in it): the rate depends on what else the machine runs, the CPU time
// much less.
func loadRate(b *testing.B, hc *http.Client, req func() *http.Request, c, n int) (rate, cpu float64) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				resp, err := hc.Do(req())
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	return float64(n) / time.Since(start).Seconds(), float64((cpuTime() - cpu0).Microseconds()) / float64(n)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
