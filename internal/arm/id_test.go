package arm

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

const sub = "00000000-1111-4222-8333-444444444444"

func TestParse(t *testing.T) {
	tests := []struct {
		in                  string
		canonical           string
		kind                Kind
		typ, name, rg, subs string
	}{
		{"/", "/", KindRoot, "", "", "", ""},
		{"/subscriptions/" + strings.ToUpper(sub), "/subscriptions/" + sub, KindSubscription, "Microsoft.Resources/subscriptions", sub, "", sub},
		{"/subscriptions/" + sub + "/", "/subscriptions/" + sub, KindSubscription, "Microsoft.Resources/subscriptions", sub, "", sub},
		{"/SUBSCRIPTIONS/" + sub + "/resourcegroups/My-RG_(1).x", "/subscriptions/" + sub + "/resourceGroups/My-RG_(1).x",
			KindResourceGroup, "Microsoft.Resources/resourceGroups", "My-RG_(1).x", "My-RG_(1).x", sub},
		{"/subscriptions/" + sub + "/resourceGroups/rg/PROVIDERS/Microsoft.Web/sites/MyApp",
			"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/MyApp", KindResource, "Microsoft.Web/sites", "MyApp", "rg", sub},
		{"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging",
			"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging", KindResource, "Microsoft.Web/sites/slots", "staging", "rg", sub},
		{"/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments/0b6f0cd4-0000-4000-8000-000000000001",
			"/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments/0b6f0cd4-0000-4000-8000-000000000001",
			KindResource, "Microsoft.Authorization/roleAssignments", "0b6f0cd4-0000-4000-8000-000000000001", "", sub},
		{"/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
			"/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
			KindResource, "Microsoft.Authorization/roleDefinitions", "acdd72a7-3385-48ef-bd42-f606fba81ae7", "", ""},
		{"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/app/providers/Microsoft.Authorization/roleAssignments/x",
			"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/app/providers/Microsoft.Authorization/roleAssignments/x",
			KindResource, "Microsoft.Authorization/roleAssignments", "x", "rg", sub},
		// A resource may be named like a keyword.
		{"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/providers",
			"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/providers", KindResource, "Microsoft.Web/sites", "providers", "rg", sub},
		{"/subscriptions/" + sub + "/resourceGroups/résumé", "/subscriptions/" + sub + "/resourceGroups/résumé", KindResourceGroup,
			"Microsoft.Resources/resourceGroups", "résumé", "résumé", sub},
	}
	for _, tc := range tests {
		id, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := id.String(); got != tc.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.canonical)
		}
		if id.Kind() != tc.kind || id.ResourceType() != tc.typ || id.Name() != tc.name ||
			id.ResourceGroupName() != tc.rg || id.SubscriptionID() != tc.subs {
			t.Errorf("Parse(%q) = kind %v type %q name %q group %q sub %q; want %v %q %q %q %q", tc.in,
				id.Kind(), id.ResourceType(), id.Name(), id.ResourceGroupName(), id.SubscriptionID(),
				tc.kind, tc.typ, tc.name, tc.rg, tc.subs)
		}
		if id.Key() != strings.ToLower(id.String()) {
			t.Errorf("Parse(%q).Key() = %q, not the lower-cased canonical form", tc.in, id.Key())
		}
	}
}

func TestParseErrors(t *testing.T) {
	s := "/subscriptions/" + sub
	tests := []struct{ in, code string }{
		{"", CodeInvalidResourceID},
		{"subscriptions/" + sub, CodeInvalidResourceID},
		{"/subscriptions", CodeInvalidResourceID},
		{"/subscriptions/not-a-guid", CodeInvalidSubscriptionID},
		{"/subscriptions/" + sub + "x", CodeInvalidSubscriptionID},
		{s + "//resourceGroups/rg", CodeInvalidResourceID},
		{s + "/resourceGroups", CodeInvalidResourceID},
		{s + "/resourceGroups/rg.", CodeInvalidResourceGroup},
		{s + "/resourceGroups/a b", CodeInvalidResourceGroup},
		{s + "/resourceGroups/" + strings.Repeat("g", 91), CodeInvalidResourceGroup},
		{s + "/resourceGroups/rg/sites/x", CodeInvalidResourceID},
		{s + "/resourceGroups/rg/providers", CodeInvalidResourceID},
		{s + "/resourceGroups/rg/providers/Microsoft.Web", CodeInvalidResourceID},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/sites", CodeInvalidResourceID},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/sites/a/slots", CodeInvalidResourceID},
		{s + "/resourceGroups/rg/providers/Micro$oft.Web/sites/a", CodeInvalidResourceNamespace},
		{s + "/resourceGroups/rg/providers/Microsoft..Web/sites/a", CodeInvalidResourceNamespace},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/si-tes/a", CodeInvalidResourceType},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/sites/" + strings.Repeat("n", 261), CodeInvalidResourceName},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/sites/a:b", CodeInvalidResourceName},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/sites/a.", CodeInvalidResourceName},
		{s + "/resourceGroups/rg/providers/Microsoft.Web/sites/a\x00", CodeInvalidResourceName},
		{"/resourceGroups/rg", CodeInvalidResourceID},
		{"/providers", CodeInvalidResourceID},
		{"/" + strings.Repeat("a", MaxIDLength), CodeInvalidResourceID},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		if !errs.Is(err, errs.Invalid) || errs.CodeOf(err) != tc.code {
			t.Errorf("Parse(%.80q) = %v (code %q), want Invalid with code %s", tc.in, err, errs.CodeOf(err), tc.code)
		}
	}
}

func TestEqualAndWithin(t *testing.T) {
	s := "/subscriptions/" + sub
	root := Root()
	subID := MustParse(s)
	ga := MustParse(s + "/resourceGroups/GroupA")
	gaLower := MustParse(strings.ToUpper(s) + "/RESOURCEGROUPS/groupa")
	gab := MustParse(s + "/resourceGroups/GroupAB")
	site := MustParse(s + "/resourceGroups/groupA/providers/Microsoft.Web/sites/app")
	slot := MustParse(s + "/resourceGroups/groupA/providers/Microsoft.Web/sites/APP/slots/s1")
	ext := MustParse(s + "/resourceGroups/groupA/providers/Microsoft.Web/sites/app/providers/Microsoft.Authorization/roleAssignments/r")
	def := MustParse("/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7")

	if !ga.Equal(gaLower) || ga.String() == gaLower.String() {
		t.Errorf("ids differing in case: Equal %v, strings %q and %q", ga.Equal(gaLower), ga, gaLower)
	}
	within := []struct {
		id, scope ID
		want      bool
	}{
		{subID, root, true}, {ga, root, true}, {def, root, true}, {root, root, true},
		{ga, subID, true}, {site, subID, true}, {site, gaLower, true}, {slot, site, true}, {ext, site, true}, {slot, slot, true},
		{subID, ga, false}, {ga, site, false}, {site, gab, false}, {gab, ga, false}, {def, subID, false}, {root, subID, false},
	}
	for _, tc := range within {
		if got := tc.id.IsWithin(tc.scope); got != tc.want {
			t.Errorf("%s IsWithin %s = %v, want %v", tc.id, tc.scope, got, tc.want)
		}
	}

	parents := []struct{ id, parent, scope ID }{
		{root, root, root}, {subID, root, root}, {ga, subID, subID}, {site, ga, ga},
		{slot, site, ga}, {ext, site, site}, {def, root, root},
	}
	for _, tc := range parents {
		if got := tc.id.Parent(); !got.Equal(tc.parent) {
			t.Errorf("%s.Parent() = %s, want %s", tc.id, got, tc.parent)
		}
		if got := tc.id.Scope(); !got.Equal(tc.scope) {
			t.Errorf("%s.Scope() = %s, want %s", tc.id, got, tc.scope)
		}
	}
	if got := slot.Parent().String(); got != s+"/resourceGroups/groupA/providers/Microsoft.Web/sites/APP" {
		t.Errorf("Parent keeps the caller's casing: got %q", got)
	}
}

func TestRequireAPIVersion(t *testing.T) {
	accepted := []string{"2022-04-01", "2015-07-01"}
	tests := []struct{ query, code string }{
		{"", CodeMissingAPIVersion},
		{"?api-version=", CodeMissingAPIVersion},
		{"?api-version=2022-04-01", ""},
		{"?API-VERSION=2022-04-01", CodeMissingAPIVersion}, // query keys are case-sensitive in ARM too
		{"?api-version=2015-07-01", ""},
		{"?api-version=2099-01-01", CodeInvalidAPIVersion},
	}
	for _, tc := range tests {
		err := RequireAPIVersion(httptest.NewRequest("GET", "/x"+tc.query, nil), accepted)
		if errs.CodeOf(err) != tc.code || (tc.code != "" && !errs.Is(err, errs.Invalid)) {
			t.Errorf("RequireAPIVersion(%q) = %v, want code %q", tc.query, err, tc.code)
		}
	}
	err := RequireAPIVersion(httptest.NewRequest("GET", "/x?api-version=1", nil), accepted)
	if !strings.Contains(errs.Message(err), "2022-04-01,2015-07-01") {
		t.Errorf("InvalidApiVersionParameter message %q does not name the accepted versions", errs.Message(err))
	}
}

// FuzzParse: Parse never panics, and a parsed id re-parses from its String to an equal id with
// the same String (the canonical form is a fixed point).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/", "/subscriptions/" + sub, "/subscriptions/" + sub + "/resourceGroups/rg",
		"/subscriptions/" + sub + "/resourcegroups/rg/providers/Microsoft.Web/sites/a/slots/b",
		"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Web/sites/a/providers/Microsoft.Authorization/roleAssignments/x",
		"/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
		"/subscriptions//resourceGroups", "//", "/providers/a.b/c/d/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !errs.Is(err, errs.Invalid) || errs.CodeOf(err) == "" {
				t.Fatalf("Parse(%q) = %v: not Invalid with an ARM code", s, err)
			}
			return
		}
		again, err := Parse(id.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, id.String(), err)
		}
		if !again.Equal(id) || again.String() != id.String() || again.Key() != id.Key() {
			t.Fatalf("re-parsing %q gave %q, want %q", s, again, id)
		}
		if !id.IsWithin(id) || !id.IsWithin(Root()) || !id.IsWithin(id.Parent()) || !id.IsWithin(id.Scope()) {
			t.Fatalf("%q is not within itself, the root, its parent %q or its scope %q", id, id.Parent(), id.Scope())
		}
		if id.Key() != strings.ToLower(id.String()) {
			t.Fatalf("Key %q is not String %q in lower case", id.Key(), id)
		}
	})
}
