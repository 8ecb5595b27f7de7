package directory_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
)

// TestStartswithThroughTheIndex: startswith(displayName,…) is answered from the store's name
// index (ListServicePrincipalsByName), and the answer is what Graph's case-insensitive startswith
// gives: every match once, in id order, across pages, with other terms of an "and" still applied.
func TestStartswithThroughTheIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	names := []string{"Straße-1", "STRASSE-2", "ſtrasse-3", "strasse-4", "Kelvin-5", "\u212aelvin-6", "other-7", "Σίσυφος-8", "σίσυφος-9", "日本-10"}
	for i := range 12 {
		for _, n := range names {
			if _, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: fmt.Sprintf("%s-%d", n, i), ResourceID: "/x"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range []string{"strasse-app", "KELVIN-app"} {
		e.app(n, nil)
	}
	// Every service principal, to compute the expected answers by hand.
	var all []map[string]any
	for path := "/v1.0/servicePrincipals?$top=999"; path != ""; {
		m := e.must(http.StatusOK, http.MethodGet, path, nil)
		all = append(all, values(t, m)...)
		next, _ := m["@odata.nextLink"].(string)
		path = strings.TrimPrefix(next, publicURL)
	}
	for _, tc := range []struct {
		prefix, extra string
		match         func(sp map[string]any) bool
	}{
		{"strasse", "", func(sp map[string]any) bool {
			n := strings.ToLower(sp["displayName"].(string))
			return strings.HasPrefix(n, "strasse") || strings.HasPrefix(n, "ſtrasse")
		}},
		{"kelvin", "", func(sp map[string]any) bool {
			return strings.HasPrefix(strings.ToLower(strings.ReplaceAll(sp["displayName"].(string), "\u212a", "k")), "kelvin")
		}},
		{"ΣΊΣ", "", func(sp map[string]any) bool {
			return strings.HasPrefix(strings.ToLower(sp["displayName"].(string)), "σίσ")
		}},
		{"日本", "", func(sp map[string]any) bool { return strings.HasPrefix(sp["displayName"].(string), "日本") }},
		{"Strasse", " and servicePrincipalType eq 'Application'", func(sp map[string]any) bool {
			return sp["displayName"] == "strasse-app"
		}},
		{"nothing", "", func(map[string]any) bool { return false }},
	} {
		var want []string
		for _, sp := range all {
			if tc.match(sp) {
				want = append(want, sp["id"].(string))
			}
		}
		slices.Sort(want)
		filter := "startswith(displayName,'" + tc.prefix + "')" + tc.extra
		var got []string
		for _, p := range e.page("/v1.0/servicePrincipals?$top=7&$filter="+url.QueryEscape(filter), "$top=7", nil) {
			got = append(got, p...)
		}
		if !slices.IsSorted(got) || !slices.Equal(got, want) {
			t.Errorf("%s: got %d objects %v, want %d %v", filter, len(got), got, len(want), want)
		}
		if len(want) < 3 && tc.prefix != "nothing" && tc.extra == "" {
			t.Errorf("%s: the test data should match more", filter)
		}
	}
	// Applications too.
	m := e.must(http.StatusOK, http.MethodGet, "/v1.0/applications?$filter="+url.QueryEscape("startswith(displayName,'STRASSE')"), nil)
	if vs := values(t, m); len(vs) != 1 || vs[0]["displayName"] != "strasse-app" {
		t.Errorf("applications startswith STRASSE: %v", vs)
	}
	// A renamed application's service principal is found by its new name, not its old one.
	app := e.must(http.StatusOK, http.MethodGet, "/v1.0/applications?$filter="+url.QueryEscape("displayName eq 'KELVIN-app'"), nil)
	appID := values(t, app)[0]["id"].(string)
	e.must(http.StatusNoContent, http.MethodPatch, "/v1.0/applications/"+appID, map[string]any{"displayName": "renamed"})
	for prefix, want := range map[string]int{"RENAMED": 1, "KELVIN-app": 0} {
		for _, set := range []string{"applications", "servicePrincipals"} {
			m := e.must(http.StatusOK, http.MethodGet, "/v1.0/"+set+"?$filter="+url.QueryEscape("startswith(displayName,'"+prefix+"')"), nil)
			if n := len(values(t, m)); n != want {
				t.Errorf("%s startswith %s after the rename: %d, want %d", set, prefix, n, want)
			}
		}
	}
}

// TestGetByIds: POST /v1.0/directoryObjects/getByIds answers as Graph does.
func TestGetByIds(t *testing.T) {
	e := newEnv(t)
	a := e.app("one", nil)
	b := e.app("two", nil)
	app := e.must(http.StatusOK, http.MethodGet, "/v1.0/applications?$filter="+url.QueryEscape("displayName eq 'one'"), nil)
	appID := values(t, app)[0]["id"].(string)
	g := e.must(http.StatusCreated, http.MethodPost, "/v1.0/groups", map[string]any{"displayName": "g", "mailNickname": "g", "securityEnabled": true, "mailEnabled": false})
	missing := "6f5e4d3c-2b1a-4098-8765-43210fedcba9"
	ids := []string{strings.ToUpper(b["id"].(string)), missing, a["id"].(string), appID, g["id"].(string), a["id"].(string)}

	for _, path := range []string{"/v1.0/directoryObjects/getByIds", "/v1.0/directoryObjects/microsoft.graph.getByIds"} {
		m := e.must(http.StatusOK, http.MethodPost, path, map[string]any{"ids": ids})
		if m["@odata.context"] != publicURL+"/v1.0/$metadata#directoryObjects" {
			t.Errorf("@odata.context %v", m["@odata.context"])
		}
		vs := values(t, m)
		var got []string
		for _, v := range vs {
			got = append(got, v["@odata.type"].(string)+" "+v["id"].(string))
		}
		want := []string{"#microsoft.graph.servicePrincipal " + b["id"].(string), "#microsoft.graph.servicePrincipal " + a["id"].(string),
			"#microsoft.graph.application " + appID, "#microsoft.graph.group " + g["id"].(string)}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
		if vs[0]["displayName"] != "two" || vs[0]["appId"] != b["appId"] {
			t.Errorf("a service principal is the whole object: %v", vs[0])
		}
	}
	m := e.must(http.StatusOK, http.MethodPost, "/v1.0/directoryObjects/getByIds", map[string]any{"ids": ids, "types": []string{"ServicePrincipal"}})
	if n := len(values(t, m)); n != 2 {
		t.Errorf("types servicePrincipal: %d objects, want 2", n)
	}
	m = e.must(http.StatusOK, http.MethodPost, "/v1.0/directoryObjects/getByIds", map[string]any{"ids": ids, "types": []string{"user"}})
	if n := len(values(t, m)); n != 0 {
		t.Errorf("types user: %d objects, want 0", n)
	}
	// A caller with Application.Read.All but no group permission sees the service principals
	// and the application, not the group.
	reader := "6f5e4d3c-2b1a-4098-8765-43210fedcb00;Application.Read.All"
	r := e.call(http.MethodPost, "/v1.0/directoryObjects/getByIds", reader, map[string]any{"ids": ids})
	if r.status != http.StatusOK || len(values(t, r.json(t))) != 3 {
		t.Errorf("Application.Read.All: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodPost, "/v1.0/directoryObjects/getByIds", "6f5e4d3c-2b1a-4098-8765-43210fedcb00", map[string]any{"ids": ids}); r.status != http.StatusForbidden {
		t.Errorf("no permission: %d, want 403", r.status)
	}

	for _, tc := range []struct {
		body any
		msg  string
	}{
		{map[string]any{}, "'ids' parameter is required"},
		{map[string]any{"ids": []string{"not-a-guid"}}, "Invalid object identifier 'not-a-guid'"},
		{map[string]any{"ids": ids, "types": []string{"spaceship"}}, "'spaceship' in 'types' is not a directory object type"},
		{map[string]any{"ids": ids, "extra": 1}, "Property 'extra' does not exist"},
		{map[string]any{"ids": slices.Repeat([]string{missing}, 1001)}, "at most 1000"},
	} {
		r := e.call(http.MethodPost, "/v1.0/directoryObjects/getByIds", "admin", tc.body)
		if r.status != http.StatusBadRequest || !strings.Contains(r.message(t), tc.msg) {
			t.Errorf("%v: %d %s, want 400 with %q", tc.body, r.status, r.body, tc.msg)
		}
	}
	if r := e.call(http.MethodGet, "/v1.0/directoryObjects/getByIds", "admin", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET getByIds: %d, want 405", r.status)
	}
}
