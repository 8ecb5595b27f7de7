package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// API versions the tests send.
const (
	vSub   = "2022-12-01"
	vRG    = "2021-04-01"
	vWeb   = "2022-09-01"
	vMSI   = "2023-01-31"
	vKV    = "2023-07-01"
	vAuthz = "2022-04-01"
	mgmt   = "https://management.azure.com/"
)

// mgmtEnv is a running server and its default subscription.
type mgmtEnv struct {
	*lanyardtest.Env
	t      *testing.T
	sub    string
	tenant string
}

func startManagement(t *testing.T) *mgmtEnv {
	t.Helper()
	env := lanyardtest.Start(t, lanyardtest.Options{})
	e := &mgmtEnv{Env: env, t: t, tenant: env.Server.Default.ID}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	e.admin(http.MethodGet, "/subscriptions?api-version="+vSub, nil, &subs)
	if len(subs.Value) != 1 {
		t.Fatalf("subscriptions: %+v", subs)
	}
	e.sub = subs.Value[0].SubscriptionID
	return e
}

// admin calls the management or directory API as administrator on the admin socket.
func (e *mgmtEnv) admin(method, path string, in, out any) {
	e.t.Helper()
	if err := e.Admin.Do(context.Background(), method, path, in, out); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// adminErr calls as administrator and returns the error answer's status and code.
func (e *mgmtEnv) adminErr(method, path string, in any) (int, string) {
	e.t.Helper()
	err := e.Admin.Do(context.Background(), method, path, in, nil)
	var ce *client.Error
	if !errors.As(err, &ce) {
		e.t.Fatalf("%s %s: %v, want an error answer", method, path, err)
	}
	return ce.Status, ce.Code
}

// as calls the HTTPS listener with a bearer token; it returns the status and body.
func (e *mgmtEnv) as(token, method, path string, in any) (int, []byte) {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.HTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// mint returns a token for the management API minted for principal.
func (e *mgmtEnv) mint(principal, resource string) string {
	e.t.Helper()
	tok, err := e.Admin.MintToken(context.Background(), principal, resource, "")
	if err != nil {
		e.t.Fatalf("mint for %s: %v", principal, err)
	}
	return tok.AccessToken
}

func (e *mgmtEnv) group(name string) string {
	e.t.Helper()
	p := "/subscriptions/" + e.sub + "/resourceGroups/" + name
	e.admin(http.MethodPut, p+"?api-version="+vRG, map[string]any{"location": "local"}, nil)
	return p
}

// armResource is the part of a resource the tests read.
type armResource struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Kind     string            `json:"kind"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags"`
	Identity *struct {
		Type                   string `json:"type"`
		PrincipalID            string `json:"principalId"`
		TenantID               string `json:"tenantId"`
		UserAssignedIdentities map[string]struct {
			PrincipalID string `json:"principalId"`
			ClientID    string `json:"clientId"`
		} `json:"userAssignedIdentities"`
	} `json:"identity"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func (r armResource) prop(name string, v any) error { return json.Unmarshal(r.Properties[name], v) }

// identity creates a user-assigned identity and returns it.
func (e *mgmtEnv) identity(group, name string) (armResource, string) {
	e.t.Helper()
	id := group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	var r armResource
	e.admin(http.MethodPut, id+"?api-version="+vMSI, map[string]any{"location": "local"}, &r)
	var pid string
	if err := r.prop("principalId", &pid); err != nil || pid == "" {
		e.t.Fatalf("identity %s has no principalId: %+v", name, r.Properties)
	}
	return r, pid
}

// site creates or replaces a site with the given identity property (nil: none).
func (e *mgmtEnv) site(group, name string, identity any) armResource {
	e.t.Helper()
	body := map[string]any{"location": "local", "kind": "app", "properties": map[string]any{"serverFarmId": "x"}}
	if identity != nil {
		body["identity"] = identity
	}
	var r armResource
	e.admin(http.MethodPut, group+"/providers/Microsoft.Web/sites/"+name+"?api-version="+vWeb, body, &r)
	return r
}

// assignRole creates an RBAC role assignment as administrator; it returns its name.
func (e *mgmtEnv) assignRole(scope, role, principal string) string {
	e.t.Helper()
	name := uuid.NewString()
	e.admin(http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+name+"?api-version="+vAuthz, map[string]any{
		"properties": map[string]string{
			"roleDefinitionId": "/subscriptions/" + e.sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role,
			"principalId":      principal,
		},
	}, nil)
	return name
}

// servicePrincipal reads a service principal through the directory API; ok is false on 404.
func (e *mgmtEnv) servicePrincipal(id string) (sp struct {
	ID                   string   `json:"id"`
	AppID                string   `json:"appId"`
	DisplayName          string   `json:"displayName"`
	ServicePrincipalType string   `json:"servicePrincipalType"`
	AlternativeNames     []string `json:"alternativeNames"`
}, ok bool) {
	e.t.Helper()
	err := e.Admin.Do(context.Background(), http.MethodGet, "/v1.0/servicePrincipals/"+id, nil, &sp)
	if client.IsNotFound(err) {
		return sp, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return sp, true
}

// claims decodes the payload of a JWT.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// directoryReadAll is Microsoft Graph's Directory.Read.All app role id.
const directoryReadAll = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"

// TestSystemAssignedLifecycle: a site's system-assigned identity is a ManagedIdentity service
// principal; deleting the site removes it with its RBAC and app role assignments, the role
// assignments on the site and the access policies naming it — all or nothing: a failure injected
// right before the commit leaves everything in place.
func TestSystemAssignedLifecycle(t *testing.T) {
	e := startManagement(t)
	ctx := context.Background()
	g := e.group("rg")
	site := e.site(g, "web1", map[string]any{"type": "SystemAssigned"})
	if site.Identity == nil || site.Identity.Type != "SystemAssigned" || site.Identity.PrincipalID == "" || site.Identity.TenantID != e.tenant {
		t.Fatalf("identity %+v", site.Identity)
	}
	pid := site.Identity.PrincipalID
	sp, ok := e.servicePrincipal(pid)
	if !ok || sp.ServicePrincipalType != "ManagedIdentity" || sp.DisplayName != "web1" ||
		!slices.Equal(sp.AlternativeNames, []string{"isExplicit=False", site.ID}) {
		t.Fatalf("service principal %+v (ok %v), site %s", sp, ok, site.ID)
	}
	// A token for it names the site.
	if c := claims(t, e.mint(pid, mgmt)); c["xms_mirid"] != site.ID || c["oid"] != pid {
		t.Fatalf("claims %v", c)
	}

	// What it holds: an RBAC role assignment, an app role assignment, an access policy; and a
	// role assignment of another principal on the site itself.
	rbacName := e.assignRole(g, rbac.Reader, pid)
	_, other := e.identity(g, "other")
	onSite := e.assignRole(site.ID, rbac.Reader, other)
	var dirSP struct {
		ID string `json:"id"`
	}
	e.admin(http.MethodGet, "/v1.0/servicePrincipals(appId='"+directory.DirectoryAppID+"')", nil, &dirSP)
	var ara struct {
		ID string `json:"id"`
	}
	e.admin(http.MethodPost, "/v1.0/servicePrincipals/"+pid+"/appRoleAssignments", map[string]string{
		"principalId": pid, "resourceId": dirSP.ID, "appRoleId": directoryReadAll,
	}, &ara)
	vault := e.vault(g, "kv-lifecycle", []map[string]any{policy(e.tenant, pid, "get"), policy(e.tenant, other, "list")})

	exists := func() (sp, rbacA, onSiteA, appRole bool, policies []string) {
		_, sp = e.servicePrincipal(pid)
		_, err := e.Server.DB.GetRoleAssignment(ctx, e.tenant, rbacName)
		rbacA = err == nil
		_, err = e.Server.DB.GetRoleAssignment(ctx, e.tenant, onSite)
		onSiteA = err == nil
		_, err = e.Server.DB.GetAppRoleAssignment(ctx, e.tenant, ara.ID)
		appRole = err == nil
		var v armResource
		e.admin(http.MethodGet, vault+"?api-version="+vKV, nil, &v)
		var aps []struct {
			ObjectID string `json:"objectId"`
		}
		if err := v.prop("accessPolicies", &aps); err != nil {
			t.Fatal(err)
		}
		for _, ap := range aps {
			policies = append(policies, ap.ObjectID)
		}
		return
	}
	if sp, a, b, c, pol := exists(); !sp || !a || !b || !c || !slices.Equal(pol, []string{pid, other}) {
		t.Fatalf("before the delete: sp %v rbac %v on-site %v app role %v policies %v", sp, a, b, c, pol)
	}

	// A failure right before the commit: nothing is removed.
	var ops []string
	e.Server.DB.BeforeCommit = func(op string) error {
		ops = append(ops, op)
		if op == "ApplyResourceChange" {
			return errors.New("injected failure")
		}
		return nil
	}
	st, _ := e.adminErr(http.MethodDelete, site.ID+"?api-version="+vWeb, nil)
	e.Server.DB.BeforeCommit = nil
	if st != http.StatusInternalServerError || !slices.Contains(ops, "ApplyResourceChange") {
		t.Fatalf("delete with a failing commit: %d, ops %v", st, ops)
	}
	if sp, a, b, c, pol := exists(); !sp || !a || !b || !c || !slices.Equal(pol, []string{pid, other}) {
		t.Fatalf("after the failed delete: sp %v rbac %v on-site %v app role %v policies %v", sp, a, b, c, pol)
	}
	var again armResource
	e.admin(http.MethodGet, site.ID+"?api-version="+vWeb, nil, &again)
	if again.Identity == nil || again.Identity.PrincipalID != pid {
		t.Fatalf("site after the failed delete: %+v", again.Identity)
	}

	// The delete: everything goes, the other principal's access policy stays.
	e.admin(http.MethodDelete, site.ID+"?api-version="+vWeb, nil, nil)
	if sp, a, b, c, pol := exists(); sp || a || b || c || !slices.Equal(pol, []string{other}) {
		t.Fatalf("after the delete: sp %v rbac %v on-site %v app role %v policies %v", sp, a, b, c, pol)
	}
	if st, code := e.adminErr(http.MethodGet, site.ID+"?api-version="+vWeb, nil); st != http.StatusNotFound || code != "ResourceNotFound" {
		t.Fatalf("GET after delete: %d %s", st, code)
	}
	// Deleting it again: 204.
	resp, err := e.Admin.Send(ctx, http.MethodDelete, site.ID+"?api-version="+vWeb, nil, nil)
	if err != nil || resp.Status != http.StatusNoContent {
		t.Fatalf("second delete: %v %+v", err, resp)
	}
	if _, err := e.Server.DB.GetAppRoleAssignment(ctx, e.tenant, ara.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("app role assignment after the delete: %v", err)
	}
}

// TestSystemAssignedOff: turning the identity off (PATCH to None, or a PUT without it) deletes
// its service principal; turning it on again makes a new one.
func TestSystemAssignedOff(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	site := e.site(g, "web1", map[string]any{"type": "systemassigned"})
	pid := site.Identity.PrincipalID
	var patched armResource
	e.admin(http.MethodPatch, site.ID+"?api-version="+vWeb, map[string]any{"identity": map[string]any{"type": "None"}}, &patched)
	if patched.Identity != nil {
		t.Fatalf("identity after PATCH None: %+v", patched.Identity)
	}
	if _, ok := e.servicePrincipal(pid); ok {
		t.Fatal("the service principal survived turning the identity off")
	}
	on := e.site(g, "web1", map[string]any{"type": "SystemAssigned"})
	if on.Identity == nil || on.Identity.PrincipalID == "" || on.Identity.PrincipalID == pid {
		t.Fatalf("identity turned on again: %+v", on.Identity)
	}
	// A PUT keeps the principal while the identity stays on, and drops it when the body has none.
	same := e.site(g, "WEB1", map[string]any{"type": "SystemAssigned"})
	if same.Identity.PrincipalID != on.Identity.PrincipalID || same.ID != site.ID {
		t.Fatalf("replace: %+v, id %s", same.Identity, same.ID)
	}
	off := e.site(g, "web1", nil)
	if off.Identity != nil {
		t.Fatalf("PUT without identity: %+v", off.Identity)
	}
	if _, ok := e.servicePrincipal(on.Identity.PrincipalID); ok {
		t.Fatal("the service principal survived a PUT without identity")
	}
}

// TestUserAssignedShared: a user-assigned identity attached to two sites outlives the deletion of
// one of them and still mints with its own ARM id as xms_mirid; deleting it detaches it from the
// other.
func TestUserAssignedShared(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	uami, upid := e.identity(g, "shared")
	var clientID string
	if err := uami.prop("clientId", &clientID); err != nil {
		t.Fatal(err)
	}
	sp, ok := e.servicePrincipal(upid)
	if !ok || sp.AppID != clientID || !slices.Equal(sp.AlternativeNames, []string{"isExplicit=True", uami.ID}) {
		t.Fatalf("identity's service principal %+v", sp)
	}
	// Attached with its id in another case, with or without the space in the type.
	both := map[string]any{"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": map[string]any{strings.ToUpper(uami.ID[:20]) + uami.ID[20:]: map[string]any{}}}
	s1 := e.site(g, "one", both)
	s2 := e.site(g, "two", map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{uami.ID: map[string]any{}}})
	for _, s := range []armResource{s1, s2} {
		u, ok := s.Identity.UserAssignedIdentities[uami.ID]
		if !ok || u.PrincipalID != upid || u.ClientID != clientID {
			t.Fatalf("site %s identity %+v", s.Name, s.Identity)
		}
	}
	if s1.Identity.Type != "SystemAssigned, UserAssigned" || s2.Identity.Type != "UserAssigned" {
		t.Fatalf("types %q %q", s1.Identity.Type, s2.Identity.Type)
	}
	e.admin(http.MethodDelete, s1.ID+"?api-version="+vWeb, nil, nil)
	if _, ok := e.servicePrincipal(upid); !ok {
		t.Fatal("deleting a site deleted its user-assigned identity's principal")
	}
	var still armResource
	e.admin(http.MethodGet, s2.ID+"?api-version="+vWeb, nil, &still)
	if _, ok := still.Identity.UserAssignedIdentities[uami.ID]; !ok {
		t.Fatalf("site two lost the identity: %+v", still.Identity)
	}
	if c := claims(t, e.mint(upid, "https://vault.azure.net")); c["xms_mirid"] != uami.ID || c["appid"] != clientID {
		t.Fatalf("token of the user-assigned identity: %v", c)
	}
	// PATCH with null detaches; type UserAssigned with no identity left is refused.
	if st, code := e.adminErr(http.MethodPatch, s2.ID+"?api-version="+vWeb, map[string]any{
		"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{uami.ID: nil}},
	}); st != http.StatusBadRequest || code != "InvalidIdentity" {
		t.Fatalf("detaching the last identity of a UserAssigned site: %d %s", st, code)
	}
	// Deleting the identity detaches it everywhere.
	e.admin(http.MethodDelete, uami.ID+"?api-version="+vMSI, nil, nil)
	var detached armResource
	e.admin(http.MethodGet, s2.ID+"?api-version="+vWeb, nil, &detached)
	if detached.Identity != nil {
		t.Fatalf("site two after its identity was deleted: %+v", detached.Identity)
	}
	if _, ok := e.servicePrincipal(upid); ok {
		t.Fatal("the deleted identity's principal survived")
	}
}

// TestLinkedAuthorization: attaching a user-assigned identity needs its assign action (Managed
// Identity Operator on it, or a role like Contributor over it) besides write on the site, as in
// Azure.
func TestLinkedAuthorization(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	uami, _ := e.identity(e.group("identities"), "target")
	_, caller := e.identity(g, "caller")
	e.assignRole(g, rbac.Contributor, caller)
	tok := e.mint(caller, mgmt)
	path := g + "/providers/Microsoft.Web/sites/app1?api-version=" + vWeb
	body := map[string]any{"location": "local", "identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{uami.ID: map[string]any{}}}}
	st, raw := e.as(tok, http.MethodPut, path, body)
	if st != http.StatusForbidden || !strings.Contains(string(raw), `"LinkedAuthorizationFailed"`) {
		t.Fatalf("attach without Managed Identity Operator: %d %s", st, raw)
	}
	if st, raw := e.as(tok, http.MethodGet, path, nil); st != http.StatusNotFound {
		t.Fatalf("the refused PUT created the site: %d %s", st, raw)
	}
	e.assignRole(uami.ID, rbac.ManagedIdentityOperator, caller)
	// A site's creating PUT answers 200, as App Service's does (TestPutCreateStatus).
	if st, raw := e.as(tok, http.MethodPut, path, body); st != http.StatusOK {
		t.Fatalf("attach with Managed Identity Operator: %d %s", st, raw)
	}
	// Sending the attached identity back needs nothing more; a PUT by a Reader is refused.
	if st, raw := e.as(tok, http.MethodPut, path, body); st != http.StatusOK {
		t.Fatalf("replace: %d %s", st, raw)
	}
	_, reader := e.identity(g, "reader")
	e.assignRole(g, rbac.Reader, reader)
	rt := e.mint(reader, mgmt)
	if st, raw := e.as(rt, http.MethodPut, path, body); st != http.StatusForbidden || !strings.Contains(string(raw), `"AuthorizationFailed"`) {
		t.Fatalf("PUT as Reader: %d %s", st, raw)
	}
	if st, raw := e.as(rt, http.MethodGet, path, nil); st != http.StatusOK {
		t.Fatalf("GET as Reader: %d %s", st, raw)
	}
	// The denials are audited.
	evs, err := e.Admin.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, ev := range evs {
		if ev.Action == "rbac.deny" && ev.Result == "denied" {
			denied++
		}
	}
	if denied < 2 {
		t.Fatalf("%d denials audited, want 2 or more", denied)
	}
}
