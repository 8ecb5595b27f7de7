package directory_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// page follows a collection from path through its @odata.nextLink, checking that every link is
// absolute on the public URL and carries wantQuery; it returns the ids of every page.
func (e *env) page(path, wantQuery string, between func()) [][]string {
	e.t.Helper()
	var pages [][]string
	for path != "" {
		m := e.must(http.StatusOK, http.MethodGet, path, nil)
		pages = append(pages, ids(e.t, m))
		next, _ := m["@odata.nextLink"].(string)
		if next == "" {
			break
		}
		rest, ok := strings.CutPrefix(next, publicURL+"/v1.0/")
		if !ok {
			e.t.Fatalf("nextLink %q is not an absolute URL on %s", next, publicURL)
		}
		if !strings.Contains(next, wantQuery) {
			e.t.Fatalf("nextLink %q does not carry %s", next, wantQuery)
		}
		path = "/v1.0/" + rest
		if between != nil {
			between()
		}
	}
	return pages
}

// TestPaging: 1,000 service principals through $top=50 pages: each exactly once, even while
// objects are created and deleted between pages.
func TestPaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 1000 {
		sp, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{
			DisplayName: fmt.Sprintf("mi-%04d", i), ResourceID: fmt.Sprintf("/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi-%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want[sp.ID] = true
	}
	check := func(what string, pages [][]string, wantPages int, want map[string]bool) {
		t.Helper()
		seen := map[string]bool{}
		for i, p := range pages {
			if len(p) != 50 && i != len(pages)-1 {
				t.Errorf("%s: page %d has %d items", what, i, len(p))
			}
			for _, id := range p {
				if seen[id] {
					t.Errorf("%s: %s returned twice", what, id)
				}
				seen[id] = true
			}
		}
		for id := range want {
			if !seen[id] {
				t.Errorf("%s: %s never returned", what, id)
			}
		}
		if len(pages) != wantPages {
			t.Errorf("%s: %d pages, want %d", what, len(pages), wantPages)
		}
	}
	all := e.page("/v1.0/servicePrincipals?$top=50", "$top=50", nil)
	withBuiltins := map[string]bool{}
	for _, p := range all {
		for _, id := range p {
			withBuiltins[id] = true
		}
	}
	check("all", all, 21, want) // 1,003 with the built-ins
	if len(withBuiltins) != 1003 {
		t.Errorf("%d distinct service principals, want 1003", len(withBuiltins))
	}
	filtered := e.page("/v1.0/servicePrincipals?$filter=servicePrincipalType eq 'ManagedIdentity'&$top=50&$select=id", "$filter=servicePrincipalType%20eq%20'ManagedIdentity'&$top=50&$select=id", nil)
	check("filtered", filtered, 20, want)

	// Changes between pages: objects deleted behind the cursor or created anywhere never make
	// another object come twice or go missing.
	n := 0
	churn := func() {
		n++
		sp, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: fmt.Sprintf("new-%d", n), ResourceID: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		_ = sp
	}
	check("churn", e.page("/v1.0/servicePrincipals?$filter=startswith(displayName,'mi-')&$top=50", "$top=50", churn), 20, want)
}

// TestGolden: what clients see for $select, $filter, paging and errors.
func TestGolden(t *testing.T) {
	e := newEnv(t)
	api := e.app("aad-func", map[string]any{"appRoles": []any{doAllRole}})
	e.grant(api, e.graphSP(), "Directory.Read.All")
	ctx := context.Background()
	if _, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: "uami",
		ResourceID: "/subscriptions/5b000000-0000-4000-8000-000000000001/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami", Explicit: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, who string }{
		{"sp-by-appid-select", "/v1.0/servicePrincipals(appId='" + directory.DirectoryAppID + "')?$select=id,appRoles", "admin"},
		{"sp-filter-mi", "/v1.0/servicePrincipals?$filter=servicePrincipalType eq 'ManagedIdentity'&$select=id,displayName,alternativeNames", "admin"},
		{"sp-filter-startswith-top", "/v1.0/servicePrincipals?$filter=startswith(displayName,'a') and accountEnabled eq true&$select=displayName,appId&$top=1", "admin"},
		{"sp-filter-names", "/v1.0/servicePrincipals?$filter=servicePrincipalNames/any(x:x eq 'https://graph.microsoft.com')&$select=id,displayName", "admin"},
		{"sp-filter-in", "/v1.0/servicePrincipals?$filter=appId in ('" + directory.VaultAppID + "','" + directory.ManagementAppID + "')&$select=appId,servicePrincipalNames", "admin"},
		{"app-filter-or", "/v1.0/applications?$filter=displayName eq 'aad-func' or appId eq '" + directory.VaultAppID + "'&$select=displayName,appRoles,identifierUris", "admin"},
		{"assignments-select", "/v1.0/servicePrincipals(appId='" + directory.DirectoryAppID + "')/appRoleAssignedTo?$select=principalDisplayName,appRoleId,createdDateTime", "admin"},
		{"error-not-filterable", "/v1.0/servicePrincipals?$filter=appRoles/any(x:x eq 'DoAll')", "admin"},
		{"error-bad-filter", "/v1.0/servicePrincipals?$filter=displayName gt 'a'", "admin"},
		{"error-bad-select", "/v1.0/servicePrincipals?$select=id,passwordCredentials", "admin"},
		{"error-type-mismatch", "/v1.0/servicePrincipals?$filter=accountEnabled eq 'yes'", "admin"},
		{"error-not-found", "/v1.0/servicePrincipals/6f5e4d3c-2b1a-4098-8765-43210fedcba9", "admin"},
		{"error-denied", "/v1.0/groups", "6f5e4d3c-2b1a-4098-8765-43210fedcba9;Application.Read.All"},
		{"error-unauthenticated", "/v1.0/applications", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(http.MethodGet, tc.path, tc.who, nil, "client-request-id", "c0ffee00-0000-4000-8000-000000000001")
			var b bytes.Buffer
			fmt.Fprintf(&b, "GET %s\n%d\n", tc.path, r.status)
			for _, h := range []string{"Content-Type", "WWW-Authenticate", "client-request-id"} {
				if v := r.header.Get(h); v != "" {
					fmt.Fprintf(&b, "%s: %s\n", h, v)
				}
			}
			b.WriteByte('\n')
			if err := json.Indent(&b, r.body, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, r.body)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s\nwant:\n%s", name, got, want)
	}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRequestBodies: gzip bodies (as msgraph-sdk-go sends them), other encodings, size limits
// and malformed JSON.
func TestRequestBodies(t *testing.T) {
	e := newEnv(t)
	body, _ := json.Marshal(map[string]any{"displayName": "zipped", "appRoles": []any{doAllRole}})
	r := e.call(http.MethodPost, "/v1.0/applications", "admin", gz(t, body), "Content-Encoding", "gzip")
	if r.status != http.StatusCreated || r.json(t)["displayName"] != "zipped" {
		t.Fatalf("gzip body: %d %s", r.status, r.body)
	}
	r = e.call(http.MethodPost, "/v1.0/applications", "admin", body, "Content-Encoding", "br")
	if r.status != http.StatusUnsupportedMediaType || r.code(t) == "" {
		t.Errorf("br body: %d %s, want 415", r.status, r.body)
	}
	big := []byte(`{"displayName":"` + strings.Repeat("a", 1<<20) + `"}`)
	for name, tc := range map[string]struct {
		body []byte
		hdr  []string
	}{
		"over 1 MiB":                   {big, nil},
		"over 1 MiB once decompressed": {gz(t, big), []string{"Content-Encoding", "gzip"}},
		"not gzip":                     {body, []string{"Content-Encoding", "gzip"}},
		"empty":                        {[]byte{}, nil},
		"not JSON":                     {[]byte("displayName=x"), nil},
		"two values":                   {[]byte(`{"displayName":"a"} {"displayName":"b"}`), nil},
		"an array":                     {[]byte(`[{"displayName":"a"}]`), nil},
	} {
		r := e.call(http.MethodPost, "/v1.0/applications", "admin", tc.body, tc.hdr...)
		if r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" {
			t.Errorf("%s: %d %.200s, want 400", name, r.status, r.body)
		}
	}
}

// TestProtocolErrors: methods, unknown paths, query options, tenants and the error body's parts.
func TestProtocolErrors(t *testing.T) {
	e := newEnv(t)
	r := e.call(http.MethodPut, "/v1.0/applications", "admin", map[string]any{})
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT applications: %d %v %s", r.status, r.header, r.body)
	}
	for _, path := range []string{
		"/v1.0/users", "/v1.0/applications/x/y", "/v1.0/groups(appId='x')", "/v1.0/servicePrincipals(displayName='x')",
		"/v1.0/applications?$top=1000", "/v1.0/applications?$top=0", "/v1.0/applications?$count=true", "/v1.0/applications?$orderby=displayName",
		"/v1.0/applications?$skiptoken=abc", "/v1.0/applications?$filter=", "/v1.0/applications//x", "/v1.0/",
		"/v1.0/servicePrincipals(appId='not-a-guid')",
	} {
		if r := e.call(http.MethodGet, path, "admin", nil); r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" {
			t.Errorf("GET %s: %d %s, want 400", path, r.status, r.body)
		}
	}
	r = e.call(http.MethodGet, "/v1.0/nothing-here", "admin", nil, "client-request-id", "abc-123")
	inner := r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["client-request-id"] != "abc-123" || inner["date"] != "2026-03-14T15:09:26" || inner["request-id"] == "" ||
		r.header.Get("client-request-id") != "abc-123" || r.header.Get("request-id") != inner["request-id"] {
		t.Errorf("innerError %v, headers %v", inner, r.header)
	}
	r = e.call(http.MethodGet, "/v1.0/applications", "", nil)
	if want := `Bearer realm="", authorization_uri="` + publicURL + "/" + tenantID + `/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`; r.header.Get("WWW-Authenticate") != want {
		t.Errorf("WWW-Authenticate %q, want %q", r.header.Get("WWW-Authenticate"), want)
	}

	// The admin socket acts in the default tenant unless X-Lanyard-Tenant names another.
	e.must(http.StatusCreated, http.MethodPost, "/v1.0/groups", map[string]any{"displayName": "g", "mailNickname": "g", "securityEnabled": true, "mailEnabled": false})
	if r := e.call(http.MethodGet, "/v1.0/groups", "admin", nil, directory.TenantHeader, tenant2ID); r.status != http.StatusOK || len(values(t, r.json(t))) != 0 {
		t.Errorf("groups of tenant 2: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodGet, "/v1.0/groups", "admin", nil, directory.TenantHeader, "contoso"); r.status != http.StatusBadRequest {
		t.Errorf("a malformed tenant header: %d %s", r.status, r.body)
	}
	e.svc.Tenants = tenantSet{tenantID: true, tenant2ID: true}
	if r := e.call(http.MethodGet, "/v1.0/groups", "admin", nil, directory.TenantHeader, "0a0a0a0a-0000-4000-8000-000000000000"); r.status != http.StatusNotFound {
		t.Errorf("an unknown tenant: %d %s", r.status, r.body)
	}
	// A token caller's tenant is its token's, whatever the header says.
	sp := e.app("reader", nil)["id"].(string)
	if r := e.call(http.MethodGet, "/v1.0/groups", sp+";Group.Read.All", nil, directory.TenantHeader, tenant2ID); r.status != http.StatusOK || len(values(t, r.json(t))) != 1 {
		t.Errorf("a token caller naming another tenant: %d %s", r.status, r.body)
	}
	// Percent-encoded keys and query options without '$' work as in Graph.
	e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals(appId=%27"+directory.DirectoryAppID+"%27)?select=id", nil)
	if m := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals?"+url.Values{"$filter": {"appId eq '" + directory.VaultAppID + "'"}}.Encode(), nil); len(values(t, m)) != 1 {
		t.Errorf("encoded $filter: %v", m)
	}
}

type tenantSet map[string]bool

func (s tenantSet) Exists(_ context.Context, id string) (bool, error) { return s[id], nil }
