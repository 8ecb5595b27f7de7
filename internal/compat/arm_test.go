package compat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// Well-known ids of the management API.
const (
	managementURI = "https://management.azure.com/"
	ownerRoleID   = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	readerRoleID  = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
)

// armOptions points an unmodified ARM client at Lanyard the way a user points it at another
// cloud: the cloud configuration (authority and Resource Manager endpoint) and a transport that
// trusts Lanyard's CA. Everything else is the SDK's default.
func armOptions(env *lanyardtest.Env) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: env.URL + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Audience: managementURI, Endpoint: env.URL},
			},
		},
		Transport: env.HTTP,
	}}
}

// managementAPI skips the test until the server serves the management API, and returns the
// tenant's default subscription.
func managementAPI(t *testing.T, env *lanyardtest.Env) client.Subscription {
	t.Helper()
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if client.IsNotFound(err) {
		t.Skip("management API not wired yet: GET /subscriptions answers 404")
	}
	if err != nil {
		t.Fatalf("GET /subscriptions: %v", err)
	}
	return sub
}

// admin calls the management API as administrator (admin socket).
func admin(t *testing.T, env *lanyardtest.Env, method, path, apiVersion string, in, out any) {
	t.Helper()
	if err := env.Admin.ARM(context.Background(), method, path, apiVersion, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// assignRole gives principalID the role at scope (as administrator) and returns the assignment's id.
func assignRole(t *testing.T, env *lanyardtest.Env, sub, scope, roleID, principalID string) string {
	t.Helper()
	name := uuid.NewString()
	var out client.AzureRoleAssignment
	admin(t, env, http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+name, client.APIVersionAuthorization,
		client.AzureRoleAssignment{Properties: client.AzureRoleAssignmentProperties{
			RoleDefinitionID: "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID,
			PrincipalID:      principalID, PrincipalType: "ServicePrincipal",
		}}, &out)
	return out.ID
}

// armCode returns the ARM error code of an SDK error, "" if it is not a response error.
func armCode(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// owner creates a service principal that is Owner on the subscription and returns a credential
// holding a token for the management API minted for it.
func owner(t *testing.T, env *lanyardtest.Env, sub string) (sp, staticCredential) {
	t.Helper()
	o := newApp(t, env, "arm-owner", nil)
	assignRole(t, env, sub, "/subscriptions/"+sub, ownerRoleID, o.ID)
	return o, credential(mint(t, env, o.ID, managementURI))
}

// TestARMUserAssignedIdentity creates, reads, lists and deletes a user-assigned identity with the
// unmodified armmsi client, as an Owner of the subscription; the identity's principalId and
// clientId are those of a real ManagedIdentity service principal in the directory.
func TestARMUserAssignedIdentity(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub := managementAPI(t, env).SubscriptionID
	for _, g := range []string{"rg", "rg2"} {
		admin(t, env, http.MethodPut, client.ResourceGroupPath(sub, g), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil)
	}
	_, cred := owner(t, env, sub)
	ids, err := armmsi.NewUserAssignedIdentitiesClient(sub, cred, armOptions(env))
	if err != nil {
		t.Fatal(err)
	}

	created, err := ids.CreateOrUpdate(ctx, "rg", "sdk-identity", armmsi.Identity{Location: to.Ptr("local"), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatalf("CreateOrUpdate: %v", err)
	}
	wantID := "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sdk-identity"
	p := created.Properties
	switch {
	case created.ID == nil || !strings.EqualFold(*created.ID, wantID):
		t.Fatalf("id %v, want %s", created.ID, wantID)
	case created.Name == nil || *created.Name != "sdk-identity" || created.Type == nil || !strings.EqualFold(*created.Type, client.TypeIdentities):
		t.Fatalf("name %v type %v", created.Name, created.Type)
	case p == nil || p.PrincipalID == nil || p.ClientID == nil || p.TenantID == nil:
		t.Fatalf("properties %+v", p)
	case created.Location == nil || *created.Location != "local" || created.Tags["env"] == nil || *created.Tags["env"] != "test":
		t.Fatalf("location %v tags %v", created.Location, created.Tags)
	}
	principalID, clientID := *p.PrincipalID, *p.ClientID

	// The identity is a real ManagedIdentity service principal in the directory.
	var msp struct {
		ID                   string   `json:"id"`
		AppID                string   `json:"appId"`
		DisplayName          string   `json:"displayName"`
		ServicePrincipalType string   `json:"servicePrincipalType"`
		AlternativeNames     []string `json:"alternativeNames"`
	}
	graph(t, env, http.MethodGet, "/v1.0/servicePrincipals/"+principalID, nil, &msp)
	if msp.ServicePrincipalType != "ManagedIdentity" || msp.AppID != clientID || msp.ID != principalID ||
		!slices.Contains(msp.AlternativeNames, "isExplicit=True") ||
		!slices.ContainsFunc(msp.AlternativeNames, func(n string) bool { return strings.EqualFold(n, *created.ID) }) {
		t.Fatalf("service principal of the identity: %+v", msp)
	}
	if *p.TenantID != env.Server.Default.ID {
		t.Fatalf("tenantId %s, want %s", *p.TenantID, env.Server.Default.ID)
	}

	got, err := ids.Get(ctx, "rg", "sdk-identity", nil)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Properties == nil || *got.Properties.PrincipalID != principalID || *got.Properties.ClientID != clientID {
		t.Fatalf("Get: %+v", got.Properties)
	}
	// Creating it again keeps its principal.
	again, err := ids.CreateOrUpdate(ctx, "rg", "sdk-identity", armmsi.Identity{Location: to.Ptr("local")}, nil)
	if err != nil || *again.Properties.PrincipalID != principalID {
		t.Fatalf("CreateOrUpdate of an existing identity: %v %+v", err, again.Properties)
	}
	if _, err := ids.CreateOrUpdate(ctx, "rg2", "other", armmsi.Identity{Location: to.Ptr("local")}, nil); err != nil {
		t.Fatalf("CreateOrUpdate in rg2: %v", err)
	}

	name := func(it *armmsi.Identity) string { return *it.Name }
	byGroup := collect(t, ids.NewListByResourceGroupPager("rg", nil), func(r armmsi.UserAssignedIdentitiesClientListByResourceGroupResponse) []*armmsi.Identity {
		return r.Value
	}, name)
	if !slices.Equal(byGroup, []string{"sdk-identity"}) {
		t.Fatalf("ListByResourceGroup: %v", byGroup)
	}
	bySub := collect(t, ids.NewListBySubscriptionPager(nil), func(r armmsi.UserAssignedIdentitiesClientListBySubscriptionResponse) []*armmsi.Identity {
		return r.Value
	}, name)
	if !slices.Equal(bySub, []string{"other", "sdk-identity"}) {
		t.Fatalf("ListBySubscription: %v", bySub)
	}

	if _, err := ids.Delete(ctx, "rg", "sdk-identity", nil); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := ids.Get(ctx, "rg", "sdk-identity", nil); !isCode(err, http.StatusNotFound, "ResourceNotFound") {
		st, code := armCode(err)
		t.Fatalf("Get after Delete: %v (%d %s), want 404 ResourceNotFound", err, st, code)
	}
	if err := env.Admin.GraphEntity(ctx, "/v1.0/servicePrincipals/"+principalID, &msp); !client.IsNotFound(err) {
		t.Fatalf("the deleted identity's service principal: %v", err)
	}
	if _, err := ids.Get(ctx, "nope", "x", nil); !isCode(err, http.StatusNotFound, "ResourceGroupNotFound") {
		st, code := armCode(err)
		t.Fatalf("Get in a missing group: %v (%d %s), want 404 ResourceGroupNotFound", err, st, code)
	}
}

func isCode(err error, status int, code string) bool {
	st, c := armCode(err)
	return st == status && c == code
}

// TestARMAuthorizationFailed: a caller without a role on the subscription gets ARM's 403
// AuthorizationFailed through the SDK, reading or writing; Reader may read but not write.
func TestARMAuthorizationFailed(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub := managementAPI(t, env).SubscriptionID
	admin(t, env, http.MethodPut, client.ResourceGroupPath(sub, "rg"), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil)
	admin(t, env, http.MethodPut, client.ResourcePath(sub, "rg", client.TypeIdentities, "existing"), client.APIVersionIdentities, map[string]string{"location": "local"}, nil)

	nobody := newApp(t, env, "no-role", nil)
	ids, err := armmsi.NewUserAssignedIdentitiesClient(sub, credential(mint(t, env, nobody.ID, managementURI)), armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.Get(ctx, "rg", "existing", nil); !isCode(err, http.StatusForbidden, "AuthorizationFailed") {
		st, code := armCode(err)
		t.Fatalf("Get without a role: %v (%d %q), want 403 AuthorizationFailed", err, st, code)
	}
	if _, err := ids.CreateOrUpdate(ctx, "rg", "new", armmsi.Identity{Location: to.Ptr("local")}, nil); !isCode(err, http.StatusForbidden, "AuthorizationFailed") {
		st, code := armCode(err)
		t.Fatalf("CreateOrUpdate without a role: %v (%d %q), want 403 AuthorizationFailed", err, st, code)
	}

	reader := newApp(t, env, "reader", nil)
	assignRole(t, env, sub, client.ResourceGroupPath(sub, "rg"), readerRoleID, reader.ID)
	rids, err := armmsi.NewUserAssignedIdentitiesClient(sub, credential(mint(t, env, reader.ID, managementURI)), armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rids.Get(ctx, "rg", "existing", nil); err != nil {
		t.Fatalf("Get as Reader of the group: %v", err)
	}
	if _, err := rids.CreateOrUpdate(ctx, "rg", "new", armmsi.Identity{Location: to.Ptr("local")}, nil); !isCode(err, http.StatusForbidden, "AuthorizationFailed") {
		st, code := armCode(err)
		t.Fatalf("CreateOrUpdate as Reader: %v (%d %q), want 403 AuthorizationFailed", err, st, code)
	}
	// A token for another audience is refused.
	graphToken := mint(t, env, reader.ID, graphURI)
	gids, err := armmsi.NewUserAssignedIdentitiesClient(sub, credential(graphToken), armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gids.Get(ctx, "rg", "existing", nil); err == nil {
		t.Fatal("a token for the directory API was accepted by the management API")
	} else if st, _ := armCode(err); st != http.StatusUnauthorized {
		t.Fatalf("a token for another audience: %v, want 401", err)
	}
}

// TestARMRoleAssignments creates, reads, lists and deletes a role assignment with the unmodified
// armauthorization client (v2, its current major version), as an Owner of the subscription.
func TestARMRoleAssignments(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub := managementAPI(t, env).SubscriptionID
	admin(t, env, http.MethodPut, client.ResourceGroupPath(sub, "rg"), client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil)
	var mi client.Resource
	admin(t, env, http.MethodPut, client.ResourcePath(sub, "rg", client.TypeIdentities, "app"), client.APIVersionIdentities, map[string]string{"location": "local"}, &mi)
	var props struct {
		PrincipalID string `json:"principalId"`
	}
	if err := json.Unmarshal(mi.Properties, &props); err != nil || props.PrincipalID == "" {
		t.Fatalf("identity properties %s: %v", mi.Properties, err)
	}
	_, cred := owner(t, env, sub)
	opts := armOptions(env)

	defs, err := armauthorization.NewRoleDefinitionsClient(cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	subScope := "/subscriptions/" + sub
	// The role definitions client encodes $filter; the role assignments client sends it as given
	// (so callers escape it, against Azure as here).
	pager := defs.NewListPager(subScope, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq 'Reader'")})
	var readerDef *armauthorization.RoleDefinition
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("RoleDefinitions.List: %v", err)
		}
		for _, d := range page.Value {
			readerDef = d
		}
	}
	if readerDef == nil || readerDef.Name == nil || *readerDef.Name != readerRoleID || readerDef.Properties == nil ||
		readerDef.Properties.RoleName == nil || *readerDef.Properties.RoleName != "Reader" {
		t.Fatalf("the Reader role definition: %+v", readerDef)
	}

	ras, err := armauthorization.NewRoleAssignmentsClient(sub, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	scope := client.ResourceGroupPath(sub, "rg")
	const name = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
	created, err := ras.Create(ctx, scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: readerDef.ID,
		PrincipalID:      to.Ptr(props.PrincipalID),
		PrincipalType:    to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}, nil)
	if err != nil {
		t.Fatalf("RoleAssignments.Create: %v", err)
	}
	wantID := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
	cp := created.Properties
	if created.ID == nil || !strings.EqualFold(*created.ID, wantID) || cp == nil || cp.PrincipalID == nil || *cp.PrincipalID != props.PrincipalID ||
		cp.Scope == nil || !strings.EqualFold(*cp.Scope, scope) || cp.RoleDefinitionID == nil || !strings.HasSuffix(*cp.RoleDefinitionID, "/"+readerRoleID) ||
		cp.CreatedOn == nil {
		t.Fatalf("created assignment: %+v %+v", created.RoleAssignment, cp)
	}
	got, err := ras.Get(ctx, scope, name, nil)
	if err != nil || got.ID == nil || !strings.EqualFold(*got.ID, wantID) {
		t.Fatalf("RoleAssignments.Get: %v %+v", err, got.RoleAssignment)
	}
	if g2, err := ras.GetByID(ctx, wantID, nil); err != nil || *g2.Name != name {
		t.Fatalf("RoleAssignments.GetByID: %v", err)
	}

	key := func(a *armauthorization.RoleAssignment) string {
		return strings.ToLower(*a.Properties.PrincipalID) + " " + lastSeg(*a.Properties.RoleDefinitionID)
	}
	want := props.PrincipalID + " " + readerRoleID
	atScope := collect(t, ras.NewListForScopePager(scope, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("atScope()")}),
		func(r armauthorization.RoleAssignmentsClientListForScopeResponse) []*armauthorization.RoleAssignment {
			return r.Value
		}, key)
	if !slices.Contains(atScope, want) {
		t.Fatalf("ListForScope(atScope()): %v", atScope)
	}
	bySub := collect(t, ras.NewListForSubscriptionPager(&armauthorization.RoleAssignmentsClientListForSubscriptionOptions{
		Filter: to.Ptr(url.PathEscape("principalId eq '" + props.PrincipalID + "'")),
	}), func(r armauthorization.RoleAssignmentsClientListForSubscriptionResponse) []*armauthorization.RoleAssignment {
		return r.Value
	}, key)
	if !slices.Equal(bySub, []string{want}) {
		t.Fatalf("ListForSubscription(principalId eq): %v", bySub)
	}
	byGroup := collect(t, ras.NewListForResourceGroupPager("rg", nil),
		func(r armauthorization.RoleAssignmentsClientListForResourceGroupResponse) []*armauthorization.RoleAssignment {
			return r.Value
		}, key)
	if !slices.Contains(byGroup, want) {
		t.Fatalf("ListForResourceGroup: %v", byGroup)
	}

	if _, err := ras.Delete(ctx, scope, name, nil); err != nil {
		t.Fatalf("RoleAssignments.Delete: %v", err)
	}
	if _, err := ras.Get(ctx, scope, name, nil); !isCode(err, http.StatusNotFound, "RoleAssignmentNotFound") {
		st, code := armCode(err)
		t.Fatalf("Get after Delete: %v (%d %s)", err, st, code)
	}

	// A caller without User Access Administrator or Owner may not assign roles.
	reader := newApp(t, env, "reader", nil)
	assignRole(t, env, sub, subScope, readerRoleID, reader.ID)
	rras, err := armauthorization.NewRoleAssignmentsClient(sub, credential(mint(t, env, reader.ID, managementURI)), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rras.Create(ctx, scope, "5f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b", armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: readerDef.ID, PrincipalID: to.Ptr(props.PrincipalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}, nil)
	if !isCode(err, http.StatusForbidden, "AuthorizationFailed") {
		st, code := armCode(err)
		t.Fatalf("Create as Reader: %v (%d %q), want 403 AuthorizationFailed", err, st, code)
	}
}

// collect reads every page of an SDK pager and returns key of each item, sorted.
func collect[R, T any](t *testing.T, pager *runtime.Pager[R], items func(R) []*T, key func(*T) string) []string {
	t.Helper()
	var out []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			st, code := armCode(err)
			t.Fatalf("list: %v (%d %s)", err, st, code)
		}
		for _, it := range items(page) {
			out = append(out, key(it))
		}
	}
	slices.Sort(out)
	return out
}

func lastSeg(id string) string { return strings.ToLower(id[strings.LastIndex(id, "/")+1:]) }
