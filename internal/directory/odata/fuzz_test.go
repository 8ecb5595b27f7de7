package odata

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
)

var filterSeeds = []string{
	"appId eq '" + graphAppID + "'",
	"servicePrincipalType eq 'ManagedIdentity'",
	"displayName eq 'O''Brien' and accountEnabled eq true",
	"startswith(displayName,'kjh') or n eq -42",
	"startsWith(displayName, 'a')",
	"appId in ('a', 'b', null, 1, false)",
	"servicePrincipalNames/any(x:x eq 'api://a')",
	"identifierUris/ANY( s : s eq 'api://a' )",
	"alternativeNames/any(n:n eq 'isExplicit=True')",
	"(a eq '1' or b eq '2') and (c eq '3' or d ne null)",
	"a eq '1' and (b eq '2' and c eq '3')",
	"a eq '1' or (b eq '2' or c eq '3')",
	"((((a eq '1'))))",
	"info/x eq 'y'",
	"and eq 'x' and or eq 'y'",
	"x/any eq 'v'",
	"not a eq 'b'",
	"displayName gt 'x'",
	"endswith(displayName,'x')",
	"tags/all(x:x eq 'y')",
	"appId eq 7ab1d382-f21e-4acd-a863-ba3e13f7da61",
	"n eq 99999999999999999999",
	"displayName eq 'x",
	"displayName eq'x'",
	"a eq 'x'and b eq 'y'",
	"a in('x')",
	"displayName eq 'é' and x gt 1",
	"",
	"(",
	")",
	"'",
	"''''",
	"\xff",
}

// FuzzParseFilter checks that ParseFilter never panics, that its errors are errs.Invalid, that
// the canonical form of anything it accepts parses back to the same Expr and is a fixed point,
// and that Eval does not panic on what it parsed.
func FuzzParseFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseFilter(s)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("ParseFilter(%q): error of kind %v: %v", s, errs.KindOf(err), err)
			}
			return
		}
		canon := e.String()
		// The canonical form can be longer than the input by the space it puts after each 'in',
		// so check the round trip without the length limit, then the limit separately.
		again, err := parseFilter(canon)
		if err != nil {
			t.Fatalf("ParseFilter(%q).String() = %q does not parse: %v", s, canon, err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("ParseFilter(%q) = %#v\nbut its String() %q parses to %#v", s, e, canon, again)
		}
		if c := again.String(); c != canon {
			t.Fatalf("canonical form is not a fixed point: %q → %q", canon, c)
		}
		// Only "in(" becomes longer ("in ("): a filter within a few characters of the limit that
		// is written that way canonicalises to one ParseFilter rejects as too long.
		if n, limit := utf8.RuneCountInString(canon), utf8.RuneCountInString(s)+strings.Count(canon, " in ("); n > limit {
			t.Fatalf("canonical form %q is longer than the input %q accounts for", canon, s)
		}
		if _, err := e.Eval(fuzzGet); err != nil && errs.KindOf(err) != errs.Invalid {
			t.Fatalf("Eval(%q): %v", canon, err)
		}
	})
}

// fuzzGet gives each property a value whose type depends on its name, so that Eval meets every
// kind of value and unknown properties too.
func fuzzGet(field string) (any, bool) {
	switch len(field) % 6 {
	case 0:
		return "5B1C8E0A-3D7E-4C4B-9F00-3F1E2D3C4B5A", true
	case 1:
		return true, true
	case 2:
		return int64(len(field)), true
	case 3:
		return nil, true
	case 4:
		return []string{"a", "api://a", field}, true
	}
	return nil, false
}

var pathSeeds = []string{
	"servicePrincipals",
	"servicePrincipals/" + spID,
	"servicePrincipals('" + spID + "')",
	"servicePrincipals%28%27" + spID + "%27%29",
	"servicePrincipals(appId='" + graphAppID + "')",
	"servicePrincipals(appId=%27" + graphAppID + "%27)",
	"servicePrincipals(appId='" + graphAppID + "')/appRoleAssignedTo",
	"servicePrincipals/" + spID + "/appRoleAssignedTo/" + assignmentID,
	"applications(appId='" + graphAppID + "')",
	"applications/" + spID,
	"groups/g1/members/$ref",
	"groups/g1/members/m1/$ref",
	"roleManagement/directory/roleAssignments/ra1",
	"servicePrincipals/microsoft.graph.getByIds",
	"servicePrincipals(displayName='O''Brien')",
	"applications(uniqueName='a%2Fb%2Fc%20(x),y=z')",
	"users/%C3%A9l%C3%A8ve",
	"servicePrincipals/%2E%2E",
	"servicePrincipals(appId='a',displayName='b')",
	"servicePrincipals('a",
	"servicePrincipals()",
	"/",
	"$ref",
	"%",
}

// FuzzParsePath checks that ParsePath never panics, that its errors are errs.Invalid, and that
// the canonical form of anything it accepts parses back to the same Path.
func FuzzParsePath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("ParsePath(%q): error of kind %v: %v", s, errs.KindOf(err), err)
			}
			return
		}
		canon := p.String()
		if len(canon) > maxPathLen {
			return // keys in parentheses and percent-encoding can make it longer than the input
		}
		again, err := ParsePath(canon)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("ParsePath(%q) = %+v\nbut its String() %q parses to %+v, %v", s, p, canon, again, err)
		}
	})
}
