package odata

import (
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// managedIdentity is a service principal as the directory's get function would see it.
var managedIdentity = map[string]any{
	"id":                   "5B1C8E0A-3D7E-4C4B-9F00-3F1E2D3C4B5A",
	"appId":                "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
	"displayName":          "Kjh-MI",
	"servicePrincipalType": "ManagedIdentity",
	"accountEnabled":       true,
	"appRoleCount":         int64(3),
	"smallCount":           2, // an int, as a careless get might return
	"deletedDateTime":      nil,
	"servicePrincipalNames": []string{
		"7ab1d382-f21e-4acd-a863-ba3e13f7da61",
		"https://identity.azure.net/abc=",
	},
	"alternativeNames": []string{"isExplicit=True", "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kjh-mi"},
	"tags":             []string(nil),
	"weird":            3.5,
	// Edm.Guid properties, as the directory's getter wraps them.
	"appOwnerOrganizationId": GuidProp{S: "f8cdef31-a31e-4b4a-93e4-5f571e91255a"},
	"resourceId":             GuidProp{Null: true},
}

func get(field string) (any, bool) {
	v, ok := managedIdentity[field]
	return v, ok
}

func TestEval(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{"displayName eq 'Kjh-MI'", true},
		{"displayName eq 'kjh-mi'", false}, // eq is exact for strings
		{"displayName ne 'kjh-mi'", true},
		{"appId eq '7AB1D382-F21E-4ACD-A863-BA3E13F7DA61'", true}, // but not for GUIDs
		{"id eq '5b1c8e0a-3d7e-4c4b-9f00-3f1e2d3c4b5a'", true},
		{"id ne '5b1c8e0a-3d7e-4c4b-9f00-3f1e2d3c4b5a'", false},
		{"appId eq '7ab1d382-f21e-4acd-a863-ba3e13f7da6'", false},
		{"startswith(displayName,'kjh')", true}, // startswith ignores case
		{"startswith(displayName,'KJH-MI')", true},
		{"startswith(displayName,'Kjh-MI2')", false},
		{"startswith(displayName,'')", true},
		{"startswith(deletedDateTime,'x')", false},
		{"accountEnabled eq true", true},
		{"accountEnabled ne true", false},
		{"accountEnabled eq false", false},
		{"appRoleCount eq 3", true},
		{"appRoleCount ne 3", false},
		{"smallCount eq 2", true},
		{"deletedDateTime eq null", true},
		{"deletedDateTime ne null", false},
		{"deletedDateTime eq 'x'", false},
		{"deletedDateTime ne 'x'", true},
		{"deletedDateTime in ('x', null)", true},
		{"displayName eq null", false},
		{"displayName ne null", true},
		{"displayName in ('a', 'Kjh-MI')", true},
		{"displayName in ('a', 'b')", false},
		{"appId in ('7AB1D382-F21E-4ACD-A863-BA3E13F7DA61')", true},
		{"servicePrincipalNames/any(x:x eq 'https://identity.azure.net/abc=')", true},
		{"servicePrincipalNames/any(x:x eq 'HTTPS://identity.azure.net/abc=')", false},
		{"servicePrincipalNames/any(x:x eq '7AB1D382-F21E-4ACD-A863-BA3E13F7DA61')", true},
		{"alternativeNames/any(x:x eq 'isExplicit=True')", true},
		{"alternativeNames/any(x:x eq 'isExplicit=False')", false},
		{"tags/any(x:x eq 'a')", false},
		{"displayName eq 'x' or accountEnabled eq true", true},
		{"displayName eq 'x' and accountEnabled eq true", false},
		{"(displayName eq 'x' or servicePrincipalType eq 'ManagedIdentity') and appRoleCount eq 3", true},
		{"displayName eq 'x' or servicePrincipalType eq 'ManagedIdentity' and appRoleCount eq 4", false},
		// Edm.Guid properties take unquoted GUIDs, compared without case.
		{"appOwnerOrganizationId eq F8CDEF31-A31E-4B4A-93E4-5F571E91255A", true},
		{"appOwnerOrganizationId ne f8cdef31-a31e-4b4a-93e4-5f571e91255a", false},
		{"appOwnerOrganizationId eq 7ab1d382-f21e-4acd-a863-ba3e13f7da61", false},
		{"appOwnerOrganizationId in (7ab1d382-f21e-4acd-a863-ba3e13f7da61, f8cdef31-a31e-4b4a-93e4-5f571e91255a)", true},
		{"appOwnerOrganizationId eq null", false},
		{"resourceId eq null", true},
		{"resourceId eq f8cdef31-a31e-4b4a-93e4-5f571e91255a", false},
	}
	for _, tt := range tests {
		e, err := ParseFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tt.filter, err)
		}
		got, err := e.Eval(get)
		if err != nil {
			t.Errorf("Eval(%q): %v", tt.filter, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Eval(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		filter string
		kind   errs.Kind
		want   string
	}{
		{"nope eq 'x'", errs.Invalid, "could not find a property named 'nope'"},
		{"displayName eq true", errs.Invalid, "property 'displayName' is a string and cannot be compared with true"},
		{"displayName eq 1", errs.Invalid, "cannot be compared with 1"},
		{"accountEnabled eq 'true'", errs.Invalid, "property 'accountEnabled' is a boolean"},
		{"appRoleCount eq '3'", errs.Invalid, "property 'appRoleCount' is an integer"},
		{"displayName in ('a', false)", errs.Invalid, "is a string and cannot be compared with false"},
		{"servicePrincipalNames eq 'x'", errs.Invalid, "property 'servicePrincipalNames' is a collection"},
		{"servicePrincipalNames eq null", errs.Invalid, "property 'servicePrincipalNames' is a collection"},
		{"startswith(accountEnabled,'t')", errs.Invalid, "is a boolean and cannot be used with startswith"},
		{"startswith(servicePrincipalNames,'t')", errs.Invalid, "is a collection and cannot be used with startswith"},
		{"displayName/any(x:x eq 'a')", errs.Invalid, "property 'displayName' is a string and cannot be used with any"},
		// and and or do not short-circuit, so the error does not depend on the data
		{"displayName eq 'x' and accountEnabled eq 'y'", errs.Invalid, "is a boolean"},
		{"displayName eq 'Kjh-MI' or accountEnabled eq 'y'", errs.Invalid, "is a boolean"},
		// Graph's types: an Edm.Guid property takes unquoted GUIDs only, and a GUID literal goes
		// with nothing else
		{"appOwnerOrganizationId eq 'f8cdef31-a31e-4b4a-93e4-5f571e91255a'", errs.Invalid, "Found operand types 'Edm.Guid' and 'Edm.String'"},
		{"appOwnerOrganizationId eq true", errs.Invalid, "Found operand types 'Edm.Guid' and 'Edm.Boolean'"},
		{"resourceId in (null, 'x')", errs.Invalid, "Found operand types 'Edm.Guid' and 'Edm.String'"},
		{"appId eq 7ab1d382-f21e-4acd-a863-ba3e13f7da61", errs.Invalid, "Found operand types 'Edm.String' and 'Edm.Guid'"},
		{"deletedDateTime eq 7ab1d382-f21e-4acd-a863-ba3e13f7da61", errs.Invalid, "Found operand types 'Edm.String' and 'Edm.Guid'"},
		{"accountEnabled eq 7ab1d382-f21e-4acd-a863-ba3e13f7da61", errs.Invalid, "Found operand types 'Edm.Boolean' and 'Edm.Guid'"},
		{"startswith(appOwnerOrganizationId,'f8')", errs.Invalid, "is a GUID and cannot be used with startswith"},
		// a type get must not return is the caller's bug
		{"weird eq 'x'", errs.Internal, "unsupported type float64"},
	}
	for _, tt := range tests {
		e, err := ParseFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tt.filter, err)
		}
		_, err = e.Eval(get)
		if err == nil {
			t.Errorf("Eval(%q) succeeded, want an error", tt.filter)
			continue
		}
		if errs.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Eval(%q) = %v (%v), want %v containing %q", tt.filter, err, errs.KindOf(err), tt.kind, tt.want)
		}
	}
}

func TestEvalNilAndHandBuilt(t *testing.T) {
	if ok, err := (*Expr)(nil).Eval(get); !ok || err != nil {
		t.Errorf("nil.Eval = %v, %v; want true, nil", ok, err)
	}
	bad := []*Expr{
		{Op: "gt", Field: "displayName", Value: str("x")},
		{Op: OpEq, Field: "displayName"}, // zero Value
		{Op: OpStartsWith, Field: "displayName", Value: num(1)},
		{Op: OpAnd, Left: leaf(OpEq, "displayName", str("x"))},
	}
	for _, e := range bad {
		if _, err := e.Eval(get); err == nil {
			t.Errorf("Eval(%s) succeeded", e)
		}
	}
}

func TestHasPrefixFold(t *testing.T) {
	tests := []struct {
		s, prefix string
		want      bool
	}{
		{"Straße", "STRA", true},
		{"ſtop", "st", true}, // long s folds to s though its encoding is longer
		{"Kelvin", "\u212aEL", true},
		{"ab", "abc", false},
		{"Ébène", "éb", true},
		{"x", "", true},
	}
	for _, tt := range tests {
		if got := hasPrefixFold(tt.s, tt.prefix); got != tt.want {
			t.Errorf("hasPrefixFold(%q, %q) = %v", tt.s, tt.prefix, got)
		}
	}
}
