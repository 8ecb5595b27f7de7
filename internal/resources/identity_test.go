package resources

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
)

const (
	testSub = "/subscriptions/5d000000-0000-4000-8000-000000000001"
	uamiA   = testSub + "/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a"
	uamiB   = testSub + "/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in, typ string
		users   []string // key, "-" prefixed when removed
		code    string
	}{
		{in: ``},
		{in: `null`},
		{in: `{"type":"None"}`, typ: IdentityNone},
		{in: `{"type":"systemassigned","principalId":"x","tenantId":"y"}`, typ: IdentitySystem},
		{in: `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"` + uamiA + `":{}}}`, typ: IdentityBoth, users: []string{strings.ToLower(uamiA)}},
		{in: `{"type":"SYSTEMASSIGNED,USERASSIGNED","userAssignedIdentities":{"` + strings.ToUpper(uamiB) + `":null,"` + uamiA + `":{"principalId":"p","clientId":"c"}}}`,
			typ: IdentityBoth, users: []string{strings.ToLower(uamiA), "-" + strings.ToLower(uamiB)}},
		{in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":{}}}`, typ: IdentityUser, users: []string{strings.ToLower(uamiA)}},
		{in: `{"type":"Both"}`, code: CodeInvalidIdentity},
		{in: `{"type":"System Assigned"}`, code: CodeInvalidIdentity},
		{in: `{"type":"SystemAssigned,  UserAssigned"}`, code: CodeInvalidIdentity},
		{in: `{"type":"SystemAssigned , UserAssigned"}`, code: CodeInvalidIdentity},
		{in: `{}`, code: CodeInvalidIdentity},
		{in: `{"type":1}`, code: CodeInvalidIdentity},
		{in: `{"type":"None","extra":1}`, code: CodeInvalidIdentity},
		{in: `[]`, code: CodeInvalidIdentity},
		{in: `{"type":"UserAssigned","userAssignedIdentities":{"/subscriptions/x":{}}}`, code: CodeInvalidIdentity},
		{in: `{"type":"UserAssigned","userAssignedIdentities":{"` + testSub + `/resourceGroups/g/providers/Microsoft.Web/sites/a":{}}}`, code: CodeInvalidIdentity},
		{in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":{},"` + strings.ToUpper(uamiA) + `":{}}}`, code: CodeInvalidIdentity},
		{in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":{"x":1}}}`, code: CodeInvalidIdentity},
		{in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":[]}}`, code: CodeInvalidIdentity},
		{in: `{"type":"None"} {}`, code: CodeInvalidIdentity},
	} {
		in, err := ParseIdentity([]byte(tc.in))
		if tc.code != "" {
			if errs.KindOf(err) != errs.Invalid || errs.CodeOf(err) != tc.code {
				t.Errorf("ParseIdentity(%s) = %+v, %v; want %s", tc.in, in, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseIdentity(%s): %v", tc.in, err)
			continue
		}
		if tc.typ == "" {
			if in != nil {
				t.Errorf("ParseIdentity(%s) = %+v, want nil", tc.in, in)
			}
			continue
		}
		var users []string
		for _, u := range in.UserAssigned {
			k := u.ID.Key()
			if u.Remove {
				k = "-" + k
			}
			users = append(users, k)
		}
		if in.Type != tc.typ || !slices.Equal(users, tc.users) {
			t.Errorf("ParseIdentity(%s) = %s %v, want %s %v", tc.in, in.Type, users, tc.typ, tc.users)
		}
	}
}

// FuzzParseIdentity: ParseIdentity never panics; what it accepts has a canonical type, distinct
// user-assigned identity ids of the right type, and parses again to the same thing from its
// canonical rendering.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		`{"type":"None"}`, `{"type":"SystemAssigned"}`, `{"type":"systemassigned,userassigned","userAssignedIdentities":{"` + uamiA + `":{}}}`,
		`{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":null,"` + uamiB + `":{"principalId":"p"}}}`,
		`null`, `{"type":"x"}`, `{"userAssignedIdentities":{"a":{}}}`, `{"type":"UserAssigned","userAssignedIdentities":{"/subscriptions/x/resourceGroups/g":{}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := ParseIdentity(raw)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid || errs.CodeOf(err) != CodeInvalidIdentity {
				t.Fatalf("error %v is not an InvalidIdentity", err)
			}
			return
		}
		if in == nil {
			return
		}
		if _, ok := identityTypes[strings.ToLower(strings.ReplaceAll(in.Type, " ", ""))]; !ok || !slices.Contains([]string{IdentityNone, IdentitySystem, IdentityUser, IdentityBoth}, in.Type) {
			t.Fatalf("type %q is not canonical", in.Type)
		}
		users := map[string]any{}
		for i, u := range in.UserAssigned {
			if !strings.EqualFold(u.ID.ResourceType(), TypeUserAssigned) || u.ID.Kind() != arm.KindResource {
				t.Fatalf("entry %s is not a user-assigned identity", u.ID)
			}
			if i > 0 && in.UserAssigned[i-1].ID.Key() >= u.ID.Key() {
				t.Fatalf("entries not sorted and distinct: %v", in.UserAssigned)
			}
			var v any = map[string]any{}
			if u.Remove {
				v = nil
			}
			users[u.ID.String()] = v
		}
		again, err := ParseIdentity(mustJSON(map[string]any{"type": in.Type, "userAssignedIdentities": users}))
		if err != nil || again.Type != in.Type || len(again.UserAssigned) != len(in.UserAssigned) {
			t.Fatalf("canonical form does not parse back: %+v, %v", again, err)
		}
		for i := range again.UserAssigned {
			if !again.UserAssigned[i].ID.Equal(in.UserAssigned[i].ID) || again.UserAssigned[i].Remove != in.UserAssigned[i].Remove {
				t.Fatalf("entry %d: %+v, want %+v", i, again.UserAssigned[i], in.UserAssigned[i])
			}
		}
	})
}

func ids(s ...string) []arm.ID {
	out := make([]arm.ID, len(s))
	for i, x := range s {
		out[i] = arm.MustParse(x)
	}
	return out
}

func TestApplyIdentity(t *testing.T) {
	site, machine, vault := TypeOf(TypeSite), TypeOf(TypeMachine), TypeOf(TypeVault)
	parse := func(s string) *IdentityInput {
		in, err := ParseIdentity([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	withA := identityState{System: true, User: ids(uamiA)}
	for _, tc := range []struct {
		name  string
		t     *Type
		cur   identityState
		in    string
		patch bool
		want  identityState
		bad   bool
	}{
		{name: "put none", t: site, cur: withA, in: ``, want: identityState{}},
		{name: "patch absent keeps", t: site, cur: withA, in: ``, patch: true, want: withA},
		{name: "put system", t: site, in: `{"type":"SystemAssigned"}`, want: identityState{System: true}},
		{name: "put user replaces", t: site, cur: withA, in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiB + `":{}}}`, want: identityState{User: ids(uamiB)}},
		{name: "patch user adds", t: site, cur: withA, in: `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"` + uamiB + `":{}}}`, patch: true,
			want: identityState{System: true, User: ids(uamiA, uamiB)}},
		{name: "patch null removes", t: site, cur: identityState{User: ids(uamiA, uamiB)}, in: `{"type":"UserAssigned","userAssignedIdentities":{"` + strings.ToUpper(uamiA) + `":null}}`, patch: true,
			want: identityState{User: ids(uamiB)}},
		{name: "patch to system drops users", t: site, cur: withA, in: `{"type":"SystemAssigned"}`, patch: true, want: identityState{System: true}},
		{name: "patch removing the last", t: site, cur: identityState{User: ids(uamiA)}, in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":null}}`, patch: true, bad: true},
		{name: "user without identities", t: site, in: `{"type":"UserAssigned"}`, bad: true},
		{name: "system with identities", t: site, in: `{"type":"SystemAssigned","userAssignedIdentities":{"` + uamiA + `":{}}}`, bad: true},
		{name: "machine system", t: machine, in: `{"type":"SystemAssigned"}`, want: identityState{System: true}},
		{name: "machine user", t: machine, in: `{"type":"UserAssigned","userAssignedIdentities":{"` + uamiA + `":{}}}`, bad: true},
		{name: "vault none", t: vault, in: `{"type":"None"}`, want: identityState{}},
		{name: "vault system", t: vault, in: `{"type":"SystemAssigned"}`, bad: true},
	} {
		got, err := applyIdentity(tc.t, tc.cur, parse(tc.in), tc.patch)
		if tc.bad {
			if errs.CodeOf(err) != CodeInvalidIdentity {
				t.Errorf("%s: %+v, %v; want InvalidIdentity", tc.name, got, err)
			}
			continue
		}
		if err != nil || got.System != tc.want.System || !slices.EqualFunc(got.User, tc.want.User, arm.ID.Equal) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestUpdateAccessPolicies(t *testing.T) {
	p := func(obj string, secrets ...string) AccessPolicy {
		return AccessPolicy{TenantID: "t", ObjectID: obj, Permissions: Permissions{Secrets: secrets}}
	}
	start := []AccessPolicy{p("a", "get"), p("b", "list")}
	for _, tc := range []struct {
		kind  string
		given []AccessPolicy
		want  []AccessPolicy
	}{
		{"add", []AccessPolicy{p("a", "list", "get"), p("c", "set")}, []AccessPolicy{p("a", "get", "list"), p("b", "list"), p("c", "set")}},
		{"replace", []AccessPolicy{p("b", "set"), p("c", "get")}, []AccessPolicy{p("a", "get"), p("b", "set"), p("c", "get")}},
		{"remove", []AccessPolicy{p("a", "get"), p("b", "set"), p("z")}, []AccessPolicy{p("b", "list")}},
		{"remove", []AccessPolicy{p("b")}, []AccessPolicy{p("a", "get")}},
	} {
		got, err := updateAccessPolicies(start, tc.kind, tc.given)
		if err != nil || !slices.EqualFunc(got, tc.want, func(x, y AccessPolicy) bool {
			return x.ObjectID == y.ObjectID && slices.Equal(x.Permissions.Secrets, y.Permissions.Secrets)
		}) {
			t.Errorf("%s %+v: %+v, %v; want %+v", tc.kind, tc.given, got, err, tc.want)
		}
	}
	if start[0].Permissions.Secrets[0] != "get" || len(start[0].Permissions.Secrets) != 1 || len(start) != 2 {
		t.Fatalf("updateAccessPolicies changed its input: %+v", start)
	}
	many := make([]AccessPolicy, MaxAccessPolicies+1)
	for i := range many {
		many[i] = p(string(rune('a'+i%26))+strings.Repeat("x", i/26), "get")
	}
	if _, err := updateAccessPolicies(nil, "add", many); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("%d policies: %v", len(many), err)
	}
}

func TestVaultURI(t *testing.T) {
	for _, tc := range []struct{ domain, public, want string }{
		{"vault.localhost", "https://localhost:8443", "https://kv.vault.localhost:8443/"},
		{"vault.example.com:9443", "https://localhost:8443", "https://kv.vault.example.com:9443/"},
		{"vault.example.com", "https://example.com", "https://kv.vault.example.com/"},
		{"vault.example.com", "https://example.com:443", "https://kv.vault.example.com/"},
	} {
		if got := VaultURI("KV", tc.domain, tc.public); got != tc.want {
			t.Errorf("VaultURI(%s, %s) = %s, want %s", tc.domain, tc.public, got, tc.want)
		}
	}
}

func TestParseRoute(t *testing.T) {
	for path, want := range map[string]routeKind{
		"/subscriptions":                                                       routeSubscriptions,
		"/SUBSCRIPTIONS/s":                                                     routeSubscription,
		"/subscriptions/s/resourcegroups":                                      routeGroups,
		"/subscriptions/s/resourceGroups/g":                                    routeGroup,
		"/subscriptions/s/resources":                                           routeAll,
		"/subscriptions/s/resourceGroups/g/resources":                          routeAll,
		"/subscriptions/s/providers/Microsoft.Web/sites":                       routeType,
		"/subscriptions/s/resourceGroups/g/providers/a/b":                      routeType,
		"/subscriptions/s/resourceGroups/g/providers/a/b/c":                    routeResource,
		"/subscriptions/s/resourceGroups/g/providers/a/b/c/":                   routeResource,
		"/subscriptions/s/resourceGroups/g/providers/a/b/c/accessPolicies/add": routePolicies,
	} {
		rt, ok := parseRoute(path)
		if !ok || rt.kind != want {
			t.Errorf("parseRoute(%s) = %+v %v, want kind %d", path, rt, ok, want)
		}
	}
	for _, path := range []string{"/", "/providers/x", "/subscriptions//x", "/subscriptions/s/providers/a/b/c", "/subscriptions/s/x",
		"/subscriptions/s/resourceGroups/g/providers/a/b/c/d", "/subscriptions/s/resourceGroups/g/providers/a"} {
		if rt, ok := parseRoute(path); ok {
			t.Errorf("parseRoute(%s) = %+v, want no route", path, rt)
		}
	}
}

func TestMergePatch(t *testing.T) {
	target := map[string]json.RawMessage{"a": json.RawMessage(`1`), "o": json.RawMessage(`{"x":1,"y":2}`), "s": json.RawMessage(`"v"`)}
	patch := map[string]json.RawMessage{"a": json.RawMessage(`null`), "o": json.RawMessage(`{"y":null,"z":3}`), "n": json.RawMessage(`{"q":null,"r":1}`)}
	got := string(mustJSON(mergePatch(target, patch)))
	if want := `{"n":{"r":1},"o":{"x":1,"z":3},"s":"v"}`; got != want {
		t.Fatalf("mergePatch = %s, want %s", got, want)
	}
}

func TestCheckName(t *testing.T) {
	for typ, cases := range map[string]map[string]bool{
		TypeSite:         {"a": false, "ab": true, "a-b": true, "-ab": false, "ab-": false, strings.Repeat("a", 60): true, strings.Repeat("a", 61): false, "a_b": false},
		TypeUserAssigned: {"ab": false, "abc": true, "a_b-c": true, "_ab": false},
		TypeMachine:      {"n": true, "node.local": true, "node.": false, "Node_1": true},
		TypeVault:        {"abc": true, "1bc": false, "a-b-c": true, "a--b": false, "abc-": false, strings.Repeat("a", 24): true, strings.Repeat("a", 25): false},
	} {
		for name, ok := range cases {
			if err := TypeOf(typ).checkName(name); (err == nil) != ok {
				t.Errorf("%s name %q: %v, want ok %v", typ, name, err, ok)
			}
		}
	}
}
