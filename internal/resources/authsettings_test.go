package resources

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAuthSettings(t *testing.T) {
	ok := []string{
		``, `null`, `{}`,
		`{"platform":{"enabled":true},"globalValidation":{"requireAuthentication":true,"unauthenticatedClientAction":"Return403","excludedPaths":["/health"]},
		  "identityProviders":{"azureActiveDirectory":{"registration":{"clientId":"c","openIdIssuer":"https://sts.windows.net/11111111-1111-1111-1111-111111111111/v2.0"}}},
		  "login":{"tokenStore":{"enabled":true}},"unknownField":{"kept":true}}`,
	}
	for _, in := range ok {
		if _, err := ParseAuthSettings(json.RawMessage(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
	bad := map[string]string{
		`[]`: "JSON object",
		`{"globalValidation":{"unauthenticatedClientAction":"RedirectToLoginPage"}}`:                                                        "interactive sign-in",
		`{"globalValidation":{"unauthenticatedClientAction":"Return500"}}`:                                                                  "must be one of",
		`{"globalValidation":{"excludedPaths":["health"]}}`:                                                                                 "starting with /",
		`{"identityProviders":{"azureActiveDirectory":{"registration":{"openIdIssuer":"http://x/11111111-1111-1111-1111-111111111111/"}}}}`: "openIdIssuer",
		`{"identityProviders":{"azureActiveDirectory":{"registration":{"openIdIssuer":"https://x/common/"}}}}`:                              "openIdIssuer",
		`{"platform":{"enabled":true},"globalValidation":{"requireAuthentication":true}}`:                                                   "no identity provider",
		`{"platform":{"enabled":"yes"}}`: "schema",
		`{"identityProviders":{"azureActiveDirectory":{"validation":{"defaultAuthorizationPolicy":{"allowedPrincipals":{"groups":["g"]}}}}}}`:                                    "groups",
		`{"identityProviders":{"azureActiveDirectory":{"validation":{"defaultAuthorizationPolicy":{"allowedPrincipals":{"identities":["` + strings.Repeat("a", 501) + `"]}}}}}}`: "500",
	}
	for in, want := range bad {
		if _, err := ParseAuthSettings(json.RawMessage(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", in, err, want)
		}
	}
	a, _ := ParseAuthSettings(json.RawMessage(`{"identityProviders":{"azureActiveDirectory":{"registration":{"openIdIssuer":"https://login.microsoftonline.com/AAAAAAAA-1111-1111-1111-111111111111/v2.0"}}}}`))
	if a.IssuerTenant() != "aaaaaaaa-1111-1111-1111-111111111111" || a.Action() != ActionReturn401 || !a.RequireHTTPS() {
		t.Errorf("issuer tenant %q, action %q, https %v", a.IssuerTenant(), a.Action(), a.RequireHTTPS())
	}
}

// FuzzParseAuthSettings: any input is accepted or refused with a Lanyard error, never a panic;
// what is accepted names a known action.
func FuzzParseAuthSettings(f *testing.F) {
	f.Add(`{"platform":{"enabled":true},"globalValidation":{"requireAuthentication":true},"identityProviders":{"azureActiveDirectory":{"registration":{"clientId":"c"}}}}`)
	f.Add(`{"globalValidation":{"excludedPaths":["/a/*"]}}`)
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseAuthSettings(json.RawMessage(in))
		if err != nil {
			return
		}
		switch a.Action() {
		case ActionAllowAnonymous, ActionReturn401, ActionReturn403:
		default:
			t.Fatalf("accepted action %q", a.Action())
		}
	})
}

func TestPlacementOnSeveralNodes(t *testing.T) {
	for in, want := range map[string]string{
		`{"node":"n1"}`:               `{"node":"n1"}`,
		`{"nodes":["n1","n2"]}`:       `{"nodes":["n1","n2"]}`,
		`{}`:                          `{"node":""}`,
		`{"node":"n1","nodes":["x"]}`: "give one of them",
		`{"nodes":["n1",""]}`:         "names",
		`{"nodes":"n1"}`:              "must be",
		`{"zone":"a"}`:                "must be",
	} {
		props := map[string]json.RawMessage{PlacementProperty: json.RawMessage(in)}
		err := checkPlacement(props)
		switch {
		case strings.HasPrefix(want, "{") && (err != nil || string(props[PlacementProperty]) != want):
			t.Errorf("%s: %v %s, want %s", in, err, props[PlacementProperty], want)
		case !strings.HasPrefix(want, "{") && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error saying %q", in, err, want)
		}
	}
	r := Resource{Properties: json.RawMessage(`{"lanyard":{"nodes":["n1","N2"]}}`)}
	if !PlacedOn(r, "n2") || PlacedOn(r, "n3") || SiteNode(r) != "n1" {
		t.Errorf("PlacedOn/SiteNode of %s", r.Properties)
	}
}
