package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// policy is an access policy entry granting secrets permissions.
func policy(tenant, objectID string, secrets ...string) map[string]any {
	return map[string]any{"tenantId": tenant, "objectId": objectID, "permissions": map[string]any{"secrets": secrets}}
}

// vault creates a vault with access policies and returns its id.
func (e *mgmtEnv) vault(group, name string, policies []map[string]any) string {
	e.t.Helper()
	id := group + "/providers/Microsoft.KeyVault/vaults/" + name
	if policies == nil {
		policies = []map[string]any{}
	}
	e.admin(http.MethodPut, id+"?api-version="+vKV, vaultBody(e.tenant, policies), nil)
	return id
}

func vaultBody(tenant string, policies []map[string]any) map[string]any {
	return map[string]any{"location": "local", "properties": map[string]any{
		"tenantId": tenant, "sku": map[string]string{"family": "A", "name": "standard"}, "accessPolicies": policies,
	}}
}

// TestSubscriptions: each tenant has its default subscription; another tenant's is not found.
func TestSubscriptions(t *testing.T) {
	e := startManagement(t)
	ctx := context.Background()
	var sub struct {
		ID, SubscriptionID, TenantID, DisplayName, State string
	}
	e.admin(http.MethodGet, "/subscriptions/"+e.sub+"?api-version="+vSub, nil, &sub)
	if sub.ID != "/subscriptions/"+e.sub || sub.TenantID != e.tenant || sub.DisplayName != "Lanyard Default" || sub.State != "Enabled" {
		t.Fatalf("subscription %+v", sub)
	}
	tn, err := e.Admin.CreateTenant(ctx, "Second")
	if err != nil {
		t.Fatal(err)
	}
	other := client.AdminSocket(e.DataDir + "/admin.sock")
	other.Tenant = tn.ID
	var subs struct {
		Value []struct{ SubscriptionID, TenantID string } `json:"value"`
	}
	if err := other.Do(ctx, http.MethodGet, "/subscriptions?api-version="+vSub, nil, &subs); err != nil {
		t.Fatal(err)
	}
	if len(subs.Value) != 1 || subs.Value[0].TenantID != tn.ID || subs.Value[0].SubscriptionID == e.sub {
		t.Fatalf("second tenant's subscriptions: %+v", subs)
	}
	err = other.Do(ctx, http.MethodGet, "/subscriptions/"+e.sub+"?api-version="+vSub, nil, nil)
	if ce, ok := err.(*client.Error); !ok || ce.Status != http.StatusNotFound || ce.Code != "SubscriptionNotFound" {
		t.Fatalf("another tenant's subscription: %v", err)
	}
	if st, code := e.adminErr(http.MethodPut, "/subscriptions/"+subs.Value[0].SubscriptionID+"/resourceGroups/x?api-version="+vRG, map[string]string{"location": "local"}); st != http.StatusNotFound || code != "SubscriptionNotFound" {
		t.Fatalf("group in another tenant's subscription: %d %s", st, code)
	}
	// A token caller sees the subscription only with a role there.
	g := e.group("rg")
	_, pid := e.identity(g, "caller")
	tok := e.mint(pid, mgmt)
	if st, raw := e.as(tok, http.MethodGet, "/subscriptions?api-version="+vSub, nil); st != http.StatusOK || strings.Contains(string(raw), e.sub) {
		t.Fatalf("subscriptions without a role: %d %s", st, raw)
	}
	e.assignRole("/subscriptions/"+e.sub, rbac.Reader, pid)
	if st, raw := e.as(tok, http.MethodGet, "/subscriptions?api-version="+vSub, nil); st != http.StatusOK || !strings.Contains(string(raw), e.sub) {
		t.Fatalf("subscriptions as Reader: %d %s", st, raw)
	}
}

// TestARMProtocol: api-version, ARM's error codes, ids in any case, authentication.
func TestARMProtocol(t *testing.T) {
	e := startManagement(t)
	g := e.group("MyGroup")
	site := g + "/providers/Microsoft.Web/sites/web1"
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{http.MethodGet, site, nil, 400, "MissingApiVersionParameter"},
		{http.MethodGet, "/subscriptions", nil, 400, "MissingApiVersionParameter"},
		{http.MethodGet, site + "?api-version=2001-01-01", nil, 400, "InvalidApiVersionParameter"},
		{http.MethodGet, site + "?api-version=" + vWeb, nil, 404, "ResourceNotFound"},
		{http.MethodGet, "/subscriptions/" + e.sub + "/resourceGroups/nope/providers/Microsoft.Web/sites/x?api-version=" + vWeb, nil, 404, "ResourceGroupNotFound"},
		{http.MethodGet, "/subscriptions/" + e.sub + "/resourceGroups/nope?api-version=" + vRG, nil, 404, "ResourceGroupNotFound"},
		{http.MethodGet, g + "/providers/Microsoft.Web/widgets/x?api-version=" + vWeb, nil, 400, "InvalidResourceType"},
		{http.MethodGet, "/subscriptions/not-a-guid?api-version=" + vSub, nil, 404, "SubscriptionNotFound"},
		{http.MethodPut, site + "?api-version=" + vWeb, map[string]any{"kind": "teapot"}, 400, "InvalidRequestContent"},
		{http.MethodPut, site + "?api-version=" + vWeb, map[string]any{"identity": map[string]any{"type": "Both"}}, 400, "InvalidIdentity"},
		{http.MethodPut, g + "/providers/Microsoft.Web/sites/-bad-?api-version=" + vWeb, map[string]any{}, 400, "InvalidResourceName"},
		{http.MethodPut, site + "?api-version=" + vWeb, map[string]any{"properties": []int{1}}, 400, "InvalidRequestContent"},
		{http.MethodPatch, site + "?api-version=" + vWeb, map[string]any{}, 404, "ResourceNotFound"},
		{http.MethodPost, site + "?api-version=" + vWeb, map[string]any{}, 405, "MethodNotAllowed"},
	} {
		st, code := e.adminErr(tc.method, tc.path, tc.body)
		if st != tc.status || code != tc.code {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, st, code, tc.status, tc.code)
		}
	}
	// The message of ResourceNotFound is ARM's.
	_, raw := e.as("", http.MethodGet, site+"?api-version="+vWeb, nil)
	if !strings.Contains(string(raw), "AuthenticationFailed") {
		t.Fatalf("no token: %s", raw)
	}
	err := e.Admin.Do(context.Background(), http.MethodGet, site+"?api-version="+vWeb, nil, nil)
	if !strings.Contains(err.Error(), "The Resource 'Microsoft.Web/sites/web1' under resource group 'MyGroup' was not found.") {
		t.Fatalf("ResourceNotFound message: %v", err)
	}
	// Ids in any case name the same resource; the answer has the canonical id.
	var created armResource
	e.admin(http.MethodPut, strings.ToLower(site)+"?api-version="+vWeb, map[string]any{"location": "West Europe", "kind": "functionapp,linux", "tags": map[string]string{"a": "1"}}, &created)
	want := "/subscriptions/" + e.sub + "/resourceGroups/MyGroup/providers/Microsoft.Web/sites/web1"
	if created.ID != want || created.Type != "Microsoft.Web/sites" || created.Kind != "functionapp,linux" || created.Location != "westeurope" {
		t.Fatalf("created %+v", created)
	}
	var state, host string
	if created.prop("state", &state) != nil || state != "Running" || created.prop("defaultHostName", &host) != nil || host != "web1.sites.localhost" {
		t.Fatalf("computed properties %s", created.Properties)
	}
	var got armResource
	upper := "/SUBSCRIPTIONS/" + strings.ToUpper(e.sub) + "/RESOURCEGROUPS/MYGROUP/PROVIDERS/MICROSOFT.WEB/SITES/WEB1"
	e.admin(http.MethodGet, upper+"?api-version="+vWeb, nil, &got)
	if got.ID != want {
		t.Fatalf("GET in upper case: %s", got.ID)
	}
	// PATCH replaces tags and merges properties.
	var patched armResource
	e.admin(http.MethodPatch, site+"?api-version="+vWeb, map[string]any{"tags": map[string]string{"b": "2"}, "properties": map[string]any{"httpsOnly": true}}, &patched)
	if !maps(patched.Tags, map[string]string{"b": "2"}) || string(patched.Properties["httpsOnly"]) != "true" || string(patched.Properties["serverFarmId"]) != "" {
		t.Fatalf("patched %+v %s", patched.Tags, patched.Properties)
	}
	// Placement, set by an administrator.
	e.admin(http.MethodPatch, site+"?api-version="+vWeb, map[string]any{"properties": map[string]any{"lanyard": map[string]string{"node": "node-1"}}}, &patched)
	if string(patched.Properties["lanyard"]) != `{"node":"node-1"}` || string(patched.Properties["httpsOnly"]) != "true" {
		t.Fatalf("placement: %s", patched.Properties)
	}
	// Lists per group, subscription, type, and /resources.
	e.identity(g, "id1")
	for path, want := range map[string][]string{
		g + "/providers/Microsoft.Web/sites?api-version=" + vWeb:                         {"web1"},
		"/subscriptions/" + e.sub + "/providers/microsoft.web/SITES?api-version=" + vWeb: {"web1"},
		g + "/resources?api-version=" + vRG:                                              {"id1", "web1"},
		"/subscriptions/" + e.sub + "/resources?api-version=" + vRG:                      {"id1", "web1"},
		"/subscriptions/" + e.sub + "/resources?api-version=" + vRG + "&$filter=resourceType%20eq%20'Microsoft.ManagedIdentity/userAssignedIdentities'": {"id1"},
	} {
		var list struct {
			Value []armResource `json:"value"`
		}
		e.admin(http.MethodGet, path, nil, &list)
		var names []string
		for _, r := range list.Value {
			names = append(names, r.Name)
		}
		if !slices.Equal(names, want) {
			t.Errorf("GET %s: %v, want %v", path, names, want)
		}
		// The generic list carries "properties": null, as ARM's does; typed lists carry them.
		for _, r := range list.Value {
			if generic := strings.Contains(path, "/resources?"); generic != (r.Properties == nil) {
				t.Errorf("GET %s: %s has properties %v", path, r.Name, r.Properties)
			}
		}
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestVaults: names are validated and unique in the installation; the access policy operations
// add, replace and remove.
func TestVaults(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	g2 := e.group("rg2")
	for _, bad := range []string{"ab", "1abc", "abc-", "a--b", "abcdefghijklmnopqrstuvwxy", "ab_c"} {
		if st, code := e.adminErr(http.MethodPut, g+"/providers/Microsoft.KeyVault/vaults/"+bad+"?api-version="+vKV, vaultBody(e.tenant, nil)); st != 400 || code != "VaultNameNotValid" {
			t.Errorf("vault name %q: %d %s", bad, st, code)
		}
	}
	id := e.vault(g, "Kv-One", nil)
	var v armResource
	e.admin(http.MethodGet, id+"?api-version="+vKV, nil, &v)
	var uri string
	var days int
	var rbacAuth bool
	if v.prop("vaultUri", &uri) != nil || !strings.HasPrefix(uri, "https://kv-one.vault.localhost:") || !strings.HasSuffix(uri, "/") ||
		v.prop("softDeleteRetentionInDays", &days) != nil || days != 90 || v.prop("enableRbacAuthorization", &rbacAuth) != nil || rbacAuth {
		t.Fatalf("vault properties %s", v.Properties)
	}
	if st, code := e.adminErr(http.MethodPut, g2+"/providers/Microsoft.KeyVault/vaults/kv-one?api-version="+vKV, vaultBody(e.tenant, nil)); st != 409 || code != "VaultAlreadyExists" {
		t.Fatalf("a second vault of the same name: %d %s", st, code)
	}
	body := vaultBody(e.tenant, nil)
	body["properties"].(map[string]any)["softDeleteRetentionInDays"] = 3
	if st, code := e.adminErr(http.MethodPut, id+"?api-version="+vKV, body); st != 400 || code != "InvalidRequestContent" {
		t.Fatalf("retention of 3 days: %d %s", st, code)
	}
	body = vaultBody(e.tenant, nil)
	body["properties"].(map[string]any)["tenantId"] = uuid.NewString()
	if st, _ := e.adminErr(http.MethodPut, id+"?api-version="+vKV, body); st != 400 {
		t.Fatalf("another tenant's id: %d", st)
	}
	// Access policies.
	a, b := uuid.NewString(), uuid.NewString()
	op := func(kind string, ps ...map[string]any) []string {
		t.Helper()
		var out struct {
			ID, Name, Type string
		}
		e.admin(http.MethodPut, id+"/accessPolicies/"+kind+"?api-version="+vKV, map[string]any{"properties": map[string]any{"accessPolicies": ps}}, &out)
		if out.Name != kind || out.Type != "Microsoft.KeyVault/vaults/accessPolicies" || !strings.HasSuffix(out.ID, "/accessPolicies/"+kind) {
			t.Fatalf("answer of %s: %+v", kind, out)
		}
		e.admin(http.MethodGet, id+"?api-version="+vKV, nil, &v)
		var aps []struct {
			ObjectID    string `json:"objectId"`
			Permissions struct {
				Secrets []string `json:"secrets"`
			} `json:"permissions"`
		}
		if err := json.Unmarshal(v.Properties["accessPolicies"], &aps); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ap := range aps {
			got = append(got, ap.ObjectID[:4]+":"+strings.Join(ap.Permissions.Secrets, ","))
		}
		return got
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("access policies %v, want %v", got, want)
		}
	}
	check(op("add", policy(e.tenant, a, "get")), a[:4]+":get")
	check(op("add", policy(e.tenant, a, "list", "GET"), policy(e.tenant, b, "set")), a[:4]+":get,list", b[:4]+":set")
	check(op("replace", policy(e.tenant, a, "delete")), a[:4]+":delete", b[:4]+":set")
	check(op("remove", policy(e.tenant, a, "delete")), b[:4]+":set")
	check(op("remove", map[string]any{"tenantId": e.tenant, "objectId": b, "permissions": map[string]any{}}))
	if st, code := e.adminErr(http.MethodPut, id+"/accessPolicies/add?api-version="+vKV, map[string]any{"properties": map[string]any{"accessPolicies": []any{policy(e.tenant, a, "fly")}}}); st != 400 || code != "InvalidRequestContent" {
		t.Fatalf("unknown permission: %d %s", st, code)
	}
	if st, _ := e.adminErr(http.MethodPut, id+"/accessPolicies/merge?api-version="+vKV, map[string]any{"properties": map[string]any{"accessPolicies": []any{}}}); st != 400 {
		t.Fatalf("unknown operation: %d", st)
	}
	// Deleting the vault frees its name.
	e.admin(http.MethodDelete, id+"?api-version="+vKV, nil, nil)
	e.vault(g2, "kv-one", nil)
}

// TestGroupDeleteCascades: deleting a group deletes its resources, their identities' principals
// and the role assignments in it, and detaches its user-assigned identities from resources
// elsewhere.
func TestGroupDeleteCascades(t *testing.T) {
	e := startManagement(t)
	ctx := context.Background()
	g := e.group("doomed")
	keep := e.group("keep")
	uami, upid := e.identity(g, "uami")
	site := e.site(g, "web1", map[string]any{"type": "SystemAssigned"})
	spid := site.Identity.PrincipalID
	outside := e.site(keep, "web2", map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{uami.ID: map[string]any{}}})
	_, caller := e.identity(keep, "caller")
	inGroup := e.assignRole(g, rbac.Reader, caller)
	onSite := e.assignRole(site.ID, rbac.Reader, caller)
	atSub := e.assignRole("/subscriptions/"+e.sub, rbac.Reader, caller)
	e.vault(g, "kv-doomed", []map[string]any{policy(e.tenant, caller, "get")})

	resp, err := e.Admin.Send(ctx, http.MethodDelete, g+"?api-version="+vRG, nil, nil)
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("delete group: %v %+v", err, resp)
	}
	if st, code := e.adminErr(http.MethodGet, g+"?api-version="+vRG, nil); st != 404 || code != "ResourceGroupNotFound" {
		t.Fatalf("GET deleted group: %d %s", st, code)
	}
	for _, pid := range []string{upid, spid} {
		if _, ok := e.servicePrincipal(pid); ok {
			t.Errorf("principal %s survived its group", pid)
		}
	}
	for name, gone := range map[string]bool{inGroup: true, onSite: true, atSub: false} {
		_, err := e.Server.DB.GetRoleAssignment(ctx, e.tenant, name)
		if (err != nil) != gone {
			t.Errorf("role assignment %s: %v, gone want %v", name, err, gone)
		}
	}
	var r armResource
	e.admin(http.MethodGet, outside.ID+"?api-version="+vWeb, nil, &r)
	if r.Identity != nil {
		t.Fatalf("site in another group still holds the deleted identity: %+v", r.Identity)
	}
	if _, ok := e.servicePrincipal(caller); !ok {
		t.Fatal("a principal outside the group was deleted")
	}
	// HEAD answers existence; the name is free again, and so is the vault's.
	resp, err = e.Admin.Send(ctx, http.MethodHead, keep+"?api-version="+vRG, nil, nil)
	if err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("HEAD of a group: %v %+v", err, resp)
	}
	e.group("doomed")
	e.vault(keep, "kv-doomed", nil)
	if st, code := e.adminErr(http.MethodDelete, "/subscriptions/"+e.sub+"/resourceGroups/never?api-version="+vRG, nil); st != 404 || code != "ResourceGroupNotFound" {
		t.Fatalf("delete of a missing group: %d %s", st, code)
	}
}

// TestRBACThroughManagement: role assignment routes answer at the front door, with tokens for the
// management API, for an Owner, in any case.
func TestRBACThroughManagement(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	_, owner := e.identity(g, "owner")
	_, target := e.identity(g, "target")
	e.assignRole("/subscriptions/"+e.sub, rbac.Owner, owner)
	tok := e.mint(owner, mgmt)
	name := uuid.NewString()
	path := strings.Replace(g, "resourceGroups", "RESOURCEGROUPS", 1) + "/providers/microsoft.authorization/roleassignments/" + name + "?api-version=" + vAuthz
	st, raw := e.as(tok, http.MethodPut, path, map[string]any{"properties": map[string]string{
		"roleDefinitionId": "/subscriptions/" + e.sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader,
		"principalId":      target,
	}})
	if st != http.StatusCreated {
		t.Fatalf("PUT role assignment as Owner: %d %s", st, raw)
	}
	// The target, Reader on the group, may read there and nowhere else.
	tt := e.mint(target, mgmt)
	if st, raw := e.as(tt, http.MethodGet, g+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version="+vMSI, nil); st != http.StatusOK || !strings.Contains(string(raw), "owner") {
		t.Fatalf("list as Reader: %d %s", st, raw)
	}
	other := e.group("other")
	if st, raw := e.as(tt, http.MethodGet, other+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version="+vMSI, nil); st != http.StatusForbidden {
		t.Fatalf("list elsewhere as Reader: %d %s", st, raw)
	}
	// A token for another API is refused.
	gt := e.mint(owner, "https://graph.microsoft.com")
	if st, raw := e.as(gt, http.MethodGet, g+"?api-version="+vRG, nil); st != http.StatusUnauthorized || !strings.Contains(string(raw), "InvalidAuthenticationToken") {
		t.Fatalf("a Graph token at the management API: %d %s", st, raw)
	}
}

// TestPutCreateStatus: a PUT that creates answers 201, but for web and function apps, whose API
// answers 200 (clients generated from it, such as azure-mgmt-web, refuse a 201); a PUT that
// replaces answers 200.
func TestPutCreateStatus(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	_, owner := e.identity(g, "owner")
	e.assignRole("/subscriptions/"+e.sub, rbac.Owner, owner)
	tok := e.mint(owner, mgmt)
	for _, tc := range []struct {
		path          string
		body          map[string]any
		first, second int
	}{
		{g + "/providers/Microsoft.Web/sites/web1?api-version=" + vWeb, map[string]any{"location": "local", "kind": "app"}, 200, 200},
		{g + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id2?api-version=" + vMSI, map[string]any{"location": "local"}, 201, 200},
		{"/subscriptions/" + e.sub + "/resourceGroups/rg2?api-version=" + vRG, map[string]any{"location": "local"}, 201, 200},
	} {
		for i, want := range []int{tc.first, tc.second} {
			if st, raw := e.as(tok, http.MethodPut, tc.path, tc.body); st != want {
				t.Errorf("PUT %s (%d): %d %s, want %d", tc.path, i+1, st, raw, want)
			}
		}
	}
}
