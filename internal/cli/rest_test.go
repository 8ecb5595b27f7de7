package cli

import "testing"

func TestRequoteURI(t *testing.T) {
	for in, want := range map[string]string{
		"/v1.0/servicePrincipals?$filter=displayName eq 'Microsoft Graph'": "/v1.0/servicePrincipals?$filter=displayName%20eq%20'Microsoft%20Graph'",
		"https://graph.microsoft.com/v1.0/groups?$top=2":                   "https://graph.microsoft.com/v1.0/groups?$top=2",
		"/a?x=%20y%zz":      "/a?x=%20y%25zz", // a valid escape kept, a stray % escaped
		"/a?q=\"é\"":        "/a?q=%22%C3%A9%22",
		"/a(b)/c?d=e&f=g+h": "/a(b)/c?d=e&f=g+h",
	} {
		if got := requoteURI(in); got != want {
			t.Errorf("requoteURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRestURI(t *testing.T) {
	for _, tc := range []struct {
		in                string
		path, host, vault string
		bad               bool
	}{
		{in: "/v1.0/groups", path: "/v1.0/groups"},
		{in: "https://graph.microsoft.com/v1.0/servicePrincipals(appId='x')?$select=id", path: "/v1.0/servicePrincipals(appId='x')?$select=id"},
		{in: "https://GRAPH.microsoft.com/v1.0/groups", path: "/v1.0/groups"},
		{in: "https://graph.microsoft.com/beta/groups", bad: true},
		{in: "https://management.azure.com/subscriptions?api-version=2022-12-01", path: "/subscriptions?api-version=2022-12-01"},
		{in: "https://management.core.windows.net/subscriptions", path: "/subscriptions"},
		{in: "https://kv1.vault.azure.net/secrets/s1?api-version=7.4", path: "/secrets/s1?api-version=7.4", vault: "kv1"},
		{in: "https://a.b.vault.azure.net/secrets", bad: true},
		{in: "https://kv1.vault.localhost:8443/secrets", path: "/secrets", host: "kv1.vault.localhost:8443"},
		{in: "https://localhost:8443", path: "/", host: "localhost:8443"},
		{in: "ftp://x/y", bad: true},
		{in: "v1.0/groups", bad: true},
	} {
		got, err := parseRestURI(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseRestURI(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got.path != tc.path || got.host != tc.host || got.vault != tc.vault {
			t.Errorf("parseRestURI(%q) = %+v, %v; want path %q host %q vault %q", tc.in, got, err, tc.path, tc.host, tc.vault)
		}
	}
}

func TestParseKeyValues(t *testing.T) {
	got, err := parseKeyValues("--headers", []string{"Content-Type=application/json", `{"b":"2","a":"1"}`, "X=a=b"})
	want := [][2]string{{"Content-Type", "application/json"}, {"a", "1"}, {"b", "2"}, {"X", "a=b"}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"novalue", "=x", `{"a":1}`} {
		if _, err := parseKeyValues("--headers", []string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
