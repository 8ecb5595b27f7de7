package resources

import (
	"strings"
	"testing"
)

// FuzzParseRoute: every management request's path is parsed here before anything else. It does
// not panic; a route it accepts has non-empty segments with no slash, keywords where ARM has
// them, and names a resource only inside a resource group.
func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{"/subscriptions", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/a",
		"/SUBSCRIPTIONS/s/RESOURCEGROUPS/g/resources", "/subscriptions/s/providers/Microsoft.KeyVault/vaults",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv/accessPolicies/add",
		"/subscriptions//resourceGroups", "/subscriptions/s/resourceGroups/g/providers/x", "//subscriptions/s/", "/subscriptions/s/providers/a/b/c"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, ok := parseRoute(path)
		if !ok {
			return
		}
		for _, v := range []string{rt.sub, rt.group, rt.ns, rt.typ, rt.name, rt.operation} {
			if strings.Contains(v, "/") {
				t.Fatalf("%q: a segment with a slash: %+v", path, rt)
			}
		}
		switch rt.kind {
		case routeSubscriptions:
		case routeResource, routePolicies:
			if rt.sub == "" || rt.group == "" || rt.ns == "" || rt.typ == "" || rt.name == "" {
				t.Fatalf("%q: a resource route with an empty part: %+v", path, rt)
			}
		default:
			if rt.sub == "" {
				t.Fatalf("%q: no subscription: %+v", path, rt)
			}
		}
		if rt.kind == routePolicies && rt.operation == "" {
			t.Fatalf("%q: access policies without an operation", path)
		}
	})
}
