package odata

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

func TestParseQuery(t *testing.T) {
	token := EncodeSkipToken("last-id")
	tests := []struct {
		raw  string // a raw query string, as a client sends it
		opts Options
		want Query
	}{
		{"", Options{}, Query{Top: 100}},
		{"", Options{MaxTop: 50, DefaultTop: 20}, Query{Top: 20}},
		{"", Options{MaxTop: 50, DefaultTop: 80}, Query{Top: 50}},
		// msgraph-sdk-go sends $select unencoded and comma-joined
		{"$select=id,appRoles", Options{}, Query{Select: []string{"id", "appRoles"}, Top: 100}},
		{"$select=%20id%20,%20appRoles%20,id", Options{}, Query{Select: []string{"id", "appRoles"}, Top: 100}},
		{"select=id&top=5", Options{}, Query{Select: []string{"id"}, Top: 5}},
		{"$SELECT=id&$Top=5", Options{}, Query{Select: []string{"id"}, Top: 5}},
		{"$select=id,@odata.type,info.x_1", Options{}, Query{Select: []string{"id", "@odata.type", "info.x_1"}, Top: 100}},
		{"$filter=appId%20eq%20%27" + graphAppID + "%27", Options{}, Query{Filter: leaf(OpEq, "appId", str(graphAppID)), Top: 100}},
		{"$filter=appId+eq+'" + graphAppID + "'", Options{}, Query{Filter: leaf(OpEq, "appId", str(graphAppID)), Top: 100}},
		{"filter=servicePrincipalType eq 'ManagedIdentity'", Options{}, Query{Filter: leaf(OpEq, "servicePrincipalType", str("ManagedIdentity")), Top: 100}},
		{"$top=1", Options{}, Query{Top: 1}},
		{"$top=999", Options{}, Query{Top: 999}},
		{"$top=50", Options{MaxTop: 50}, Query{Top: 50}},
		{"$count=true", Options{}, Query{Count: true, Top: 100}},
		{"$count=TRUE", Options{}, Query{Count: true, Top: 100}},
		{"$count=false", Options{}, Query{Top: 100}},
		{"$skiptoken=" + token, Options{}, Query{SkipToken: token, Top: 100}},
		// parameters without '$' that are no OData option are custom options, ignored
		{"api-version=1.6&foo=bar&foo=baz", Options{}, Query{Top: 100}},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.raw)
		if err != nil {
			t.Fatalf("url.ParseQuery(%q): %v", tt.raw, err)
		}
		got, err := ParseQuery(q, tt.opts)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"$orderby=displayName", "Query option '$orderby' is not supported."},
		{"$expand=owners", "Query option '$expand' is not supported."},
		{"$search=%22displayName:x%22", "Query option '$search' is not supported."},
		{"$skip=10", "Query option '$skip' is not supported."},
		{"$levels=2", "Query option '$levels' is not supported."},
		{"$=1", "Query option '$' is not supported."},
		{"orderby=displayName", "Query option 'orderby' is not supported."},
		{"$select=id&$select=appId", "Query option '$select' was specified more than once."},
		{"$select=id&select=appId", "was specified more than once."},
		{"$top=1&$TOP=2", "was specified more than once."},
		{"$select=", "Query option '$select' has an empty value."},
		{"$filter=", "Query option '$filter' has an empty value."},
		{"$select=id,,appId", "Query option '$select' has an empty property name at item 2."},
		{"$select=id,", "empty property name at item 2"},
		{"$select=*", "Query option '$select' has an invalid property name '*' at item 1."},
		{"$select=id,app-Id", "invalid property name 'app-Id' at item 2"},
		{"$select=app%20Id", "invalid property name 'app Id'"},
		{"$select=appRoles/id", "invalid property name 'appRoles/id'"},
		{"$select=" + strings.Repeat("a", 257), "invalid property name"},
		{"$top=0", "Invalid page size specified: '0'. Must be between 1 and 999 inclusive."},
		{"$top=1000", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."},
		{"$top=51", "Must be between 1 and 50 inclusive."},
		{"$top=-1", "Invalid page size specified: '-1'."},
		{"$top=%2B5", "Invalid page size specified: '+5'."},
		{"$top=%205", "Invalid page size specified: ' 5'."},
		{"$top=1e3", "Invalid page size specified: '1e3'."},
		{"$top=99999999999999999999999", "Invalid page size specified"},
		{"$count=yes", "Invalid value 'yes' for query option '$count'; it must be true or false."},
		{"$skiptoken=abc", "Invalid $skiptoken"},
		{"$filter=displayName gt 'x'", "Invalid filter clause at position 13: operator 'gt' is not supported."},
		// errors do not depend on map order: the first key in sorted order is reported
		{"$top=0&$orderby=x", "Query option '$orderby' is not supported."},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.raw)
		if err != nil {
			t.Fatalf("url.ParseQuery(%q): %v", tt.raw, err)
		}
		opts := Options{}
		if strings.Contains(tt.want, " 50 ") {
			opts.MaxTop = 50
		}
		_, err = ParseQuery(q, opts)
		if err == nil {
			t.Errorf("ParseQuery(%.60q) succeeded, want %q", tt.raw, tt.want)
			continue
		}
		if errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Message(err), tt.want) {
			t.Errorf("ParseQuery(%.60q) = %q (%v), want invalid containing %q", tt.raw, errs.Message(err), errs.KindOf(err), tt.want)
		}
	}
}

var spKnown = []string{"id", "appId", "displayName", "appRoles", "servicePrincipalNames"}

func TestValidateSelect(t *testing.T) {
	const typ = "microsoft.graph.servicePrincipal"
	for _, ok := range [][]string{nil, {"id", "appRoles"}, {"ID", "APPROLES"}, {"@odata.type"}} {
		if err := ValidateSelect(ok, spKnown, typ); err != nil {
			t.Errorf("ValidateSelect(%q): %v", ok, err)
		}
	}
	err := ValidateSelect([]string{"id", "x"}, spKnown, typ)
	want := "Could not find a property named 'x' on type 'microsoft.graph.servicePrincipal'."
	if errs.KindOf(err) != errs.Invalid || errs.Message(err) != want {
		t.Errorf("ValidateSelect(x) = %v, want %q", err, want)
	}
	if err := ValidateSelect([]string{"@odata.context.x", "@foo"}, spKnown, typ); err == nil || !strings.Contains(err.Error(), "'@foo'") {
		t.Errorf("ValidateSelect(@foo) = %v", err)
	}
}

func TestProject(t *testing.T) {
	obj := map[string]any{
		"@odata.context":        "ctx",
		"@odata.type":           "#microsoft.graph.servicePrincipal",
		"id":                    "i",
		"appId":                 "a",
		"appRoles":              []any{},
		"appRoles@odata.type":   "#Collection(microsoft.graph.appRole)",
		"displayName":           "d",
		"displayName@odata.foo": "x",
	}
	got := Project(obj, []string{"ID", "appRoles", "missing"})
	want := map[string]any{
		"@odata.context":      "ctx",
		"@odata.type":         "#microsoft.graph.servicePrincipal",
		"id":                  "i",
		"appRoles":            []any{},
		"appRoles@odata.type": "#Collection(microsoft.graph.appRole)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Project = %v, want %v", got, want)
	}
	if _, ok := obj["appId"]; !ok || len(obj) != 8 {
		t.Errorf("Project changed its input: %v", obj)
	}
	if got := Project(obj, nil); !reflect.DeepEqual(got, obj) {
		t.Errorf("Project(nil) = %v, want the object", got)
	}
}

func TestContextSelect(t *testing.T) {
	if got := ContextSelect([]string{"id", "appRoles"}); got != "(id,appRoles)" {
		t.Errorf("ContextSelect = %q", got)
	}
	if got := ContextSelect(nil); got != "" {
		t.Errorf("ContextSelect(nil) = %q", got)
	}
}

func padded(tok string) string {
	b, _ := base64.RawURLEncoding.DecodeString(tok)
	return base64.URLEncoding.EncodeToString(b)
}

func TestSkipToken(t *testing.T) {
	for _, key := range []string{"", "a", "-WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc", graphAppID, "ключ/with'quote", strings.Repeat("k", maxSkipTokenKey)} {
		tok := EncodeSkipToken(key)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("EncodeSkipToken(%q) = %q is not URL-safe", key, tok)
		}
		got, err := DecodeSkipToken(tok)
		if err != nil || got != key {
			t.Errorf("DecodeSkipToken(EncodeSkipToken(%.20q)) = %.20q, %v", key, got, err)
		}
	}
	good := EncodeSkipToken("last-id")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	reencode := func(f func(b []byte) []byte) string {
		b := append([]byte(nil), raw...)
		return base64.RawURLEncoding.EncodeToString(f(b))
	}
	bad := []string{
		"",
		"abc",
		"!!!!",
		good + "=",
		good[:len(good)-1],
		good[:4] + "\n" + good[4:],    // the decoder would skip the newline
		padded(EncodeSkipToken("ab")), // 7 bytes: the padded form differs
		base64.StdEncoding.EncodeToString([]byte{1, 0xfb, 0xff, 0xfe, 0, 0, 0, 0}),
		reencode(func(b []byte) []byte { b[0] = 2; return b }),             // unknown version
		reencode(func(b []byte) []byte { b[1] ^= 1; return b }),            // key changed, checksum not
		reencode(func(b []byte) []byte { return b[:4] }),                   // too short
		EncodeSkipToken("\xff"),                                            // not UTF-8
		EncodeSkipToken(strings.Repeat("k", maxSkipTokenKey+1)),            // too long
		strings.Repeat("A", 4000),                                          // long garbage
		reencode(func(b []byte) []byte { return append(b[:len(b)-1], 0) }), // checksum changed
	}
	for _, s := range bad {
		_, err := DecodeSkipToken(s)
		if errs.KindOf(err) != errs.Invalid || errs.Message(err) != "Invalid $skiptoken" {
			t.Errorf("DecodeSkipToken(%.30q) = %v, want Invalid $skiptoken", s, err)
		}
	}
}
