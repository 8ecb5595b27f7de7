package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
)

func tokenReq(app, resource string) agentapi.TokenRequest {
	return agentapi.TokenRequest{App: app, Selector: agentapi.Selector{Kind: agentapi.SelectorSystem}, Resource: resource}
}

// sdkRun tells runs in one process apart (go test -count N): MSAL's token cache is process-wide.
var sdkRun atomic.Int64

// sdkScope is a scope no earlier run in this process asked for.
func sdkScope(name string) string {
	return "https://" + name + "-" + strconv.FormatInt(sdkRun.Add(1), 10) + ".example/.default"
}

// reply is an answer of an endpoint.
type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func get(t *testing.T, rawURL string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("GET %s: %d, body %q is not a JSON object", rawURL, resp.StatusCode, raw)
	}
	return r
}

// appToken asks the App Service endpoint with api-version 2019-08-01.
func appToken(t *testing.T, a *testAgent, header string, params url.Values) reply {
	t.Helper()
	q := url.Values{"api-version": {"2019-08-01"}}
	for k, v := range params {
		q[k] = v
	}
	h := map[string]string{}
	if header != "" {
		h["X-IDENTITY-HEADER"] = header
	}
	return get(t, a.URL()+PathAppService+"?"+q.Encode(), h)
}

func startApp(t testing.TB, a *testAgent, site, name string) Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env, err := a.StartApp(ctx, AppConfig{Site: site, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func requests(a *testAgent, ep, code string) float64 {
	return testutil.ToFloat64(a.met.requests.WithLabelValues(ep, code))
}

// oidOf reads the object id the stub put in a token.
func oidOf(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

func TestAzidentityAppService(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	t.Setenv("IDENTITY_ENDPOINT", env["IDENTITY_ENDPOINT"])
	t.Setenv("IDENTITY_HEADER", env["IDENTITY_HEADER"])
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("MSI_SECRET", "")
	if !strings.HasPrefix(env["IDENTITY_ENDPOINT"], "http://127.0.0.1:") || len(env["IDENTITY_HEADER"]) != 64 {
		t.Fatalf("env %v", env)
	}
	cases := []struct {
		name string
		id   azidentity.ManagedIDKind
		oid  string
	}{
		{"system", nil, "00000000-0000-0000-0000-000000000001"},
		{"client id", azidentity.ClientID("c0000000-0000-0000-0000-0000000000ab"), "00000000-0000-0000-0000-0000000000ab"},
		{"object id", azidentity.ObjectID("00000000-0000-0000-0000-0000000000ab"), "00000000-0000-0000-0000-0000000000ab"},
		{"resource id", azidentity.ResourceID(uaResID), "00000000-0000-0000-0000-0000000000ab"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			// MSAL's cache is process-wide: a resource of each case's own keeps the cases apart.
			scope := sdkScope("sdk" + strconv.Itoa(i))
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}})
			if err != nil {
				t.Fatal(err)
			}
			if oidOf(tok.Token) != tc.oid {
				t.Errorf("token %.60s… is not for %s", tok.Token, tc.oid)
			}
			if d := time.Until(tok.ExpiresOn); d < 50*time.Minute || d > 61*time.Minute {
				t.Errorf("ExpiresOn in %v, want about an hour", d)
			}
			served := requests(a, epAppService, "200")
			again, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}})
			if err != nil || again.Token != tok.Token {
				t.Fatalf("second GetToken: %v", err)
			}
			if requests(a, epAppService, "200") != served {
				t.Error("the second GetToken reached the agent: the SDK did not cache the token")
			}
		})
	}
	t.Run("DefaultAzureCredential with AZURE_CLIENT_ID", func(t *testing.T) {
		t.Setenv("AZURE_CLIENT_ID", "c0000000-0000-0000-0000-0000000000ab")
		t.Setenv("AZURE_TENANT_ID", "")
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
		t.Setenv("AZURE_TOKEN_CREDENTIALS", "")
		os.Unsetenv("AZURE_TOKEN_CREDENTIALS") // set but empty is an error; t.Setenv restores it
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{sdkScope("dac")}})
		if err != nil {
			t.Fatal(err)
		}
		if oidOf(tok.Token) != "00000000-0000-0000-0000-0000000000ab" {
			t.Errorf("DefaultAzureCredential got a token for %s", oidOf(tok.Token))
		}
	})
	if calls := s.tokenCalls.Load(); calls != 5 {
		t.Errorf("%d mints for 5 identity/resource pairs", calls)
	}
	if logs := a.logs.String(); strings.Contains(logs, env["IDENTITY_HEADER"]) || strings.Contains(logs, "eyJ.") {
		t.Error("a header or a token is in the agent's log")
	}
}

func TestAzidentityLegacyMSIEndpoint(t *testing.T) {
	// MSI_ENDPOINT + MSI_SECRET alone: MSAL calls it the Azure ML source and speaks 2017-09-01.
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	t.Setenv("IDENTITY_ENDPOINT", "")
	t.Setenv("IDENTITY_HEADER", "")
	t.Setenv("MSI_ENDPOINT", env["MSI_ENDPOINT"])
	t.Setenv("MSI_SECRET", env["MSI_SECRET"])
	t.Setenv("DEFAULT_IDENTITY_CLIENT_ID", "")
	for _, tc := range []struct {
		id  azidentity.ManagedIDKind
		oid string
	}{{nil, "00000000-0000-0000-0000-000000000001"}, {azidentity.ClientID("c0000000-0000-0000-0000-0000000000ab"), "00000000-0000-0000-0000-0000000000ab"}} {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: tc.id})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{sdkScope("legacy")}})
		if err != nil {
			t.Fatal(err)
		}
		if oidOf(tok.Token) != tc.oid {
			t.Errorf("legacy source: token for %s, want %s", oidOf(tok.Token), tc.oid)
		}
	}
}

func TestAppServiceLegacyForm(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	for _, path := range []string{PathAppService, PathAppService + "/"} {
		q := url.Values{"api-version": {"2017-09-01"}, "resource": {"https://vault.azure.net"}, "clientid": {"c0000000-0000-0000-0000-0000000000ab"}}
		r := get(t, a.URL()+path+"?"+q.Encode(), map[string]string{"secret": env["MSI_SECRET"]})
		if r.status != 200 || oidOf(r.body["access_token"].(string)) != "00000000-0000-0000-0000-0000000000ab" {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		if !regexp.MustCompile(`^\d{10}$`).MatchString(r.body["expires_on"].(string)) {
			t.Errorf("expires_on %q is not epoch seconds", r.body["expires_on"])
		}
		// The 2017 form takes only its own header.
		r = get(t, a.URL()+path+"?"+q.Encode(), map[string]string{"X-IDENTITY-HEADER": env["MSI_SECRET"]})
		if r.status != 401 {
			t.Errorf("2017-09-01 with X-IDENTITY-HEADER: %d", r.status)
		}
	}
	// An empty clientid (what MSAL sends without DEFAULT_IDENTITY_CLIENT_ID) is the system identity.
	q := url.Values{"api-version": {"2017-09-01"}, "resource": {"https://vault.azure.net"}, "clientid": {""}}
	r := get(t, a.URL()+PathAppService+"?"+q.Encode(), map[string]string{"Secret": env["MSI_SECRET"]})
	if r.status != 200 || oidOf(r.body["access_token"].(string)) != "00000000-0000-0000-0000-000000000001" {
		t.Errorf("empty clientid: %d %s", r.status, r.raw)
	}
}

func TestAppServiceHeaderRefusals(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	envA := startApp(t, a, siteA, "app-a")
	envB := startApp(t, a, siteB, "app-b")
	res := url.Values{"resource": {"https://vault.azure.net"}}
	for name, h := range map[string]string{"none": "", "wrong": strings.Repeat("0", 64), "prefix": envA["IDENTITY_HEADER"][:63]} {
		r := appToken(t, a, h, res)
		if r.status != 401 || r.body["error"] == nil || r.body["error_description"] == "" {
			t.Errorf("header %s: %d %s", name, r.status, r.raw)
		}
	}
	// Header names are case-insensitive.
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}}
	if r := get(t, a.URL()+PathAppService+"?"+q.Encode(), map[string]string{"x-identity-header": envA["IDENTITY_HEADER"]}); r.status != 200 {
		t.Errorf("lower-case header name: %d %s", r.status, r.raw)
	}
	// B's header is B: it gets B's system identity, and not A's user-assigned one.
	r := appToken(t, a, envB["IDENTITY_HEADER"], res)
	if r.status != 200 || oidOf(r.body["access_token"].(string)) != "00000000-0000-0000-0000-000000000002" {
		t.Errorf("app B: %d %s", r.status, r.raw)
	}
	r = appToken(t, a, envB["IDENTITY_HEADER"], url.Values{"resource": {"https://vault.azure.net"}, "client_id": {"c0000000-0000-0000-0000-0000000000ab"}})
	if r.status != 400 || r.body["error_description"] != "Identity not found" {
		t.Errorf("app B asking for app A's identity: %d %s", r.status, r.raw)
	}
	// A site placed on another node: the server refuses this node.
	envElse := startApp(t, a, siteElse, "elsewhere")
	if r := appToken(t, a, envElse["IDENTITY_HEADER"], res); r.status != 403 {
		t.Errorf("a site placed elsewhere: %d %s", r.status, r.raw)
	}
	// A stopped app's header stops working.
	ctx, cancel := context.WithCancel(context.Background())
	envC, err := a.StartApp(ctx, AppConfig{Site: siteB, Name: "app-c"})
	if err != nil {
		t.Fatal(err)
	}
	if r := appToken(t, a, envC["IDENTITY_HEADER"], res); r.status != 200 {
		t.Fatalf("app C: %d", r.status)
	}
	cancel()
	for a.apps.get("app-c") != nil {
		time.Sleep(time.Millisecond)
	}
	if r := appToken(t, a, envC["IDENTITY_HEADER"], res); r.status != 401 {
		t.Errorf("a stopped app's header: %d", r.status)
	}
	if _, err := a.AppEnv("app-c"); err == nil {
		t.Error("AppEnv of a stopped app")
	}
	if _, err := a.StartApp(context.Background(), AppConfig{Site: siteA, Name: "app-a"}); err == nil {
		t.Error("a second app-a was accepted")
	}
}

// digits are the fields that must be decimal-digit strings.
var digits = []string{"expires_on", "expires_in", "ext_expires_in", "not_before"}

func checkTokenBody(t *testing.T, r reply, resource, clientID string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	want := []string{"access_token", "expires_on", "expires_in", "ext_expires_in", "not_before", "refresh_token", "resource", "token_type", "client_id", "refresh_in"}
	if len(r.body) != len(want) {
		t.Errorf("fields %v, want %v", r.body, want)
	}
	for _, f := range want[:len(want)-1] {
		if _, ok := r.body[f].(string); !ok {
			t.Errorf("%s is %T, want a string", f, r.body[f])
		}
	}
	// refresh_in is a JSON integer: Python's MSAL adds it to a number.
	refreshIn, ok := r.body["refresh_in"].(float64)
	if !ok || refreshIn != float64(int64(refreshIn)) {
		t.Errorf("refresh_in is %T %v, want a JSON integer", r.body["refresh_in"], r.body["refresh_in"])
	}
	num := map[string]int64{"refresh_in": int64(refreshIn)}
	for _, f := range digits {
		s, _ := r.body[f].(string)
		if !regexp.MustCompile(`^[0-9]+$`).MatchString(s) {
			t.Errorf("%s = %q, want decimal digits", f, s)
		}
		num[f], _ = strconv.ParseInt(s, 10, 64)
	}
	now := time.Now().Unix()
	if d := num["expires_on"] - now; d < 3500 || d > 3601 {
		t.Errorf("expires_on is %d s away", d)
	}
	if num["expires_in"] != num["ext_expires_in"] || num["refresh_in"] != num["expires_in"]/2 || num["not_before"] > now {
		t.Errorf("numbers %v", num)
	}
	if r.body["refresh_token"] != "" || r.body["token_type"] != "Bearer" || r.body["resource"] != resource || r.body["client_id"] != clientID {
		t.Errorf("body %s", r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestResponseShape(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	for _, resource := range []string{"https://vault.azure.net", "https://management.azure.com/"} {
		r := appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {resource}})
		checkTokenBody(t, r, resource, "c0000000-0000-0000-0000-000000000001")
		hit := appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {resource}})
		checkTokenBody(t, hit, resource, "c0000000-0000-0000-0000-000000000001")
	}
	// One /.default is trimmed; the answer echoes the resource as the token has it.
	r := appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {"https://vault.azure.net/.default"}})
	checkTokenBody(t, r, "https://vault.azure.net", "c0000000-0000-0000-0000-000000000001")
	if s.tokenCalls.Load() != 2 {
		t.Errorf("%d mints for two resources", s.tokenCalls.Load())
	}
}

func TestEndpointErrors(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	h := env["IDENTITY_HEADER"]
	cases := []struct {
		name   string
		params url.Values
		raw    string // instead of params
		status int
		code   string
		desc   string
	}{
		{name: "unknown identity", params: url.Values{"resource": {"https://vault.azure.net"}, "client_id": {"c9999999-0000-0000-0000-000000000000"}},
			status: 400, code: "invalid_request", desc: "Identity not found"},
		{name: "unknown resource", params: url.Values{"resource": {unknownRes}}, status: 400, code: "invalid_resource"},
		{name: "no resource", params: url.Values{}, status: 400, code: "invalid_request"},
		{name: "two selectors", params: url.Values{"resource": {"r"}, "client_id": {"a"}, "object_id": {"b"}}, status: 400, code: "invalid_request"},
		{name: "object_id and principal_id", params: url.Values{"resource": {"r"}, "principal_id": {"a"}, "object_id": {"a"}}, status: 400, code: "invalid_request"},
		{name: "repeated parameter", raw: "api-version=2019-08-01&resource=a&resource=b", status: 400, code: "invalid_request"},
		{name: "bad escape", raw: "api-version=2019-08-01&resource=%zz", status: 400, code: "invalid_request"},
		{name: "no api-version", raw: "resource=a", status: 400, code: "invalid_request"},
		{name: "other api-version", raw: "api-version=2018-02-01&resource=a", status: 400, code: "invalid_request"},
	}
	for _, tc := range cases {
		var r reply
		if tc.raw != "" {
			r = get(t, a.URL()+PathAppService+"?"+tc.raw, map[string]string{"X-IDENTITY-HEADER": h})
		} else {
			r = appToken(t, a, h, tc.params)
		}
		if r.status != tc.status || r.body["error"] != tc.code || (tc.desc != "" && r.body["error_description"] != tc.desc) ||
			r.body["error_description"] == "" {
			t.Errorf("%s: %d %s, want %d %s %s", tc.name, r.status, r.raw, tc.status, tc.code, tc.desc)
		}
	}
	// principal_id alone selects by object id.
	r := appToken(t, a, h, url.Values{"resource": {"https://vault.azure.net"}, "principal_id": {"00000000-0000-0000-0000-0000000000ab"}})
	if r.status != 200 || oidOf(r.body["access_token"].(string)) != "00000000-0000-0000-0000-0000000000ab" {
		t.Errorf("principal_id: %d %s", r.status, r.raw)
	}
	// Not a GET.
	resp, err := http.Post(a.URL()+PathAppService+"?api-version=2019-08-01&resource=x", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 4 {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestIMDSEndpoint(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, func(c *Config) { c.IMDS.Listen = "127.0.0.1:0" })
	for _, base := range []string{a.URL(), "http://" + a.IMDSAddr()} {
		tokenURL := base + PathIMDS
		meta := map[string]string{"Metadata": "true"}
		// The availability probe: no query, no header, answered with the real 400 body.
		r := get(t, tokenURL, nil)
		if r.status != 400 || r.raw != `{"error":"invalid_request","error_description":"Required metadata header not specified"}`+"\n" {
			t.Errorf("probe: %d %q", r.status, r.raw)
		}
		q := "?api-version=2018-02-01&resource=" + url.QueryEscape("https://vault.azure.net")
		if r := get(t, tokenURL+q, nil); r.status != 400 || r.body["error_description"] != "Required metadata header not specified" {
			t.Errorf("no Metadata header: %d %s", r.status, r.raw)
		}
		if r := get(t, tokenURL+q, map[string]string{"Metadata": "false"}); r.status != 400 {
			t.Errorf("Metadata: false: %d", r.status)
		}
		if r := get(t, tokenURL+q, map[string]string{"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}); r.status != 400 || r.body["error"] != "invalid_request" {
			t.Errorf("X-Forwarded-For: %d %s", r.status, r.raw)
		}
		for _, path := range []string{tokenURL, tokenURL + "/"} {
			r := get(t, path+q, meta)
			checkTokenBody(t, r, "https://vault.azure.net", "c0000000-0000-0000-0000-00000000000a")
		}
		for sel, val := range map[string]string{"client_id": "c0000000-0000-0000-0000-0000000000ab",
			"object_id": "00000000-0000-0000-0000-0000000000ab", "msi_res_id": uaResID, "mi_res_id": uaResID} {
			r := get(t, tokenURL+q+"&"+sel+"="+url.QueryEscape(val), meta)
			if r.status != 200 || oidOf(r.body["access_token"].(string)) != "00000000-0000-0000-0000-0000000000ab" {
				t.Errorf("IMDS %s: %d %s", sel, r.status, r.raw)
			}
		}
		for name, query := range map[string]string{
			"old api-version":    "?api-version=2017-12-01&resource=r",
			"no api-version":     "?resource=r",
			"later api-version":  "", // below: accepted
			"repeated parameter": "?api-version=2018-02-01&resource=r&resource=r",
			"two selectors":      "?api-version=2018-02-01&resource=r&client_id=a&object_id=b",
			"both resource ids":  "?api-version=2018-02-01&resource=r&msi_res_id=a&mi_res_id=a",
			"unknown identity":   "?api-version=2018-02-01&resource=r&client_id=nobody",
		} {
			if query == "" {
				continue
			}
			if r := get(t, tokenURL+query, meta); r.status != 400 || r.body["error"] != "invalid_request" {
				t.Errorf("%s: %d %s", name, r.status, r.raw)
			}
		}
		if r := get(t, tokenURL+"?api-version=2021-02-01&resource="+url.QueryEscape("https://vault.azure.net"), meta); r.status != 200 {
			t.Errorf("api-version 2021-02-01: %d %s", r.status, r.raw)
		}
	}
	// The IMDS listener serves IMDS only.
	resp, err := http.Get("http://" + a.IMDSAddr() + PathAppService)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("App Service path on the IMDS listener: %d", resp.StatusCode)
	}
	// One mint for each of the node's identities, however named and on whichever listener; a
	// refusal is not cached (the identity may be attached a moment later).
	if s.tokenCalls.Load() != 2+2 {
		t.Errorf("%d calls for the node's two identities, one resource, and an unknown identity twice", s.tokenCalls.Load())
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {"https://vault.azure.net"}})
	appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {"https://vault.azure.net"}})
	appToken(t, a, "", url.Values{"resource": {"https://vault.azure.net"}})
	resp, err := http.Get(a.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`lanyard_agent_token_cache_hits_total{endpoint="appservice"} 1`,
		`lanyard_agent_token_cache_misses_total{endpoint="appservice"} 1`,
		`lanyard_agent_requests_total{code="200",endpoint="appservice"} 2`,
		`lanyard_agent_requests_total{code="401",endpoint="appservice"} 1`,
		`lanyard_agent_mint_duration_seconds_count{result="ok"} 1`,
		`lanyard_agent_cached_tokens 1`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, err = http.Get(a.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}
