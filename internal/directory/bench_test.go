package directory_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
)

// Benchmarks of the hot paths against the in-process server on SQLite. Compare them with
// BenchmarkBareHandler, a handler that does nothing over the same transport, as a ratio.

// BenchmarkTokenRequest: resolving what a token says (resource by name, principal, its roles).
func BenchmarkTokenRequest(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	mi, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: "mi", ResourceID: "/x"})
	if err != nil {
		b.Fatal(err)
	}
	sp := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+mi.ID, nil)
	e.grant(sp, e.graphSP(), "Directory.Read.All")
	e.grant(sp, e.graphSP(), "Group.Read.All")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.TokenRequest(ctx, tenantID, mi.ID, graphURI+"/.default"); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGet(b *testing.B, url string, h http.Handler) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+url, nil)
		req.Header.Set(principalHeader, "admin")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkGetServicePrincipalByAppID: GET servicePrincipals(appId=…)?$select=id,appRoles.
func BenchmarkGetServicePrincipalByAppID(b *testing.B) {
	e := newEnv(b)
	benchGet(b, "/v1.0/servicePrincipals(appId='"+directory.DirectoryAppID+"')?$select=id,appRoles", e.svc.Handler())
}

// BenchmarkBareHandler is the baseline: the same request to a handler that answers {} at once.
func BenchmarkBareHandler(b *testing.B) {
	benchGet(b, "/v1.0/servicePrincipals(appId='"+directory.DirectoryAppID+"')?$select=id,appRoles",
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
}

// BenchmarkGrant: POST appRoleAssignedTo, a new principal each time.
func BenchmarkGrant(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	g := e.graphSP()
	principals := make([]string, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		if i == len(principals) {
			for range 1024 {
				mi, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: fmt.Sprint("p", i), ResourceID: "/x"})
				if err != nil {
					b.Fatal(err)
				}
				principals = append(principals, mi.ID)
			}
		}
		p := principals[i]
		i++
		b.StartTimer()
		e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals/"+g["id"].(string)+"/appRoleAssignedTo", map[string]any{
			"principalId": p, "resourceId": g["id"], "appRoleId": roleID(b, g, "Group.Read.All"),
		})
	}
}
