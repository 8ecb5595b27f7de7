package console_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/console"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// clock is a settable time for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, env *lanyardtest.Env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: env.URL, hc: &http.Client{
		Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CAPool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second,
	}}
}

func (b *browser) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.base + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func (b *browser) get(path string) (*http.Response, string) {
	return b.do(http.MethodGet, path, nil, nil)
}

// csrf returns the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, page := b.get(path)
	const mark = `name="csrf" value="`
	i := strings.Index(page, mark)
	if i < 0 {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	rest := page[i+len(mark):]
	return rest[:strings.IndexByte(rest, '"')]
}

func link(t *testing.T, env *lanyardtest.Env, ttl string) string {
	t.Helper()
	var out console.LinkResponse
	in := map[string]string{}
	if ttl != "" {
		in["ttl"] = ttl
	}
	if err := env.Admin.Do(context.Background(), http.MethodPost, "/admin/v1/console/login-links", in, &out); err != nil {
		t.Fatal(err)
	}
	return out.URL
}

func signIn(t *testing.T, env *lanyardtest.Env) *browser {
	t.Helper()
	b := newBrowser(t, env)
	resp, _ := b.get(link(t, env, ""))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return b
}

func TestLoginLinks(t *testing.T) {
	clk := &clock{t: time.Now()}
	env := lanyardtest.Start(t, lanyardtest.Options{Now: clk.Now})
	b := newBrowser(t, env)
	l := link(t, env, "")
	resp, _ := b.get(l)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d, want 303", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-lanyard-console" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("session cookie = %+v, want __Host-, HttpOnly, Secure, SameSite=Strict, Path=/", ck)
	}
	if strings.Contains(l, ck.Value) {
		t.Error("the session's secret is the link's")
	}
	if resp, _ := b.get("/console/"); resp.StatusCode != http.StatusOK {
		t.Errorf("dashboard after sign-in: %d", resp.StatusCode)
	}
	// Used.
	other := newBrowser(t, env)
	if resp, body := other.get(l); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "already used or has expired") {
		t.Errorf("second use: %d, want 403 saying so", resp.StatusCode)
	}
	// Expired.
	l2 := link(t, env, "1m")
	clk.Add(61 * time.Second)
	if resp, _ := other.get(l2); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired link: %d, want 403", resp.StatusCode)
	}
	// Malformed and unknown.
	for _, bad := range []string{"/console/login", "/console/login?t=x", "/console/login?t=" + strings.Repeat("A", 43)} {
		if resp, _ := other.get(bad); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", bad, resp.StatusCode)
		}
	}
	if resp, _ := other.get("/console/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("not signed in: %d, want 401", resp.StatusCode)
	}
	// The session expires after 8 hours.
	clk.Add(console.DefaultSessionTTL)
	if resp, _ := b.get("/console/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired session: %d, want 401", resp.StatusCode)
	}
}

func TestLoginLinkOnlyOnAdminSocket(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	b := signIn(t, env)
	// Over HTTPS, with or without a console session, nobody gets a link.
	resp, _ := b.do(http.MethodPost, "/admin/v1/console/login-links", url.Values{}, nil)
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("login link over HTTPS: %d, want 401 or 403", resp.StatusCode)
	}
	if err := env.Admin.Do(context.Background(), http.MethodPost, "/admin/v1/console/login-links", map[string]string{"ttl": "2h"}, nil); err == nil {
		t.Error("a link valid for 2h was made, want the 1h limit")
	}
}

func TestCSRF(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	b := signIn(t, env)
	tok := b.csrf("/console/resource-groups")
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exists := func(name string) bool {
		var g client.Resource
		err := env.Admin.ARM(context.Background(), http.MethodGet, client.ResourceGroupPath(sub.SubscriptionID, name), client.APIVersionResourceGroups, nil, &g)
		return err == nil
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no-token", url.Values{"name": {"g-none"}}, ""},
		{"wrong-token", url.Values{"name": {"g-wrong"}, "csrf": {tok[:len(tok)-2] + "xx"}}, ""},
		{"other-origin", url.Values{"name": {"g-origin"}, "csrf": {tok}}, "https://evil.example"},
		{"null-origin", url.Values{"name": {"g-null"}, "csrf": {tok}}, "null"},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		resp, _ := b.do(http.MethodPost, "/console/resource-groups", tc.form, h)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, resp.StatusCode)
		}
		if exists(tc.form.Get("name")) {
			t.Errorf("%s: the group was created", tc.name)
		}
	}
	// Another session's token is not this one's.
	b2 := signIn(t, env)
	if tok2 := b2.csrf("/console/resource-groups"); tok2 == tok {
		t.Error("two sessions have the same CSRF token")
	}
	resp, _ := b.do(http.MethodPost, "/console/resource-groups", url.Values{"name": {"g-ok"}, "csrf": {tok}}, http.Header{"Origin": {env.URL}})
	if resp.StatusCode != http.StatusSeeOther || !exists("g-ok") {
		t.Fatalf("with the token: %d, created %v", resp.StatusCode, exists("g-ok"))
	}
	// Audited with the session as actor, by the API that made the change.
	var out struct {
		Value []struct{ Actor, Action, Target string }
	}
	if err := env.Admin.Do(context.Background(), http.MethodGet, "/admin/v1/audit?limit=1000", nil, &out); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range out.Value {
		if strings.HasPrefix(e.Actor, "console:") && strings.HasSuffix(e.Target, "/resourceGroups/g-ok") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit event by a console session for the group: %+v", out.Value)
	}
	// Sign-out ends the session.
	resp, _ = b.do(http.MethodPost, "/console/logout", url.Values{"csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := b.get("/console/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out: %d, want 401", resp.StatusCode)
	}
}

func TestHeadersAndEscaping(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	const evil = `<script>alert(1)</script>"'&`
	var app client.Application
	if err := env.Admin.Graph(context.Background(), http.MethodPost, client.GraphBase+"/applications", client.Application{DisplayName: evil}, &app); err != nil {
		t.Fatal(err)
	}
	b := signIn(t, env)
	for _, p := range []string{"/console/", "/console/resource-groups", "/console/sites?kind=app", "/console/identities", "/console/vaults",
		"/console/app-registrations", "/console/app-registrations/" + app.ID, "/console/enterprise-apps", "/console/iam", "/console/nodes",
		"/console/audit", "/console/login?t=bad", "/console/signed-out", "/console/app-registrations/nope"} {
		resp, body := b.get(p)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", p, h)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<script>") && !strings.Contains(body, `<script src="/console/static/`) {
			t.Errorf("%s: a script element in the page", p)
		}
	}
	_, body := b.get("/console/app-registrations/" + app.ID)
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;") {
		t.Errorf("the display name is not shown escaped")
	}
	// / sends browsers to the console.
	resp, _ := b.get("/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Errorf("/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestShowSecretValue: the value is shown only in the answer to a POST (never in a URL), and the
// read is audited with the session as actor.
func TestShowSecretValue(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, _ := env.Admin.DefaultSubscription(ctx)
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourceGroupPath(sub.SubscriptionID, "rg"), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Properties struct{ VaultURI string } `json:"properties"`
	}
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourcePath(sub.SubscriptionID, "rg", client.TypeVaults, "kv1"), client.APIVersionVaults,
		map[string]any{"location": "local", "properties": map[string]any{"tenantId": env.Server.Default.ID, "sku": map[string]string{"family": "A", "name": "standard"}}}, &v); err != nil {
		t.Fatal(err)
	}
	host, _ := client.VaultHost(v.Properties.VaultURI)
	if _, err := env.Admin.Vault(host).SetSecret(ctx, "pw", client.SecretSet{Value: "v<al>ue-42"}); err != nil {
		t.Fatal(err)
	}
	b := signIn(t, env)
	_, list := b.get("/console/vaults/rg/kv1/secrets/pw")
	if strings.Contains(list, "v<al>ue-42") || strings.Contains(list, "v&lt;al&gt;ue-42") {
		t.Fatal("the value is on the page before it was asked for")
	}
	tok := b.csrf("/console/vaults/rg/kv1/secrets/pw")
	resp, body := b.do(http.MethodPost, "/console/vaults/rg/kv1/secrets/pw/show", url.Values{"csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "v&lt;al&gt;ue-42") {
		t.Fatalf("show: %d, value escaped on the page: %v", resp.StatusCode, strings.Contains(body, "v&lt;al&gt;ue-42"))
	}
	var out struct {
		Value []struct{ Actor, Action, Target string }
	}
	if err := env.Admin.Do(ctx, http.MethodGet, "/admin/v1/audit?limit=1000", nil, &out); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range out.Value {
		if strings.HasPrefix(e.Actor, "console:") && e.Action == "vault.secret.get" && strings.Contains(e.Target, "/secrets/pw") {
			found = true
		}
	}
	if !found {
		t.Error("showing the value was not audited with the console session as actor")
	}
	// Disable, delete, recover, purge, each through the vault's API.
	for _, op := range []string{"disable", "delete", "recover", "delete", "purge"} {
		resp, _ := b.do(http.MethodPost, "/console/vaults/rg/kv1/secrets/pw/"+op, url.Values{"csrf": {tok}}, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: %d, want 303", op, resp.StatusCode)
		}
	}
	if _, err := env.Admin.Vault(host).GetSecret(ctx, "pw", ""); !client.IsNotFound(err) {
		t.Errorf("after purge: %v, want 404", err)
	}
}

// TestIAMPages: role assignments are paged by the API ($top, $skipToken); an assignment from a
// parent scope is marked inherited.
func TestIAMPages(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, _ := env.Admin.DefaultSubscription(ctx)
	s := sub.SubscriptionID
	rg := client.ResourceGroupPath(s, "rg")
	if err := env.Admin.ARM(ctx, http.MethodPut, rg, client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	var defs []client.AzureRoleDefinition
	if err := env.Admin.ARM(ctx, http.MethodGet, client.SubscriptionPath(s)+"/providers/"+client.TypeRoleDefinitions, client.APIVersionAuthorization, nil, &defs); err != nil {
		t.Fatal(err)
	}
	reader := ""
	for _, d := range defs {
		if d.Properties.RoleName == "Reader" {
			reader = d.ID
		}
	}
	assign := func(scope string, i int) {
		var mi struct {
			Properties struct{ PrincipalID string } `json:"properties"`
		}
		name := "mi" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourcePath(s, "rg", client.TypeIdentities, name), client.APIVersionIdentities, map[string]string{"location": "local"}, &mi); err != nil {
			t.Fatal(err)
		}
		id := "00000000-0000-4000-8000-0000000000" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		id = id[:34] + "%02d"
		id = strings.Replace(id, "%02d", string(rune('0'+i/10))+string(rune('0'+i%10)), 1)
		if err := env.Admin.ARM(ctx, http.MethodPut, scope+"/providers/"+client.TypeRoleAssignments+"/"+id, client.APIVersionAuthorization,
			map[string]any{"properties": map[string]string{"roleDefinitionId": reader, "principalId": mi.Properties.PrincipalID}}, nil); err != nil {
			t.Fatalf("assign %d: %v", i, err)
		}
	}
	assign(client.SubscriptionPath(s), 0)
	for i := 1; i <= 30; i++ {
		assign(rg, i)
	}
	b := signIn(t, env)
	_, p1 := b.get("/console/iam?scope=" + url.QueryEscape(rg))
	if n := strings.Count(p1, "<td>Reader</td>"); n != 25 {
		t.Errorf("page 1 has %d rows, want 25", n)
	}
	if !strings.Contains(p1, "Inherited") {
		t.Error("the subscription's assignment is not marked inherited")
	}
	next := between(p1, "skip=", `"`)
	if next == "" {
		t.Fatal("no next page")
	}
	_, p2 := b.get("/console/iam?scope=" + url.QueryEscape(rg) + "&skip=" + next)
	if n := strings.Count(p2, "<td>Reader</td>"); n != 6 {
		t.Errorf("page 2 has %d rows, want 6", n)
	}
	if strings.Contains(p2, "skip=") {
		t.Error("page 2 links to a page 3")
	}
}

// TestDashboardCounts: a token minted and a refused request show on the dashboard.
func TestDashboardCounts(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, _ := env.Admin.DefaultSubscription(ctx)
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourceGroupPath(sub.SubscriptionID, "rg"), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	var mi struct {
		Properties struct{ PrincipalID string } `json:"properties"`
	}
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourcePath(sub.SubscriptionID, "rg", client.TypeIdentities, "dash"), client.APIVersionIdentities, map[string]string{"location": "local"}, &mi); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.MintToken(ctx, mi.Properties.PrincipalID, "https://graph.microsoft.com", ""); err != nil {
		t.Fatal(err)
	}
	resp, err := env.HTTP.Get(env.URL + "/v1.0/servicePrincipals") // no token: 401
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b := signIn(t, env)
	_, page := b.get("/console/")
	if !strings.Contains(page, `id="n-tokens">1<`) || !strings.Contains(page, `id="n-refused">1<`) {
		t.Errorf("dashboard counts wrong:\n%s", between(page, `class="grid"`, "</div>\n</div>"))
	}
	if !strings.Contains(page, "dash") || !strings.Contains(page, "https://graph.microsoft.com") {
		t.Error("the identity and resource of the token are not on the dashboard")
	}
}

// TestAuditPage: newest first, 25 a page, older pages, filters, the chain's status.
func TestAuditPage(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, _ := env.Admin.DefaultSubscription(ctx)
	for i := range 30 {
		name := "grp" + string(rune('a'+i/10)) + string(rune('0'+i%10))
		if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourceGroupPath(sub.SubscriptionID, name), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	b := signIn(t, env)
	_, p1 := b.get("/console/audit")
	if !strings.Contains(p1, "intact") {
		t.Error("no chain status")
	}
	if n := strings.Count(p1, "<tr><td>"); n != 25 {
		t.Errorf("page 1 has %d events, want 25", n)
	}
	// The newest event is the sign-in, first; the group grpc9 (the last made) comes before grpc8.
	if i, j, k := strings.Index(p1, "console.session.create"), strings.Index(p1, "resourceGroups/grpc9"), strings.Index(p1, "resourceGroups/grpc8"); i < 0 || j < i || k < j {
		t.Errorf("not newest first: %d %d %d", i, j, k)
	}
	older := between(p1, "before=", `"`)
	if older == "" {
		t.Fatal("no link to older events")
	}
	_, p2 := b.get("/console/audit?before=" + older)
	if strings.Contains(p2, "resourceGroups/grpc9") || !strings.Contains(p2, "signing-key.create") {
		t.Error("the older page repeats newer events or misses the first ones")
	}
	// Filtered by the admin API: a target prefix, an action and those under it, an actor.
	_, pf := b.get("/console/audit?target=" + url.QueryEscape(client.ResourceGroupPath(sub.SubscriptionID, "grpa")))
	if n := strings.Count(pf, "<tr><td>"); n != 10 || strings.Contains(pf, "grpb") {
		t.Errorf("filtered by target: %d events, want the 10 of grpa*", n)
	}
	_, pf = b.get("/console/audit?action=console")
	if n := strings.Count(pf, "<tr><td>"); n != 2 || !strings.Contains(pf, "console.session.create") || !strings.Contains(pf, "console.login-link.create") {
		t.Errorf("filtered by action: %d events, want the link and the sign-in", n)
	}
	var all struct{ Value []client.AuditEvent }
	if err := env.Admin.Do(ctx, http.MethodGet, "/admin/v1/audit?limit=1000", nil, &all); err != nil {
		t.Fatal(err)
	}
	want, olderSeq := 0, int64(0)
	if _, err := fmt.Sscan(older, &olderSeq); err != nil {
		t.Fatal(err)
	}
	for _, e := range all.Value {
		if e.Action == "resourcegroup.write" && e.Seq < olderSeq {
			want++
		}
	}
	_, pf = b.get("/console/audit?action=resourcegroup&result=success&before=" + older)
	if n := strings.Count(pf, "<tr><td>"); n != want || want == 0 || strings.Contains(pf, "grpc9") || !strings.Contains(pf, "grpa0") {
		t.Errorf("filtered by action before %s: %d events, want %d, the oldest groups", older, n, want)
	}
	if resp, _ := b.get("/console/audit?from=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad time: %d, want 400", resp.StatusCode)
	}
}

// TestJoinTokenPage: the join token is shown once, in the answer to the POST, with the exact
// commands for the new node; the server keeps only its hash, and the console session is the actor.
func TestJoinTokenPage(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	b := signIn(t, env)
	tok := b.csrf("/console/nodes")
	resp, body := b.do(http.MethodPost, "/console/nodes/join-tokens", url.Values{"csrf": {tok}, "name": {"node7"}, "ttl": {"1h"}}, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("join token: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	cmd := between(body, `<pre id="join-command">`, "</pre>")
	if !strings.Contains(cmd, "lanyard agent --server &#39;"+env.URL+"&#39; --ca-file ca.pem --join-token-file &#39;node7.token&#39;") ||
		!strings.Contains(cmd, "umask 077; printf") {
		t.Errorf("command:\n%s", cmd)
	}
	if _, again := b.get("/console/nodes"); strings.Contains(again, "join-command") {
		t.Error("the token is shown again on a later page")
	}
	var out struct {
		Value []struct{ Actor, Action, Target string }
	}
	if err := env.Admin.Do(context.Background(), http.MethodGet, "/admin/v1/audit?limit=1000", nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, e := range out.Value {
		if e.Action == "node.join-token.create" && strings.HasPrefix(e.Actor, "console:") && e.Target == "node/node7" {
			return
		}
	}
	t.Error("no node.join-token.create event by the console session")
}

// TestARMListPagesPaged: the resource group, app, identity and vault lists show 25 rows a page,
// paged by the management API ($top, nextLink), each item once across the pages.
func TestARMListPagesPaged(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, _ := env.Admin.DefaultSubscription(ctx)
	s := sub.SubscriptionID
	put := func(path, v string, body any) {
		t.Helper()
		if err := env.Admin.ARM(ctx, http.MethodPut, path, v, body, nil); err != nil {
			t.Fatalf("PUT %s: %v", path, err)
		}
	}
	for i := range 30 {
		put(client.ResourceGroupPath(s, fmt.Sprintf("rg-%02d", i)), client.APIVersionResourceGroups, map[string]string{"location": "local"})
	}
	for i := range 27 {
		put(client.ResourcePath(s, fmt.Sprintf("rg-%02d", i%3), client.TypeIdentities, fmt.Sprintf("mi-%02d", i)), client.APIVersionIdentities, map[string]string{"location": "local"})
	}
	b := signIn(t, env)
	walk := func(first, item string) []string {
		t.Helper()
		var seen []string
		path := first
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatalf("%s: too many pages", first)
			}
			resp, body := b.get(path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
			rows := strings.Count(body, "<tr><td><a href=")
			if rows > 25 {
				t.Errorf("%s: %d rows, more than 25", path, rows)
			}
			for rest := body; ; {
				i := strings.Index(rest, ">"+item)
				if i < 0 {
					break
				}
				rest = rest[i+1:]
				seen = append(seen, rest[:strings.IndexByte(rest, '<')])
			}
			path = ""
			if next := between(body, "next=", `"`); next != "" {
				path = strings.SplitN(first, "?", 2)[0] + "?next=" + next
			}
		}
		return seen
	}
	check := func(what string, got []string, n int) {
		t.Helper()
		set := map[string]bool{}
		for _, g := range got {
			set[g] = true
		}
		if len(got) != n || len(set) != n {
			t.Errorf("%s: %d shown (%d distinct), want each of %d once: %v", what, len(got), len(set), n, got)
		}
	}
	check("resource groups", walk("/console/resource-groups", "rg-"), 30)
	check("managed identities", walk("/console/identities", "mi-"), 27)
	check("resources of rg-00", walk("/console/resource-groups/rg-00", "mi-"), 9)
}
