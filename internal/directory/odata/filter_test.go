package odata

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

const graphAppID = "00000003-0000-0000-c000-000000000000"

func str(s string) Value   { return Value{Kind: String, Str: s} }
func num(n int64) Value    { return Value{Kind: Int, Int: n} }
func boolean(b bool) Value { return Value{Kind: Bool, Bool: b} }

var null = Value{Kind: Null}

func leaf(op, field string, v Value) *Expr { return &Expr{Op: op, Field: field, Value: v} }
func in(field string, vs ...Value) *Expr   { return &Expr{Op: OpIn, Field: field, Values: vs} }
func and(l, r *Expr) *Expr                 { return &Expr{Op: OpAnd, Left: l, Right: r} }
func or(l, r *Expr) *Expr                  { return &Expr{Op: OpOr, Left: l, Right: r} }

func TestParseFilter(t *testing.T) {
	a, b, c, d := leaf(OpEq, "a", str("1")), leaf(OpEq, "b", str("2")), leaf(OpEq, "c", str("3")), leaf(OpEq, "d", str("4"))
	tests := []struct {
		in    string
		want  *Expr
		canon string // "" means the input is already canonical
	}{
		{"appId eq '" + graphAppID + "'", leaf(OpEq, "appId", str(graphAppID)), ""},
		{"servicePrincipalType eq 'ManagedIdentity'", leaf(OpEq, "servicePrincipalType", str("ManagedIdentity")), ""},
		{"displayName ne 'x'", leaf(OpNe, "displayName", str("x")), ""},
		{"displayName EQ 'x'", leaf(OpEq, "displayName", str("x")), "displayName eq 'x'"},
		{"  displayName\teq\t'x'  ", leaf(OpEq, "displayName", str("x")), "displayName eq 'x'"},
		{"displayName eq 'O''Brien'", leaf(OpEq, "displayName", str("O'Brien")), ""},
		{"displayName eq ''", leaf(OpEq, "displayName", str("")), ""},
		{"displayName eq ''''", leaf(OpEq, "displayName", str("'")), ""},
		{"displayName eq 'a (b), c: d'", leaf(OpEq, "displayName", str("a (b), c: d")), ""},
		{"displayName eq 'héllo wörld ✓'", leaf(OpEq, "displayName", str("héllo wörld ✓")), ""},
		{"accountEnabled eq true", leaf(OpEq, "accountEnabled", boolean(true)), ""},
		{"accountEnabled eq FALSE", leaf(OpEq, "accountEnabled", boolean(false)), "accountEnabled eq false"},
		{"deletedDateTime eq null", leaf(OpEq, "deletedDateTime", null), ""},
		{"deletedDateTime ne Null", leaf(OpNe, "deletedDateTime", null), "deletedDateTime ne null"},
		{"n eq 42", leaf(OpEq, "n", num(42)), ""},
		{"resourceId eq 7AB1D382-F21E-4ACD-A863-BA3E13F7DA61", leaf(OpEq, "resourceId", Value{Kind: Guid, Str: "7AB1D382-F21E-4ACD-A863-BA3E13F7DA61"}), ""},
		{"appRoleId in (7ab1d382-f21e-4acd-a863-ba3e13f7da61, null)", in("appRoleId", Value{Kind: Guid, Str: "7ab1d382-f21e-4acd-a863-ba3e13f7da61"}, null), "appRoleId in (7ab1d382-f21e-4acd-a863-ba3e13f7da61,null)"},
		{"n eq -7", leaf(OpEq, "n", num(-7)), ""},
		{"n eq 007", leaf(OpEq, "n", num(7)), "n eq 7"},
		{"n eq -0", leaf(OpEq, "n", num(0)), "n eq 0"},
		{"n eq 9223372036854775807", leaf(OpEq, "n", num(9223372036854775807)), ""},
		{"n eq -9223372036854775808", leaf(OpEq, "n", num(-9223372036854775808)), ""},
		{"info/x eq 'y'", leaf(OpEq, "info/x", str("y")), ""},
		{"_a1 eq 'y'", leaf(OpEq, "_a1", str("y")), ""},
		{"startswith(displayName,'ab')", leaf(OpStartsWith, "displayName", str("ab")), ""},
		{"startsWith(displayName, 'ab')", leaf(OpStartsWith, "displayName", str("ab")), "startswith(displayName,'ab')"},
		{"STARTSWITH ( displayName , 'ab' )", leaf(OpStartsWith, "displayName", str("ab")), "startswith(displayName,'ab')"},
		{"appId in ('a', 'b')", in("appId", str("a"), str("b")), "appId in ('a','b')"},
		{"appId in('a')", in("appId", str("a")), "appId in ('a')"},
		{"n IN (1,true,null,'x')", in("n", num(1), boolean(true), null, str("x")), "n in (1,true,null,'x')"},
		{"servicePrincipalNames/any(x:x eq 'api://a')", leaf(OpAny, "servicePrincipalNames", str("api://a")), ""},
		{"identifierUris/ANY( s : s eq 'api://a' )", leaf(OpAny, "identifierUris", str("api://a")), "identifierUris/any(x:x eq 'api://a')"},
		{"alternativeNames/any(name:name EQ 'isExplicit=True')", leaf(OpAny, "alternativeNames", str("isExplicit=True")), "alternativeNames/any(x:x eq 'isExplicit=True')"},
		{"a eq '1' and b eq '2'", and(a, b), ""},
		{"a eq '1' AND b eq '2' Or c eq '3'", or(and(a, b), c), "a eq '1' and b eq '2' or c eq '3'"},
		{"a eq '1' or b eq '2' and c eq '3'", or(a, and(b, c)), ""},
		{"(a eq '1' or b eq '2') and c eq '3'", and(or(a, b), c), ""},
		{"a eq '1' and (b eq '2' or c eq '3')", and(a, or(b, c)), ""},
		{"a eq '1' and b eq '2' and c eq '3'", and(and(a, b), c), ""},
		{"a eq '1' and (b eq '2' and c eq '3')", and(a, and(b, c)), ""},
		{"a eq '1' or (b eq '2' or c eq '3')", or(a, or(b, c)), ""},
		{"(a eq '1' or b eq '2') and (c eq '3' or d eq '4')", and(or(a, b), or(c, d)), ""},
		{"((((a eq '1'))))", a, "a eq '1'"},
		{"(a eq '1')", a, "a eq '1'"},
		// names that are keywords elsewhere are names where a property is expected
		{"and eq 'x'", leaf(OpEq, "and", str("x")), ""},
		{"startswith eq 'x'", leaf(OpEq, "startswith", str("x")), ""},
		{"x/any eq 'v'", leaf(OpEq, "x/any", str("v")), ""},
	}
	for _, tt := range tests {
		got, err := ParseFilter(tt.in)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFilter(%q) = %s, want %s", tt.in, got, tt.want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.in
		}
		if s := got.String(); s != canon {
			t.Errorf("ParseFilter(%q).String() = %q, want %q", tt.in, s, canon)
		}
		again, err := ParseFilter(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseFilter(%q) did not round-trip: %v, %v", got.String(), again, err)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	long := "displayName eq '" + strings.Repeat("x", MaxFilterLen) + "'"
	deep := strings.Repeat("(", MaxFilterDepth+1) + "a eq 'b'" + strings.Repeat(")", MaxFilterDepth+1)
	okDeep := strings.Repeat("(", MaxFilterDepth) + "a eq 'b'" + strings.Repeat(")", MaxFilterDepth)
	many := strings.TrimSuffix(strings.Repeat("a eq 'b' or ", MaxFilterTerms+1), " or ")
	okMany := strings.TrimSuffix(strings.Repeat("a eq 'b' or ", MaxFilterTerms), " or ")
	in16 := "a in (" + strings.TrimSuffix(strings.Repeat("'x',", MaxInValues+1), ",") + ")"
	in15 := "a in (" + strings.TrimSuffix(strings.Repeat("'x',", MaxInValues), ",") + ")"
	for _, ok := range []string{okDeep, okMany, in15} {
		if _, err := ParseFilter(ok); err != nil {
			t.Errorf("ParseFilter(%.40q…): %v", ok, err)
		}
	}
	tests := []struct{ in, want string }{
		{"", "the filter is empty"},
		{"   ", "the filter is empty"},
		{"\xff", "not valid UTF-8"},
		{long, "the limit is 2048"},
		{deep, "at position 33: parentheses are nested more than 32 deep"},
		{many, "more than 64 conditions"},
		{in16, "'in' accepts at most 15 values"},
		{"not a eq 'b'", "at position 1: operator 'not' is not supported"},
		{"NOT(a eq 'b')", "operator 'NOT' is not supported"},
		{"a eq 'b' and not c eq 'd'", "at position 14: operator 'not' is not supported"},
		{"displayName gt 'x'", "at position 13: operator 'gt' is not supported"},
		{"n lt 5", "operator 'lt' is not supported"},
		{"n ge 5", "operator 'ge' is not supported"},
		{"n le 5", "operator 'le' is not supported"},
		{"n eq 1 add 2", "operator 'add' is not supported"},
		{"(n eq 1 mul 2)", "operator 'mul' is not supported"},
		{"flags has 'x'", "operator 'has' is not supported"},
		{"endswith(displayName,'x')", "at position 1: function 'endswith' is not supported"},
		{"contains(displayName,'x')", "function 'contains' is not supported"},
		{"tolower(displayName) eq 'x'", "function 'tolower' is not supported"},
		{"a/b/contains(x)", "function 'a/b/contains' is not supported"},
		{"tags/all(x:x eq 'y')", "lambda operator 'all' is not supported"},
		{"tags/any(x:x ne 'y')", "only the form collection/any(x:x eq 'value') is supported"},
		{"tags/any(x:startswith(x,'y'))", "only the form"},
		{"tags/any(x:y eq 'z')", "only the form"},
		{"tags/any(x:x eq 1)", "only the form"},
		{"tags/any()", "only the form"},
		{"tags/any(x:x eq 'y'", "expected ')' to close the '(' at position 9"},
		{"startswith(displayName)", "takes two arguments"},
		{"startswith('x',displayName)", "first argument of startswith must be a property name"},
		{"startswith(displayName,5)", "second argument of startswith must be a string literal"},
		{"startswith(displayName,'a','b')", "expected ')' to close startswith"},
		{"startswith(displayName,'a') eq true", "at position 29: unexpected 'eq'; expected 'and', 'or' or the end of the filter"},
		{"servicePrincipalType eq ManagedIdentity", "'ManagedIdentity' is not a literal"},
		{"n eq 1.5", "'1.5' is not a supported literal"},
		{"n eq 99999999999999999999", "integer '99999999999999999999' is out of range"},
		{"d eq 2021-02-15T16:14:59Z", "is not a supported literal"},
		{"displayName eq \"x\"", "is not a supported literal"},
		{"displayName eq 'x", "at position 16: unterminated string literal"},
		{"displayName eq 'x''", "unterminated string literal"},
		{"displayName eq", "at position 15: unexpected end of filter; expected a literal after 'eq'"},
		{"displayName", "expected an operator after 'displayName'"},
		{"displayName 'x'", "unexpected string literal; expected 'eq', 'ne' or 'in' after 'displayName'"},
		{"displayName eq'x'", "at position 15: expected a space after 'eq'"},
		{"a eq 'x'and b eq 'y'", "at position 9: expected a space before 'and'"},
		{"(a eq 'x')or(b eq 'y')", "expected a space before 'or'"},
		{"a eq 'x' and", "unexpected end of filter; expected a condition"},
		{"a eq 'x' or or b eq 'y'", "unexpected 'b'; expected 'eq', 'ne' or 'in' after 'or'"}, // a property may be called or,
		{"and(a eq 'b')", "unexpected 'and'; expected a condition"},
		{"'x' eq displayName", "at position 1: unexpected string literal; expected a condition"},
		{"true eq accountEnabled", "a condition must start with a property name, not 'true'"},
		{"42 eq n", "a condition must start with a property name"},
		{"a= eq 'x'", "'a=' is not a valid property name"},
		{"a//b eq 'x'", "'a//b' is not a valid property name"},
		{"a/ eq 'x'", "'a/' is not a valid property name"},
		{"1a eq 'x'", "'1a' is not a valid property name"},
		{"a eq 'x' )", "unexpected ')'"},
		{"(a eq 'x'", "expected 'and', 'or' or ')' to close the '(' at position 1"},
		{"()", "unexpected ')'; expected a condition"},
		{"a in ()", "expected a literal after 'in'"},
		{"a in 'x'", "expected '(' after 'in'"},
		{"a in ('x',)", "expected a literal after 'in'"},
		{"a in ('x' 'y')", "expected ',' or ')' in the list of 'in'"},
		{"a eq b", "'b' is not a literal; comparing two properties is not supported"},
		{"a eq 'x' b", "unexpected 'b'"},
		{", a eq 'x'", "unexpected ','"},
		{"displayName eq 'é' and x gt 1", "at position 26: operator 'gt'"}, // positions count characters
	}
	for _, tt := range tests {
		_, err := ParseFilter(tt.in)
		if err == nil {
			t.Errorf("ParseFilter(%.60q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseFilter(%.60q): kind %v, want invalid", tt.in, errs.KindOf(err))
		}
		if msg := errs.Message(err); !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "Invalid filter clause") {
			t.Errorf("ParseFilter(%.60q) = %q, want it to contain %q", tt.in, msg, tt.want)
		}
	}
}

func TestFields(t *testing.T) {
	e, err := ParseFilter("appId eq 'a' or (displayName eq 'b' and startswith(appId,'c')) or tags/any(x:x eq 'd') or n in (1)")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Fields(), []string{"appId", "displayName", "tags", "n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
	if got := (*Expr)(nil).Fields(); got != nil {
		t.Errorf("nil.Fields() = %q", got)
	}
}

func BenchmarkParseFilter(b *testing.B) {
	const f = "appId eq '" + graphAppID + "'"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFilter(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseQuery is the baseline for BenchmarkParseFilter's share of a request: the whole
// query of a typical lookup, $filter included.
func BenchmarkParseQuery(b *testing.B) {
	q := map[string][]string{"$filter": {"appId eq '" + graphAppID + "'"}, "$select": {"id,appRoles"}, "$top": {"10"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseQuery(q, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
