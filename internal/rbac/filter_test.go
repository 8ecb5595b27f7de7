package rbac

import (
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

const testGUID = "0b6f0cd4-aaaa-4000-8000-00000000000a"

func TestParseAssignmentFilter(t *testing.T) {
	tests := []struct {
		in   string
		want AssignmentFilter
		code string
	}{
		{"", AssignmentFilter{}, ""},
		{"  ", AssignmentFilter{}, ""},
		{"atScope()", AssignmentFilter{AtScope: true}, ""},
		{"ATSCOPE( )", AssignmentFilter{AtScope: true}, ""},
		{"principalId eq '" + strings.ToUpper(testGUID) + "'", AssignmentFilter{PrincipalID: testGUID}, ""},
		{"assignedTo('" + testGUID + "')", AssignmentFilter{PrincipalID: testGUID}, ""},
		{"atScope() and assignedTo('" + testGUID + "')", AssignmentFilter{AtScope: true, PrincipalID: testGUID}, ""},
		{"principalId  eq '" + testGUID + "'  AND  atScope()", AssignmentFilter{AtScope: true, PrincipalID: testGUID}, ""},
		{"principalId eq " + testGUID, AssignmentFilter{}, "InvalidQueryParameterValue"},
		{"principalId eq ''", AssignmentFilter{}, CodeInvalidPrincipalID},
		{"principalId eq 'bob'", AssignmentFilter{}, CodeInvalidPrincipalID},
		{"atScope() and atScope()", AssignmentFilter{}, "InvalidQueryParameterValue"},
		{"principalId eq '" + testGUID + "' and assignedTo('" + testGUID + "')", AssignmentFilter{}, "InvalidQueryParameterValue"},
		{"atScope() or principalId eq '" + testGUID + "'", AssignmentFilter{}, "InvalidQueryParameterValue"},
		{"roleDefinitionId eq 'x'", AssignmentFilter{}, "InvalidQueryParameterValue"},
		{"atScope() and", AssignmentFilter{}, "InvalidQueryParameterValue"},
		{strings.Repeat("atScope() and ", 100) + "atScope()", AssignmentFilter{}, "InvalidQueryParameterValue"},
	}
	for _, tc := range tests {
		got, err := ParseAssignmentFilter(tc.in)
		if errs.CodeOf(err) != tc.code || got != tc.want || (err != nil && !errs.Is(err, errs.Invalid)) {
			t.Errorf("ParseAssignmentFilter(%q) = %+v, %v (code %q); want %+v, code %q", tc.in, got, err, errs.CodeOf(err), tc.want, tc.code)
		}
	}
}

func TestParseDefinitionFilter(t *testing.T) {
	tests := []struct {
		in   string
		want DefinitionFilter
		ok   bool
	}{
		{"", DefinitionFilter{}, true},
		{"roleName eq 'Reader'", DefinitionFilter{RoleName: "Reader"}, true},
		{"rolename EQ 'Key Vault Secrets User'", DefinitionFilter{RoleName: "Key Vault Secrets User"}, true},
		{"roleName eq 'Tom and Jerry''s role'", DefinitionFilter{RoleName: "Tom and Jerry's role"}, true},
		{"roleName eq 'Reader' and type eq 'BuiltInRole'", DefinitionFilter{RoleName: "Reader", Type: "BuiltInRole"}, true},
		{"roleName eq ''", DefinitionFilter{}, false},
		{"roleName eq 'a' and roleName eq 'b'", DefinitionFilter{}, false},
		{"roleName eq Reader", DefinitionFilter{}, false},
		{"roleName eq 'it's'", DefinitionFilter{}, false},
		{"description eq 'x'", DefinitionFilter{}, false},
	}
	for _, tc := range tests {
		got, err := ParseDefinitionFilter(tc.in)
		if (err == nil) != tc.ok || got != tc.want || (err != nil && errs.CodeOf(err) != "InvalidQueryParameterValue") {
			t.Errorf("ParseDefinitionFilter(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseFilter: the $filter parsers never panic, fail only with 400s, and what they accept
// they accept again written back.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"atScope()", "principalId eq '" + testGUID + "'", "atScope() and assignedTo('" + testGUID + "')",
		"roleName eq 'Reader'", "roleName eq 'a''b' and type eq 'BuiltInRole'", "'", "and and", " and 'x and y' and "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAssignmentFilter(s)
		if err != nil && !errs.Is(err, errs.Invalid) {
			t.Fatalf("ParseAssignmentFilter(%q): %v is not a 400", s, err)
		}
		if err == nil {
			var terms []string
			if a.AtScope {
				terms = append(terms, "atScope()")
			}
			if a.PrincipalID != "" {
				terms = append(terms, "principalId eq '"+a.PrincipalID+"'")
			}
			again, err := ParseAssignmentFilter(strings.Join(terms, " and "))
			if err != nil || again != a {
				t.Fatalf("%q parsed to %+v, which writes back to %+v, %v", s, a, again, err)
			}
		}
		d, err := ParseDefinitionFilter(s)
		if err != nil && !errs.Is(err, errs.Invalid) {
			t.Fatalf("ParseDefinitionFilter(%q): %v is not a 400", s, err)
		}
		if err == nil && d.RoleName != "" {
			again, err := ParseDefinitionFilter("roleName eq '" + strings.ReplaceAll(d.RoleName, "'", "''") + "'")
			if err != nil || again.RoleName != d.RoleName {
				t.Fatalf("%q parsed to %+v, which writes back to %+v, %v", s, d, again, err)
			}
		}
	})
}
