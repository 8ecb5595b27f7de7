package odata

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

const (
	spID         = "5b1c8e0a-3d7e-4c4b-9f00-3f1e2d3c4b5a"
	assignmentID = "-WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc" // the shape Graph gives appRoleAssignment ids
)

func seg(name string) Segment        { return Segment{Name: name} }
func keyed(name, key string) Segment { return Segment{Name: name, Key: key} }
func alt(name, altName, v string) Segment {
	return Segment{Name: name, AltKeyName: altName, AltKeyValue: v}
}
func path(ref bool, segs ...Segment) Path { return Path{Segments: segs, Ref: ref} }

func TestParsePath(t *testing.T) {
	tests := []struct {
		in    string
		want  Path
		canon string // "" means the input is already canonical
	}{
		{"servicePrincipals", path(false, seg("servicePrincipals")), ""},
		{"servicePrincipals/" + spID, path(false, keyed("servicePrincipals", spID)), "servicePrincipals('" + spID + "')"},
		{"servicePrincipals('" + spID + "')", path(false, keyed("servicePrincipals", spID)), ""},
		{"servicePrincipals%28%27" + spID + "%27%29", path(false, keyed("servicePrincipals", spID)), "servicePrincipals('" + spID + "')"},
		// msgraph-sdk-go: {+baseurl}/servicePrincipals(appId='{appId}'){?%24expand,%24select}
		{"servicePrincipals(appId='" + graphAppID + "')", path(false, alt("servicePrincipals", "appId", graphAppID)), ""},
		{"servicePrincipals(appId=%27" + graphAppID + "%27)", path(false, alt("servicePrincipals", "appId", graphAppID)), "servicePrincipals(appId='" + graphAppID + "')"},
		{"servicePrincipals(appId='" + graphAppID + "')/appRoleAssignedTo", path(false, alt("servicePrincipals", "appId", graphAppID), seg("appRoleAssignedTo")), ""},
		// {+baseurl}/servicePrincipals/{servicePrincipal%2Did}/appRoleAssignedTo/{appRoleAssignment%2Did}
		{"servicePrincipals/" + spID + "/appRoleAssignedTo", path(false, keyed("servicePrincipals", spID), seg("appRoleAssignedTo")), "servicePrincipals('" + spID + "')/appRoleAssignedTo"},
		{"servicePrincipals/" + spID + "/appRoleAssignedTo/" + assignmentID, path(false, keyed("servicePrincipals", spID), keyed("appRoleAssignedTo", assignmentID)), "servicePrincipals('" + spID + "')/appRoleAssignedTo('" + assignmentID + "')"},
		{"servicePrincipals/" + spID + "/appRoleAssignments/" + assignmentID, path(false, keyed("servicePrincipals", spID), keyed("appRoleAssignments", assignmentID)), "servicePrincipals('" + spID + "')/appRoleAssignments('" + assignmentID + "')"},
		{"applications(appId='" + graphAppID + "')", path(false, alt("applications", "appId", graphAppID)), ""},
		{"applications/" + spID, path(false, keyed("applications", spID)), "applications('" + spID + "')"},
		// {+baseurl}/groups/{group%2Did}/members/$ref and /members/{directoryObject%2Did}/$ref
		{"groups/g1/members/$ref", path(true, keyed("groups", "g1"), seg("members")), "groups('g1')/members/$ref"},
		{"groups/g1/members/m1/$ref", path(true, keyed("groups", "g1"), keyed("members", "m1")), "groups('g1')/members('m1')/$ref"},
		{"groups/g1/members/m1/%24ref", path(true, keyed("groups", "g1"), keyed("members", "m1")), "groups('g1')/members('m1')/$ref"},
		{"roleManagement/directory/roleAssignments/ra1", path(false, seg("roleManagement"), seg("directory"), keyed("roleAssignments", "ra1")), "roleManagement/directory/roleAssignments('ra1')"},
		{"roleManagement/directory/roleAssignments", path(false, seg("roleManagement"), seg("directory"), seg("roleAssignments")), ""},
		{"directory/administrativeUnits/au/members/m/$ref", path(true, seg("directory"), keyed("administrativeUnits", "au"), keyed("members", "m")), "directory/administrativeUnits('au')/members('m')/$ref"},
		{"me/memberOf", path(false, seg("me"), seg("memberOf")), ""},
		{"servicePrincipals/microsoft.graph.getByIds", path(false, seg("servicePrincipals"), seg("microsoft.graph.getByIds")), ""},
		{"servicePrincipals/" + spID + "/microsoft.graph.addPassword", path(false, keyed("servicePrincipals", spID), seg("microsoft.graph.addPassword")), "servicePrincipals('" + spID + "')/microsoft.graph.addPassword"},
		// quotes: doubled inside a quoted key, raw or percent-encoded
		{"servicePrincipals(displayName='O''Brien')", path(false, alt("servicePrincipals", "displayName", "O'Brien")), "servicePrincipals(displayName='O%27%27Brien')"},
		{"servicePrincipals(displayName=%27O%27%27Brien%27)", path(false, alt("servicePrincipals", "displayName", "O'Brien")), "servicePrincipals(displayName='O%27%27Brien')"},
		{"servicePrincipals('a''')", path(false, keyed("servicePrincipals", "a'")), "servicePrincipals('a%27%27')"},
		{"applications(uniqueName='a%2Fb%2Fc%20(x),y=z')", path(false, alt("applications", "uniqueName", "a/b/c (x),y=z")), "applications(uniqueName='a%2Fb%2Fc%20%28x%29%2Cy=z')"},
		{"applications(uniqueName='a%252F')", path(false, alt("applications", "uniqueName", "a%2F")), "applications(uniqueName='a%252F')"},
		{"users/alice@contoso.com", path(false, keyed("users", "alice@contoso.com")), "users('alice@contoso.com')"},
		{"users/%C3%A9l%C3%A8ve", path(false, keyed("users", "élève")), "users('%C3%A9l%C3%A8ve')"},
		{"servicePrincipals/" + strings.Repeat("k", 256), path(false, keyed("servicePrincipals", strings.Repeat("k", 256))), "servicePrincipals('" + strings.Repeat("k", 256) + "')"},
	}
	for _, tt := range tests {
		got, err := ParsePath(tt.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePath(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.in
		}
		if s := got.String(); s != canon {
			t.Errorf("ParsePath(%q).String() = %q, want %q", tt.in, s, canon)
		}
		if again, err := ParsePath(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "the path is empty"},
		{strings.Repeat("a", 4097), "longer than 4096 bytes"},
		{strings.Repeat("a/", 32) + "a", "more than 32 segments"},
		{"/servicePrincipals", "segment 1: the segment is empty"},
		{"servicePrincipals/", "segment 2: the segment is empty"},
		{"servicePrincipals//appRoleAssignedTo", "segment 2: the segment is empty"},
		{"servicePrincipals/..", "segment 2 ('..'): relative segments are not allowed"},
		{"servicePrincipals/%2E%2E", "segment 2 ('..'): relative segments are not allowed"},
		{"./servicePrincipals", "relative segments"},
		{"servicePrincipals('..')", "relative segments"},
		{"servicePrincipals/%zz", "segment 2 ('%zz'): invalid percent-encoding"},
		{"servicePrincipals/%ff", "not valid UTF-8"},
		{"servicePrincipals/" + strings.Repeat("k", 257), "the key is longer than 256 characters"},
		{"servicePrincipals('" + strings.Repeat("é", 257) + "')", "the key is longer than 256 characters"},
		{"servicePrincipals(appId='" + strings.Repeat("k", 257) + "')", "the key is longer than 256 characters"},
		{"servicePrincipals('')", "the key is empty"},
		{"servicePrincipals(appId='')", "the key is empty"},
		{"servicePrincipals/a%00b", "the key holds a control character"},
		{"servicePrincipals('a%0Ab')", "the key holds a control character"},
		{"servicePrincipals/a%20b", "'a b' is not a valid key"},
		{"servicePrincipals/a'b'", "is not a valid key"},
		{"servicePrincipals/delta()", "'delta()' is not a valid key"},
		{"servicePrincipals/a%2Fb", "'a/b' is not a valid key"},
		{"applications(uniqueName='a/b')", "unterminated quoted key"}, // a '/' in a key must be sent as %2F
		{"servicePrincipals(" + spID + ")", "expected ('key') or (name='key') after 'servicePrincipals'"},
		{"servicePrincipals(appId=" + graphAppID + ")", "the value of 'appId' must be a quoted string"},
		{"servicePrincipals(appId='a',displayName='b')", "composite keys are not supported"},
		{"servicePrincipals('a'", "expected ('key') or (name='key')"},
		{"servicePrincipals('a')x", "expected ('key') or (name='key')"},
		{"servicePrincipals('a", "unterminated quoted key"},
		{"servicePrincipals(appId='a)", "unterminated quoted key"},
		{"servicePrincipals()", "function calls are not supported"},
		{"servicePrincipals(=)", "expected ('key') or (name='key')"},
		{"servicePrincipals(app-Id='a')", "expected ('key') or (name='key')"},
		{"service-principals", "segment 1 ('service-principals'): 'service-principals' is not a valid name"},
		{"servicePrincipals('a')/" + spID, "segment 2 ('" + spID + "'): '" + spID + "' is not a valid name"},
		{"(appId='a')", "'' is not a valid name"},
		{"servicePrincipals.", "is not a valid name"},
		{"$metadata", "'$metadata' is not supported"},
		{"servicePrincipals/$count", "'$count' is not supported"},
		{"groups/g/members/$ref/x", "$ref must be the last segment"},
		{"$ref", "$ref must be the last segment"},
		{"groups/$ref", "$ref must be the last segment"},
		{"groups('g')/$ref", "$ref must be the last segment"},
		{"roleManagement/directory/$ref", "$ref must be the last segment"},
	}
	for _, tt := range tests {
		_, err := ParsePath(tt.in)
		if err == nil {
			t.Errorf("ParsePath(%.60q) succeeded, want %q", tt.in, tt.want)
			continue
		}
		msg := errs.Message(err)
		if errs.KindOf(err) != errs.Invalid || !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "Invalid resource path: ") {
			t.Errorf("ParsePath(%.60q) = %q (%v), want invalid containing %q", tt.in, msg, errs.KindOf(err), tt.want)
		}
	}
}

func TestParsePathLongSegmentInError(t *testing.T) {
	_, err := ParsePath("x-" + strings.Repeat("y", 1000))
	if msg := errs.Message(err); len(msg) > 300 || !strings.Contains(msg, "…") {
		t.Errorf("the error quotes the whole segment: %q", msg)
	}
}
