package directory_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
)

var (
	assignmentID = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	ticks        = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)
)

func TestAppRoleAssignments(t *testing.T) {
	e := newEnv(t)
	api := e.app("api", map[string]any{"appRoles": []any{doAllRole, map[string]any{
		"id": "2b0f6d1c-3e4a-4b5c-8d9e-0f1a2b3c4d5e", "value": "Users.Only", "displayName": "u", "description": "u",
		"allowedMemberTypes": []string{"User"}, "isEnabled": true,
	}, map[string]any{
		"id": "3c1e7f2d-4a5b-4c6d-9e0f-1a2b3c4d5e6f", "value": "Off", "displayName": "o", "description": "o",
		"allowedMemberTypes": []string{"Application"}, "isEnabled": false,
	}}})
	fn := e.app("fn", nil)
	apiID, fnID := api["id"].(string), fn["id"].(string)

	a := e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals/"+apiID+"/appRoleAssignedTo", map[string]any{
		"@odata.type": "#microsoft.graph.appRoleAssignment", "principalId": fnID, "resourceId": apiID, "appRoleId": roleID(t, api, "DoAll"),
	})
	if !assignmentID.MatchString(a["id"].(string)) || !ticks.MatchString(a["createdDateTime"].(string)) ||
		a["principalType"] != "ServicePrincipal" || a["principalDisplayName"] != "fn" || a["resourceDisplayName"] != "api" ||
		a["deletedDateTime"] != nil || a["@odata.context"] != publicURL+"/v1.0/$metadata#servicePrincipals('"+apiID+"')/appRoleAssignedTo/$entity" {
		t.Errorf("assignment: %v", a)
	}
	r := e.call(http.MethodPost, "/v1.0/servicePrincipals/"+apiID+"/appRoleAssignedTo", "admin", map[string]any{
		"principalId": fnID, "resourceId": apiID, "appRoleId": roleID(t, api, "DoAll"),
	})
	if r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" || r.message(t) != "Permission being assigned already exists on the object" {
		t.Errorf("a duplicate assignment: %d %s", r.status, r.body)
	}

	// The same grant through the principal's end, and the listings of both ends.
	g := e.graphSP()
	b := e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals(appId='"+fn["appId"].(string)+"')/appRoleAssignments", map[string]any{
		"resourceId": g["id"], "appRoleId": roleID(t, g, "Group.Read.All"),
	})
	held := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+fnID+"/appRoleAssignments", nil)
	if got := ids(t, held); len(got) != 2 || !slices.Contains(got, a["id"].(string)) || !slices.Contains(got, b["id"].(string)) {
		t.Errorf("held by fn: %v", got)
	}
	granted := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+apiID+"/appRoleAssignedTo", nil)
	if got := ids(t, granted); !slices.Equal(got, []string{a["id"].(string)}) || granted["@odata.context"] != publicURL+"/v1.0/$metadata#servicePrincipals('"+apiID+"')/appRoleAssignedTo" {
		t.Errorf("granted by api: %v", granted)
	}
	e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+apiID+"/appRoleAssignedTo/"+a["id"].(string), nil)
	e.must(http.StatusNotFound, http.MethodGet, "/v1.0/servicePrincipals/"+fnID+"/appRoleAssignedTo/"+a["id"].(string), nil)

	// resourceId is an Edm.Guid: Graph's filter names it with an unquoted GUID, in any case, and
	// refuses a quoted string, as it refuses an unquoted GUID for a string property.
	byResource := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+fnID+"/appRoleAssignments?$filter="+
		url.QueryEscape("resourceId eq "+strings.ToUpper(apiID)), nil)
	if got := ids(t, byResource); !slices.Equal(got, []string{a["id"].(string)}) {
		t.Errorf("held by fn on api ($filter=resourceId eq GUID): %v", got)
	}
	for _, f := range []string{"resourceId eq '" + apiID + "'", "principalDisplayName eq " + apiID} {
		r := e.call(http.MethodGet, "/v1.0/servicePrincipals/"+fnID+"/appRoleAssignments?$filter="+url.QueryEscape(f), "admin", nil)
		if r.status != http.StatusBadRequest || r.code(t) != "Request_BadRequest" || !strings.Contains(r.message(t), "incompatible types") {
			t.Errorf("$filter=%s: %d %s, want 400 Request_BadRequest about incompatible types", f, r.status, r.body)
		}
	}

	for name, tc := range map[string]struct {
		path string
		body map[string]any
		want int
	}{
		"resourceId of another":                   {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "resourceId": fnID, "appRoleId": roleID(t, api, "DoAll")}, 400},
		"principalId of another":                  {"/v1.0/servicePrincipals/" + fnID + "/appRoleAssignments", map[string]any{"principalId": apiID, "resourceId": apiID, "appRoleId": roleID(t, api, "DoAll")}, 400},
		"unknown role":                            {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"}, 400},
		"disabled role":                           {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": roleID(t, api, "Off")}, 400},
		"role for users only":                     {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": roleID(t, api, "Users.Only")}, 400},
		"default access on a resource with roles": {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": directory.DefaultAccessRole}, 400},
		"malformed appRoleId":                     {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": "DoAll"}, 400},
		"malformed principalId":                   {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": "fn", "appRoleId": roleID(t, api, "DoAll")}, 400},
		"no appRoleId":                            {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID}, 400},
		"user principal":                          {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": roleID(t, api, "DoAll"), "principalType": "User"}, 400},
		"unknown principal":                       {"/v1.0/servicePrincipals/" + apiID + "/appRoleAssignedTo", map[string]any{"principalId": "6f5e4d3c-2b1a-4098-8765-43210fedcba9", "appRoleId": roleID(t, api, "DoAll")}, 404},
		"unknown resource":                        {"/v1.0/servicePrincipals/6f5e4d3c-2b1a-4098-8765-43210fedcba9/appRoleAssignedTo", map[string]any{"principalId": fnID, "appRoleId": roleID(t, api, "DoAll")}, 404},
	} {
		if r := e.call(http.MethodPost, tc.path, "admin", tc.body); r.status != tc.want {
			t.Errorf("%s: %d %s, want %d", name, r.status, r.body, tc.want)
		}
	}

	// Default access on a resource that defines no roles.
	plain := e.app("plain", nil)
	e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals/"+plain["id"].(string)+"/appRoleAssignedTo", map[string]any{
		"principalId": fnID, "appRoleId": directory.DefaultAccessRole,
	})

	// Deleting through the wrong end is a 404; through the right ones a 204.
	e.must(http.StatusNotFound, http.MethodDelete, "/v1.0/servicePrincipals/"+apiID+"/appRoleAssignedTo/"+b["id"].(string), nil)
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/servicePrincipals/"+apiID+"/appRoleAssignedTo/"+a["id"].(string), nil)
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/servicePrincipals/"+fnID+"/appRoleAssignments/"+b["id"].(string), nil)
	e.must(http.StatusNotFound, http.MethodDelete, "/v1.0/servicePrincipals/"+fnID+"/appRoleAssignments/"+b["id"].(string), nil)
}

// TestDeleteApplicationCascades: an application's deletion takes its service principal and every
// assignment, membership and directory role that names it.
func TestDeleteApplicationCascades(t *testing.T) {
	e := newEnv(t)
	api := e.app("api", map[string]any{"appRoles": []any{doAllRole}})
	fn := e.app("fn", map[string]any{"appRoles": []any{doAllRole}})
	e.grant(fn, api, "DoAll")
	e.grant(api, fn, "DoAll")
	grp := e.must(http.StatusCreated, http.MethodPost, "/v1.0/groups", map[string]any{"displayName": "g", "mailNickname": "g", "securityEnabled": true, "mailEnabled": false})
	e.must(http.StatusNoContent, http.MethodPost, "/v1.0/groups/"+grp["id"].(string)+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + api["id"].(string)})
	e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{
		"principalId": api["id"], "roleDefinitionId": directory.RoleApplicationAdministrator, "directoryScopeId": "/",
	})

	app := e.must(http.StatusOK, http.MethodGet, "/v1.0/applications(appId='"+api["appId"].(string)+"')", nil)
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/applications/"+app["id"].(string), nil)

	e.must(http.StatusNotFound, http.MethodGet, "/v1.0/servicePrincipals/"+api["id"].(string), nil)
	for _, path := range []string{"/v1.0/servicePrincipals/" + fn["id"].(string) + "/appRoleAssignments", "/v1.0/servicePrincipals/" + fn["id"].(string) + "/appRoleAssignedTo",
		"/v1.0/groups/" + grp["id"].(string) + "/members", "/v1.0/roleManagement/directory/roleAssignments"} {
		if got := values(t, e.must(http.StatusOK, http.MethodGet, path, nil)); len(got) != 0 {
			t.Errorf("%s after deleting the application: %v", path, got)
		}
	}
}

// TestTokenRequest: a token carries exactly the roles granted on the requested resource.
func TestTokenRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	api := e.app("aad-func", map[string]any{"appRoles": []any{doAllRole}})
	apiAppID := api["appId"].(string)
	app := e.must(http.StatusOK, http.MethodGet, "/v1.0/applications(appId='"+apiAppID+"')", nil)
	e.must(http.StatusNoContent, http.MethodPatch, "/v1.0/applications/"+app["id"].(string), map[string]any{"identifierUris": []string{"api://" + apiAppID}})
	fn := e.app("fn", nil)
	e.grant(fn, api, "DoAll")
	g := e.graphSP()
	e.grant(fn, g, "Group.Read.All")
	e.grant(fn, g, "Directory.Read.All")
	fnID := fn["id"].(string)

	for resource, want := range map[string][]string{
		"api://" + apiAppID:               {"DoAll"},
		"API://" + apiAppID + "/":         {"DoAll"},
		"api://" + apiAppID + "/.default": {"DoAll"},
		apiAppID:                          {"DoAll"},
		graphURI:                          {"Directory.Read.All", "Group.Read.All"},
		graphURI + "/.default":            {"Directory.Read.All", "Group.Read.All"},
		publicURL:                         {"Directory.Read.All", "Group.Read.All"},
		directory.DirectoryAppID:          {"Directory.Read.All", "Group.Read.All"},
		"https://vault.azure.net":         nil,
		"https://management.azure.com":    nil,
	} {
		req, err := e.svc.TokenRequest(ctx, tenantID, fnID, resource)
		if err != nil {
			t.Errorf("TokenRequest(%s): %v", resource, err)
			continue
		}
		aud := resource
		if len(aud) > 9 && aud[len(aud)-9:] == "/.default" {
			aud = aud[:len(aud)-9]
		}
		if !slices.Equal(req.Roles, want) || req.Audience != aud || req.ObjectID != fnID || req.AppID != fn["appId"] || req.TenantID != tenantID || req.MIResID != "" {
			t.Errorf("TokenRequest(%s) = %+v, want roles %v", resource, req, want)
		}
	}
	// Nobody else holds the roles.
	other := e.app("other", nil)
	if req, err := e.svc.TokenRequest(ctx, tenantID, other["id"].(string), "api://"+apiAppID); err != nil || len(req.Roles) != 0 {
		t.Errorf("ungranted principal: %+v, %v", req, err)
	}
	// A disabled role is not in tokens.
	disabled := clone(doAllRole)
	disabled["isEnabled"] = false
	e.must(http.StatusNoContent, http.MethodPatch, "/v1.0/applications/"+app["id"].(string), map[string]any{"appRoles": []any{disabled}})
	if req, err := e.svc.TokenRequest(ctx, tenantID, fnID, apiAppID); err != nil || len(req.Roles) != 0 {
		t.Errorf("roles of a disabled app role: %+v, %v", req, err)
	}

	for _, tc := range []struct {
		principal, resource string
		kind                errs.Kind
		code                string
	}{
		{fnID, "api://no-such-api", errs.Invalid, "invalid_resource"},
		{fnID, "https://graph.microsoft.com/v1.0", errs.Invalid, "invalid_resource"},
		{fnID, "", errs.Invalid, "invalid_resource"},
		{fnID, "5d2b4c6e-0000-4000-8000-000000000001", errs.Invalid, "invalid_resource"},
		{"5d2b4c6e-0000-4000-8000-000000000001", graphURI, errs.NotFound, ""},
		{"not-a-guid", graphURI, errs.NotFound, ""},
	} {
		_, err := e.svc.TokenRequest(ctx, tenantID, tc.principal, tc.resource)
		if errs.KindOf(err) != tc.kind || errs.CodeOf(err) != tc.code {
			t.Errorf("TokenRequest(%s, %s) = %v (%v, %q), want %v %q", tc.principal, tc.resource, err, errs.KindOf(err), errs.CodeOf(err), tc.kind, tc.code)
		}
	}
	if _, err := e.svc.TokenRequest(ctx, tenantID, fnID, "api://no-such-api"); errs.Message(err) == "" || !regexp.MustCompile(`^AADSTS500011: The resource principal named api://no-such-api was not found in the tenant`).MatchString(errs.Message(err)) {
		t.Errorf("invalid_resource message: %q", errs.Message(err))
	}
	// Another tenant has neither the principal nor the resource.
	if _, err := e.svc.TokenRequest(ctx, tenant2ID, fnID, graphURI); errs.CodeOf(err) != "invalid_resource" {
		t.Errorf("TokenRequest in another tenant: %v", err)
	}

	// A disabled service principal gets no token.
	off := e.must(http.StatusCreated, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "off"})
	offSP := e.must(http.StatusCreated, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": off["appId"], "accountEnabled": false})
	if _, err := e.svc.TokenRequest(ctx, tenantID, offSP["id"].(string), graphURI); !errs.Is(err, errs.Denied) {
		t.Errorf("TokenRequest for a disabled principal: %v", err)
	}
}

func TestManagedIdentities(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const armID = "/subscriptions/5b000000-0000-4000-8000-000000000001/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"
	mi, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: "mi", ResourceID: armID, Explicit: true})
	if err != nil {
		t.Fatal(err)
	}
	got := e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+mi.ID, nil)
	if got["servicePrincipalType"] != "ManagedIdentity" || got["appId"] != mi.AppID || got["appOwnerOrganizationId"] != nil ||
		!slices.Equal(got["alternativeNames"].([]any), []any{"isExplicit=True", armID}) || !slices.Equal(got["servicePrincipalNames"].([]any), []any{mi.AppID}) {
		t.Errorf("managed identity: %v", got)
	}
	e.grant(e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+mi.ID, nil), e.graphSP(), "Directory.Read.All")
	req, err := e.svc.TokenRequest(ctx, tenantID, mi.ID, graphURI)
	if err != nil || req.MIResID != armID || req.AppID != mi.AppID || !slices.Equal(req.Roles, []string{"Directory.Read.All"}) {
		t.Errorf("TokenRequest for a managed identity: %+v, %v", req, err)
	}
	sys, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: "web", ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/web"})
	if err != nil || sys.AlternativeNames[0] != "isExplicit=False" {
		t.Fatalf("system-assigned: %+v, %v", sys, err)
	}
	if _, err := e.svc.CreateManagedIdentitySP(ctx, tenantID, directory.ManagedIdentityInput{DisplayName: "x", ResourceID: "not-an-arm-id"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("a managed identity without an ARM id: %v", err)
	}

	// Graph cannot delete it; the resources domain can, with its assignments.
	if r := e.call(http.MethodDelete, "/v1.0/servicePrincipals/"+mi.ID, "admin", nil); r.status != http.StatusBadRequest {
		t.Errorf("DELETE of a managed identity through Graph: %d %s", r.status, r.body)
	}
	fn := e.app("fn", nil)
	if err := e.svc.DeleteManagedIdentitySP(ctx, tenantID, fn["id"].(string)); !errs.Is(err, errs.Invalid) {
		t.Errorf("DeleteManagedIdentitySP of an application's: %v", err)
	}
	if err := e.svc.DeleteManagedIdentitySP(ctx, tenantID, mi.ID); err != nil {
		t.Fatal(err)
	}
	if got := values(t, e.must(http.StatusOK, http.MethodGet, "/v1.0/servicePrincipals/"+e.graphSP()["id"].(string)+"/appRoleAssignedTo", nil)); len(got) != 0 {
		t.Errorf("assignments of the deleted managed identity: %v", got)
	}
	if err := e.svc.DeleteManagedIdentitySP(ctx, tenantID, mi.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("DeleteManagedIdentitySP twice: %v", err)
	}
}
