package rbac

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatchAction(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.Web/sites/write", true},
		{"*", "", true},
		{"*/read", "Microsoft.Web/sites/read", true},
		{"*/read", "Microsoft.Web/sites/config/list/Action", false},
		{"*/read", "Microsoft.Web/sites/READ", true},
		{"*/read", "read", false},
		{"*/read", "Microsoft.Web/sites/readMetadata", false},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action", true},
		{"Microsoft.KeyVault/vaults/*", "microsoft.keyvault/VAULTS/read", true},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaultsX/read", false},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults", false},
		{"Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/secrets/setSecret/action", true},
		{"Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/keys/read", false},
		// A whole-segment star may stand for no segment (Managed Identity Operator, Key Vault Reader).
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/x/y/assign/action", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/write", false},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentitiesassign/action", false},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/write", false},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/read", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/write", true},
		{"Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/delete", true},
		{"Microsoft.Authorization/*", "Microsoft.Authorizations/roleAssignments/delete", false},
		{"Microsoft.Web/sites/read", "microsoft.web/sites/read", true},
		{"Microsoft.Web/sites/read", "Microsoft.Web/sites/read/x", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a/*/*/b", "a/b", true},
		{"a/*/*/b", "a/x/y/z/b", true},
		{"/*/", "/", true},
		{"/*/", "//", true},
		{"/*/", "/x", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tc := range tests {
		if got := MatchAction(tc.pattern, tc.action); got != tc.want {
			t.Errorf("MatchAction(%q, %q) = %v, want %v", tc.pattern, tc.action, got, tc.want)
		}
		if got := oracle(tc.pattern).MatchString(strings.ToLower(tc.action)); got != tc.want {
			t.Errorf("the test oracle disagrees on (%q, %q): %v", tc.pattern, tc.action, got)
		}
	}
}

func TestPermissionAllows(t *testing.T) {
	p := Permission{
		Actions:        []string{"*"},
		NotActions:     []string{"Microsoft.Authorization/*/Write"},
		DataActions:    []string{"Microsoft.KeyVault/vaults/secrets/*"},
		NotDataActions: []string{"Microsoft.KeyVault/vaults/secrets/purge/action"},
	}
	tests := []struct {
		action string
		data   bool
		want   bool
	}{
		{"Microsoft.Web/sites/write", false, true},
		{"Microsoft.Authorization/roleAssignments/write", false, false},
		{"Microsoft.Authorization/roleAssignments/read", false, true},
		{"Microsoft.KeyVault/vaults/secrets/getSecret/action", false, true}, // "*" on its own plane
		{"Microsoft.KeyVault/vaults/secrets/getSecret/action", true, true},
		{"Microsoft.KeyVault/vaults/secrets/purge/action", true, false},
		{"Microsoft.Web/sites/write", true, false}, // actions never grant data actions
	}
	for _, tc := range tests {
		if got := p.Allows(tc.action, tc.data); got != tc.want {
			t.Errorf("Allows(%q, data=%v) = %v, want %v", tc.action, tc.data, got, tc.want)
		}
	}
	owner, _ := RoleByName("owner")
	if owner.Allows("Microsoft.KeyVault/vaults/secrets/getSecret/action", true) {
		t.Error("Owner grants a data action")
	}
}

// oracle translates a pattern into a regular expression with the same meaning, written
// independently of the matcher: '*' is ".*", and a '*' between two '/' is "(?:.*/)?" together with
// the '/' after it.
func oracle(p string) *regexp.Regexp {
	p = strings.ToLower(p)
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '*' && i > 0 && p[i-1] == '/' && i+1 < len(p) && p[i+1] == '/':
			b.WriteString(`(?:.*/)?`)
			i++
		case p[i] == '*':
			b.WriteString(`.*`)
		default:
			j := i
			for j < len(p) && p[j] != '*' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(p[i:j]))
			i = j - 1
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// FuzzMatch: MatchAction never panics and agrees with the regular-expression oracle.
func FuzzMatch(f *testing.F) {
	for _, b := range builtins {
		for _, p := range b.Permissions {
			for _, a := range append(append(p.Actions, p.NotActions...), append(p.DataActions, p.NotDataActions...)...) {
				f.Add(a, "Microsoft.KeyVault/vaults/secrets/getSecret/action")
				f.Add(a, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
			}
		}
	}
	f.Add("a/*/*/b", "a/x//b")
	f.Add("**/*", "///")
	f.Fuzz(func(t *testing.T, pattern, action string) {
		if len(pattern) > 200 || len(action) > 200 {
			return
		}
		got := MatchAction(pattern, action)
		want := oracle(pattern).MatchString(strings.ToLower(action))
		if got != want {
			t.Fatalf("MatchAction(%q, %q) = %v, the oracle says %v", pattern, action, got, want)
		}
	})
}
