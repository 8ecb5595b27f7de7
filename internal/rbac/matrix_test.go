package rbac_test

import (
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// The representative actions of the matrix.
type action struct {
	name string
	data bool
}

var (
	sitesRead      = action{"Microsoft.Web/sites/read", false}
	sitesWrite     = action{"Microsoft.Web/sites/write", false}
	assignWrite    = action{"Microsoft.Authorization/roleAssignments/write", false}
	identityAssign = action{"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", false}
	identityWrite  = action{"Microsoft.ManagedIdentity/userAssignedIdentities/write", false}
	vaultRead      = action{"Microsoft.KeyVault/vaults/read", false}
	getSecret      = action{"Microsoft.KeyVault/vaults/secrets/getSecret/action", true}
	setSecret      = action{"Microsoft.KeyVault/vaults/secrets/setSecret/action", true}
	allActions     = []action{sitesRead, sitesWrite, assignWrite, identityAssign, identityWrite, vaultRead, getSecret, setSecret}
)

// grants is what each built-in role allows among the representative actions, as Azure decides
// it from the role's published permissions.
var grants = map[string][]action{
	rbac.Owner:                      {sitesRead, sitesWrite, assignWrite, identityAssign, identityWrite, vaultRead},
	rbac.Contributor:                {sitesRead, sitesWrite, identityAssign, identityWrite, vaultRead},
	rbac.Reader:                     {sitesRead, vaultRead},
	rbac.UserAccessAdministrator:    {sitesRead, assignWrite, vaultRead},
	rbac.ManagedIdentityOperator:    {identityAssign},
	rbac.ManagedIdentityContributor: {identityWrite},
	rbac.KeyVaultAdministrator:      {vaultRead, getSecret, setSecret},
	rbac.KeyVaultSecretsOfficer:     {vaultRead, getSecret, setSecret},
	rbac.KeyVaultSecretsUser:        {getSecret},
	rbac.KeyVaultReader:             {vaultRead},
}

// TestMatrix: each built-in role, assigned at the subscription, at group A or at a vault in A,
// asked about each representative action at the subscription, group A, the vault and group B.
// An assignment applies at its scope and below it, never above or beside it.
func TestMatrix(t *testing.T) {
	e := newEnv(t)
	assignedAt := []string{sub, groupA, vaultInA}
	askedAt := []string{sub, groupA, vaultInA, groupB}
	if len(grants) != len(rbac.BuiltinRoles()) {
		t.Fatalf("the matrix covers %d roles, there are %d built-in", len(grants), len(rbac.BuiltinRoles()))
	}
	for _, role := range rbac.BuiltinRoles() {
		for _, at := range assignedAt {
			p := e.principal(t, tenantID)
			e.assign(t, p, role.ID, at)
			for _, asked := range askedAt {
				scope := arm.MustParse(asked)
				for _, a := range allActions {
					want := contains(grants[role.ID], a) && scope.IsWithin(arm.MustParse(at))
					got, err := e.svc.Allowed(ctx, tenantID, p, a.name, scope, a.data)
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Errorf("%s assigned at %s, %s (data %v) at %s: allowed %v, want %v",
							role.Name, short(at), a.name, a.data, short(asked), got, want)
					}
				}
			}
		}
	}
}

func contains(as []action, a action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func short(scope string) string { return strings.TrimPrefix(scope, sub) }

// TestAllowedRules: roles add up, scopes compare ignoring case, tenants and planes are apart,
// and a removed assignment denies the very next question.
func TestAllowedRules(t *testing.T) {
	e := newEnv(t)
	p := e.principal(t, tenantID)
	allowed := func(action string, scope string, data bool) bool {
		t.Helper()
		ok, err := e.svc.Allowed(ctx, tenantID, p, action, arm.MustParse(scope), data)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if allowed(sitesRead.name, sub, false) {
		t.Error("a principal without assignments may read")
	}
	// Contributor's notActions do not stop another role from granting the action.
	e.assign(t, p, rbac.Contributor, groupA)
	if allowed(assignWrite.name, groupA, false) {
		t.Error("Contributor alone may write role assignments")
	}
	id := e.assign(t, p, rbac.UserAccessAdministrator, strings.ToUpper(groupA))
	if !allowed(assignWrite.name, groupA+"/providers/Microsoft.Web/sites/X", false) {
		t.Error("Contributor and User Access Administrator together may not write role assignments")
	}
	if !allowed(strings.ToUpper(sitesWrite.name), strings.ToLower(vaultInA), false) {
		t.Error("action and scope are not compared ignoring case")
	}
	if allowed(sitesWrite.name, vaultInA, true) {
		t.Error("a control-plane grant allows a data action")
	}
	if _, err := e.db.DeleteRoleAssignment(ctx, tenantID, id); err != nil {
		t.Fatal(err)
	}
	if allowed(assignWrite.name, groupA, false) {
		t.Error("a deleted assignment still grants")
	}
	for _, bad := range []struct{ tenant, principal string }{{otherTenant, p}, {"", p}, {tenantID, "not-a-guid"}} {
		ok, err := e.svc.Allowed(ctx, bad.tenant, bad.principal, sitesRead.name, arm.MustParse(groupA), false)
		if err != nil || ok {
			t.Errorf("Allowed(tenant %q, principal %q) = %v, %v; want false", bad.tenant, bad.principal, ok, err)
		}
	}
}

// TestCheck: the admin socket is Owner at the root; a token caller holds what its assignments
// grant in its own tenant; a denial is ARM's AuthorizationFailed and is audited.
func TestCheck(t *testing.T) {
	e := newEnv(t)
	p := e.principal(t, tenantID)
	e.assign(t, p, rbac.Reader, sub)
	admin := authn.Principal{Admin: true, Actor: "admin-socket:uid=0"}
	caller := authn.Principal{Actor: "sp:" + p, TenantID: tenantID, ObjectID: p}
	foreign := authn.Principal{Actor: "sp:" + p, TenantID: otherTenant, ObjectID: p}
	scope := arm.MustParse(vaultInA)

	if err := e.svc.Check(ctx, admin, tenantID, "Microsoft.Anything/at/all", scope); err != nil {
		t.Errorf("admin: %v", err)
	}
	if err := e.svc.Check(ctx, caller, tenantID, vaultRead.name, scope); err != nil {
		t.Errorf("Reader reading: %v", err)
	}
	err := e.svc.Check(ctx, caller, tenantID, sitesWrite.name, scope)
	want := "The client '" + p + "' with object id '" + p + "' does not have authorization to perform action " +
		"'Microsoft.Web/sites/write' over scope '" + vaultInA + "' or the scope is invalid. " +
		"If access was recently granted, please refresh your credentials."
	if !errs.Is(err, errs.Denied) || errs.CodeOf(err) != "AuthorizationFailed" || errs.Message(err) != want {
		t.Errorf("Reader writing: %v (code %q)\nwant %s", err, errs.CodeOf(err), want)
	}
	if err := e.svc.Check(ctx, foreign, tenantID, vaultRead.name, scope); !errs.Is(err, errs.Denied) {
		t.Errorf("a caller of another tenant: %v, want Denied", err)
	}
	denials := e.audit.find("rbac.deny", "denied")
	if len(denials) != 2 || denials[0].Actor != "sp:"+p || denials[0].Target != vaultInA ||
		denials[0].Detail != "action=Microsoft.Web/sites/write" {
		t.Errorf("denials audited: %+v", denials)
	}
}
