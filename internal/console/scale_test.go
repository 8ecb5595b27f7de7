package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestScaleListPages measures the server time of the console's list pages with 10,000 service
// principals, 10,000 role assignments and 1,000 secrets (issue 16), against the API call each
// page is built on, in the same run. It asserts no timing: it prints a table for
// docs/performance.md. Seeding takes minutes, so it runs only with LANYARD_CONSOLE_SCALE=1:
//
//	LANYARD_CONSOLE_SCALE=1 go test -run TestScaleListPages -v -timeout 30m ./internal/console
func TestScaleListPages(t *testing.T) {
	if os.Getenv("LANYARD_CONSOLE_SCALE") != "1" {
		t.Skip("set LANYARD_CONSOLE_SCALE=1 to seed 10,000 principals and measure the list pages")
	}
	n := 10000
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := sub.SubscriptionID
	arm := func(method, path, v string, in, out any) {
		if err := env.Admin.ARM(ctx, method, path, v, in, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	arm(http.MethodPut, client.ResourceGroupPath(s, "rg"), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil)
	var vault struct {
		Properties struct{ VaultURI string } `json:"properties"`
	}
	arm(http.MethodPut, client.ResourcePath(s, "rg", client.TypeVaults, "kvscale"), client.APIVersionVaults, map[string]any{"location": "local",
		"properties": map[string]any{"tenantId": env.Server.Default.ID, "sku": map[string]string{"family": "A", "name": "standard"}}}, &vault)
	host, _ := client.VaultHost(vault.Properties.VaultURI)
	var readerRole string
	{
		var defs []client.AzureRoleDefinition
		arm(http.MethodGet, client.SubscriptionPath(s)+"/providers/"+client.TypeRoleDefinitions, client.APIVersionAuthorization, nil, &defs)
		for _, d := range defs {
			if d.Properties.RoleName == "Reader" {
				readerRole = d.ID
			}
		}
	}
	start := time.Now()
	parallel(t, 8, n, func(i int) error {
		var app client.Application
		if err := env.Admin.Graph(ctx, http.MethodPost, client.GraphBase+"/applications", client.Application{DisplayName: fmt.Sprintf("app-%05d", i)}, &app); err != nil {
			return err
		}
		var sp client.ServicePrincipal
		if err := env.Admin.Graph(ctx, http.MethodPost, client.GraphBase+"/servicePrincipals", map[string]string{"appId": app.AppID}, &sp); err != nil {
			return err
		}
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		return env.Admin.ARM(ctx, http.MethodPut, client.SubscriptionPath(s)+"/providers/"+client.TypeRoleAssignments+"/"+id, client.APIVersionAuthorization,
			map[string]any{"properties": map[string]string{"roleDefinitionId": readerRole, "principalId": sp.ID, "principalType": "ServicePrincipal"}}, nil)
	})
	parallel(t, 8, 1000, func(i int) error {
		_, err := env.Admin.Vault(host).SetSecret(ctx, fmt.Sprintf("secret-%04d", i), client.SecretSet{Value: "v"})
		return err
	})
	parallel(t, 8, 1000, func(i int) error {
		return env.Admin.ARM(ctx, http.MethodPut, client.ResourceGroupPath(s, fmt.Sprintf("group-%04d", i)), client.APIVersionResourceGroups,
			map[string]string{"location": "local"}, nil)
	})
	t.Logf("seeded %d applications, service principals and role assignments, 1,000 secrets and 1,000 resource groups in %s", n, time.Since(start).Round(time.Second))

	b := signIn(t, env)
	u, _ := url.Parse(env.URL)
	var cookie string
	for _, c := range b.hc.Jar.Cookies(u) {
		cookie = c.Name + "=" + c.Value
	}
	serve := func(path string, h http.Header) time.Duration {
		req := httptest.NewRequest(http.MethodGet, env.URL+path, nil)
		req.Host = u.Host
		req.Header.Set("Cookie", cookie)
		for k, v := range h {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		t0 := time.Now()
		env.Server.Handler().ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String()[:min(300, rec.Body.Len())])
		}
		return d
	}
	// The second page's link, as a user would follow it.
	_, page1 := b.get("/console/enterprise-apps")
	next := between(page1, "next=", `"`)
	_, sec1 := b.get("/console/vaults/rg/kvscale/secrets")
	secNext := between(sec1, "?next=", `"`)
	_, rg1 := b.get("/console/resource-groups")
	rgNext := between(rg1, "?next=", `"`)
	// The first seconds of seeding: audit events far back in the chain.
	early := url.QueryEscape(start.UTC().Format(time.RFC3339)) + "&to=" + url.QueryEscape(start.Add(2*time.Second).UTC().Format(time.RFC3339))
	startswith := func(p string) string { return url.QueryEscape("startswith(displayName,'" + p + "')") }
	admin := http.Header{} // the API baselines: served as the session's principal would be, through the admin socket's handler
	type row struct{ name, path, base string }
	rows := []row{
		{"Enterprise applications, page 1", "/console/enterprise-apps", "/v1.0/servicePrincipals?$top=25"},
		{"Enterprise applications, page 2", "/console/enterprise-apps?next=" + next, ""},
		{"Enterprise applications, search (the last 10 of 10,000)", "/console/enterprise-apps?q=app-0999", "/v1.0/servicePrincipals?$top=25&$filter=" + startswith("app-0999")},
		{"Enterprise applications, search (1,000 matches)", "/console/enterprise-apps?q=APP-05", "/v1.0/servicePrincipals?$top=25&$filter=" + startswith("APP-05")},
		{"Enterprise applications, search (10,000 matches)", "/console/enterprise-apps?q=app-", "/v1.0/servicePrincipals?$top=25&$filter=" + startswith("app-")},
		{"App registrations, page 1", "/console/app-registrations", "/v1.0/applications?$top=25"},
		{"App registrations, search (the last 10)", "/console/app-registrations?q=app-0999", "/v1.0/applications?$top=25&$filter=" + startswith("app-0999")},
		{"Access policy principal picker, search (the last 10)", "/console/vaults/rg/kvscale/access-policies/new?q=app-0999", ""},
		{"Access control (IAM), subscription", "/console/iam", "/subscriptions/" + s + "/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()&$top=25&api-version=2022-04-01"},
		{"Resource groups, page 1 (1,001 groups)", "/console/resource-groups", "/subscriptions/" + s + "/resourcegroups?$top=25&api-version=2021-04-01"},
		{"Resource groups, page 2", "/console/resource-groups?next=" + rgNext, ""},
		{"Secrets, page 1", "/console/vaults/rg/kvscale/secrets", ""},
		{"Secrets, page 2", "/console/vaults/rg/kvscale/secrets?next=" + secNext, ""},
		{"Audit log", "/console/audit", "/admin/v1/audit?limit=100"},
		{"Audit log, filtered by action (vault.secret, recent)", "/console/audit?action=vault.secret", "/admin/v1/audit?order=desc&limit=25&action=vault.secret"},
		{"Audit log, filtered by action (signing-key, the chain's first events)", "/console/audit?action=signing-key", "/admin/v1/audit?order=desc&limit=25&action=signing-key"},
		{"Audit log, filtered by target prefix (one resource group)", "/console/audit?target=" + url.QueryEscape(client.ResourceGroupPath(s, "group-0001")), ""},
		{"Audit log, filtered by time (the first 2 s of seeding)", "/console/audit?from=" + early, "/admin/v1/audit?order=desc&limit=25&from=" + early},
		{"Dashboard", "/console/", ""},
	}
	// 200 runs of each page, in 4 interleaved rounds of 50 over all pages, so that a burst of load
	// on the shared machine falls on every page alike rather than on one.
	const runs, rounds = 200, 4
	ds := make([][]time.Duration, len(rows))
	bs := make([][]time.Duration, len(rows))
	for _, r := range rows {
		serve(r.path, nil) // warm
	}
	for range rounds {
		for i, r := range rows {
			for range runs / rounds {
				ds[i] = append(ds[i], serve(r.path, nil))
			}
			if r.base != "" {
				for range runs / rounds {
					bs[i] = append(bs[i], serveAPI(t, env, r.base, admin))
				}
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at the end: %s\n| page | console p50 | console p99 | API call p50 | API call p99 | runs |\n|---|---|---|---|---|---|\n", strings.TrimSpace(string(load)))
	for i, r := range rows {
		apiP50, apiP99 := "—", "—"
		if r.base != "" {
			apiP50, apiP99 = pct(bs[i], 50).String(), pct(bs[i], 99).String()
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d |\n", r.name, pct(ds[i], 50), pct(ds[i], 99), apiP50, apiP99, runs)
	}
}

// serveAPI times one API request served in-process as an administrator (the console's principal).
func serveAPI(t *testing.T, env *lanyardtest.Env, path string, _ http.Header) time.Duration {
	u, _ := url.Parse(env.URL)
	req := httptest.NewRequest(http.MethodGet, env.URL+path, nil)
	req.Host = u.Host
	req = req.WithContext(adminContext(req.Context()))
	rec := httptest.NewRecorder()
	t0 := time.Now()
	env.Server.Handler().ServeHTTP(rec, req)
	d := time.Since(t0)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: %d", path, rec.Code)
	}
	return d
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(10 * time.Microsecond)
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		s = s[:j]
	}
	return strings.ReplaceAll(s, "&amp;", "&")
}

func parallel(t *testing.T, workers, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	ch := make(chan int)
	var once sync.Once
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				if err := fn(i); err != nil {
					once.Do(func() { first = fmt.Errorf("item %d: %w", i, err) })
				}
			}
		}()
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}
