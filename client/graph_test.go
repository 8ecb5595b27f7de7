package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/client"
)

// pagedServer serves n service principals, size per page, with absolute nextLinks on another
// host (as Graph writes them: the public URL, not the admin socket's), and records the tenant
// header of every request.
func pagedServer(t *testing.T, n, size int) (*client.Client, *[]string) {
	var tenants []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenants = append(tenants, r.Header.Get(client.TenantHeader))
		switch {
		case r.URL.Path == "/v1.0/servicePrincipals":
			skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
			var page []client.ServicePrincipal
			for i := skip; i < n && i < skip+size; i++ {
				page = append(page, client.ServicePrincipal{ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), DisplayName: "sp"})
			}
			body := map[string]any{"@odata.context": "https://localhost:8443/v1.0/$metadata#servicePrincipals", "value": page}
			if skip+size < n {
				body["@odata.nextLink"] = fmt.Sprintf("https://localhost:8443/v1.0/servicePrincipals?$filter=%s&$skiptoken=%d",
					strings.ReplaceAll(r.URL.Query().Get("$filter"), " ", "%20"), skip+size)
			}
			json.NewEncoder(w).Encode(body)
		case r.URL.Path == "/v1.0/servicePrincipals/00000003-0000-0000-c000-000000000000":
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"Request_ResourceNotFound","message":"Resource '00000003-0000-0000-c000-000000000000' does not exist or one of its queried reference-property objects are not present.","innerError":{"date":"2026-03-01T12:00:00","request-id":"r","client-request-id":"c"}}}`)
		case r.URL.EscapedPath() == "/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')":
			fmt.Fprint(w, `{"id":"7c9f1a0e-0000-4000-8000-000000000001","appId":"00000003-0000-0000-c000-000000000000","appRoles":[{"id":"7ab1d382-f21e-4acd-a863-ba3e13f7da61","value":"Directory.Read.All","isEnabled":true,"allowedMemberTypes":["Application"]}]}`)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"Request_ResourceNotFound","message":"no such thing"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return &client.Client{BaseURL: srv.URL, HTTP: srv.Client(), Tenant: "6a3b1f0e-4c2d-4e5f-8a9b-0c1d2e3f4a5b"}, &tenants
}

func TestGraphFollowsNextLink(t *testing.T) {
	c, tenants := pagedServer(t, 23, 5)
	var sps []client.ServicePrincipal
	if err := c.Graph(context.Background(), "GET", "/v1.0/servicePrincipals?$filter=displayName%20eq%20'sp'", nil, &sps); err != nil {
		t.Fatal(err)
	}
	if len(sps) != 23 {
		t.Fatalf("got %d service principals, want 23", len(sps))
	}
	seen := map[string]bool{}
	for _, sp := range sps {
		if seen[sp.ID] {
			t.Fatalf("%s twice", sp.ID)
		}
		seen[sp.ID] = true
	}
	if len(*tenants) != 5 {
		t.Fatalf("%d requests, want 5", len(*tenants))
	}
	for _, h := range *tenants {
		if h != c.Tenant {
			t.Fatalf("tenant header %q", h)
		}
	}

	// One page only.
	var first []json.RawMessage
	next, err := c.GraphPage(context.Background(), "/v1.0/servicePrincipals", &first)
	if err != nil || len(first) != 5 || !strings.HasPrefix(next, "https://localhost:8443/v1.0/servicePrincipals?") {
		t.Fatalf("page of %d, next %q, %v", len(first), next, err)
	}
}

func TestGraphByIDOrAppID(t *testing.T) {
	c, _ := pagedServer(t, 0, 1)
	var sp client.ServicePrincipal
	if err := c.ServicePrincipal(context.Background(), "00000003-0000-0000-c000-000000000000", &sp); err != nil {
		t.Fatal(err)
	}
	if len(sp.AppRoles) != 1 || sp.AppRoles[0].Value != "Directory.Read.All" {
		t.Fatalf("%+v", sp)
	}
	err := c.ServicePrincipal(context.Background(), "11111111-1111-4111-8111-111111111111", &sp)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 404 || ce.Code != "Request_ResourceNotFound" || !client.IsNotFound(err) {
		t.Fatalf("%#v", err)
	}
}

func TestRequestPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1.0/servicePrincipals":                                "/v1.0/servicePrincipals",
		"/v1.0/groups?$top=5":                                    "/v1.0/groups?$top=5",
		"https://localhost:8443/v1.0/groups?$skiptoken=abc":      "/v1.0/groups?$skiptoken=abc",
		"http://graph.microsoft.com/v1.0/me":                     "/v1.0/me",
		"https://localhost:8443":                                 "/",
		"https://x/v1.0/servicePrincipals(appId='a')?$select=id": "/v1.0/servicePrincipals(appId='a')?$select=id",
	} {
		if got, err := client.RequestPath(in); err != nil || got != want {
			t.Errorf("RequestPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"v1.0/groups", "//evil/x", "ftp://x/y", "https:///nohost", ""} {
		if got, err := client.RequestPath(bad); err == nil {
			t.Errorf("RequestPath(%q) = %q, want an error", bad, got)
		}
	}
}

func TestDecodeErrorShapes(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{}}}`: "Insufficient privileges to complete the operation. (403 Authorization_RequestDenied)",
		`{"error":"invalid_resource","error_description":"AADSTS500011: no such resource"}`:                                               "AADSTS500011: no such resource (403 invalid_resource)",
		`{"error":{"code":"Forbidden"}}`: "Forbidden (403 Forbidden)",
		`plain text`:                     "plain text (403)",
		``:                               "Forbidden (403)",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			fmt.Fprint(w, body)
		}))
		c := &client.Client{BaseURL: srv.URL, HTTP: srv.Client()}
		_, err := c.Send(context.Background(), "GET", "/x", nil, nil)
		srv.Close()
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", body, err, want)
		}
	}
}
