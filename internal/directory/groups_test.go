package directory_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
)

func TestGroups(t *testing.T) {
	e := newEnv(t)
	g := e.must(http.StatusCreated, http.MethodPost, "/v1.0/groups", map[string]any{
		"@odata.type": "#microsoft.graph.group", "displayName": "Operators", "description": "ops", "mailNickname": "ops",
		"securityEnabled": true, "mailEnabled": false, "groupTypes": []string{},
	})
	gid := g["id"].(string)
	if g["@odata.context"] != publicURL+"/v1.0/$metadata#groups/$entity" || g["securityEnabled"] != true || len(g["groupTypes"].([]any)) != 0 {
		t.Errorf("group: %v", g)
	}
	e.must(http.StatusOK, http.MethodGet, "/v1.0/groups/"+gid, nil)
	if got := ids(t, e.must(http.StatusOK, http.MethodGet, "/v1.0/groups", nil)); !slices.Equal(got, []string{gid}) {
		t.Errorf("groups: %v", got)
	}
	a, b := e.app("a", nil), e.app("b", nil)
	for _, ref := range []string{
		"https://graph.microsoft.com/v1.0/directoryObjects/" + a["id"].(string),
		publicURL + "/v1.0/servicePrincipals('" + strings.ToUpper(b["id"].(string)) + "')",
	} {
		e.must(http.StatusNoContent, http.MethodPost, "/v1.0/groups/"+gid+"/members/$ref", map[string]any{"@odata.id": ref})
	}
	members := e.must(http.StatusOK, http.MethodGet, "/v1.0/groups/"+gid+"/members", nil)
	if got := ids(t, members); len(got) != 2 || members["@odata.context"] != publicURL+"/v1.0/$metadata#directoryObjects" ||
		values(t, members)[0]["@odata.type"] != "#microsoft.graph.servicePrincipal" {
		t.Errorf("members: %v", members)
	}
	for name, tc := range map[string]struct {
		body map[string]any
		want int
	}{
		"twice":          {map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + a["id"].(string)}, 400},
		"unknown member": {map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/6f5e4d3c-2b1a-4098-8765-43210fedcba9"}, 404},
		"not a URL":      {map[string]any{"@odata.id": "someone"}, 400},
		"no @odata.id":   {map[string]any{}, 400},
	} {
		if r := e.call(http.MethodPost, "/v1.0/groups/"+gid+"/members/$ref", "admin", tc.body); r.status != tc.want {
			t.Errorf("add member %s: %d %s, want %d", name, r.status, r.body, tc.want)
		}
	}
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/groups/"+gid+"/members/"+a["id"].(string)+"/$ref", nil)
	e.must(http.StatusNotFound, http.MethodDelete, "/v1.0/groups/"+gid+"/members/"+a["id"].(string)+"/$ref", nil)
	if got := ids(t, e.must(http.StatusOK, http.MethodGet, "/v1.0/groups/"+gid+"/members", nil)); !slices.Equal(got, []string{b["id"].(string)}) {
		t.Errorf("members after removal: %v", got)
	}
	for name, body := range map[string]map[string]any{
		"no mailNickname":    {"displayName": "x", "securityEnabled": true, "mailEnabled": false},
		"no securityEnabled": {"displayName": "x", "mailNickname": "x", "mailEnabled": false},
		"bad mailNickname":   {"displayName": "x", "mailNickname": "a b", "securityEnabled": true, "mailEnabled": false},
		"unified":            {"displayName": "x", "mailNickname": "x", "securityEnabled": false, "mailEnabled": true, "groupTypes": []string{"Unified"}},
	} {
		if r := e.call(http.MethodPost, "/v1.0/groups", "admin", body); r.status != http.StatusBadRequest {
			t.Errorf("create group %s: %d %s", name, r.status, r.body)
		}
	}
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/groups/"+gid, nil)
	e.must(http.StatusNotFound, http.MethodGet, "/v1.0/groups/"+gid, nil)
	e.must(http.StatusNotFound, http.MethodGet, "/v1.0/groups/"+gid+"/members", nil)
}

func TestDirectoryRoleAssignments(t *testing.T) {
	e := newEnv(t)
	sp := e.app("deployer", nil)
	ra := e.must(http.StatusCreated, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", map[string]any{
		"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "principalId": sp["id"], "roleDefinitionId": directory.RoleGlobalAdministrator, "directoryScopeId": "/",
	})
	id := ra["id"].(string)
	if ra["@odata.context"] != publicURL+"/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity" || ra["directoryScopeId"] != "/" {
		t.Errorf("role assignment: %v", ra)
	}
	e.must(http.StatusOK, http.MethodGet, "/v1.0/roleManagement/directory/roleAssignments/"+id, nil)
	list := e.must(http.StatusOK, http.MethodGet, "/v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq '"+sp["id"].(string)+"'", nil)
	if got := ids(t, list); !slices.Equal(got, []string{id}) {
		t.Errorf("role assignments of the principal: %v", got)
	}
	for name, tc := range map[string]struct {
		body map[string]any
		want int
	}{
		"twice":             {map[string]any{"principalId": sp["id"], "roleDefinitionId": directory.RoleGlobalAdministrator}, 400},
		"unknown role":      {map[string]any{"principalId": sp["id"], "roleDefinitionId": "11111111-2222-4333-8444-555555555555"}, 400},
		"other scope":       {map[string]any{"principalId": sp["id"], "roleDefinitionId": directory.RoleDirectoryReaders, "directoryScopeId": "/administrativeUnits/x"}, 400},
		"unknown principal": {map[string]any{"principalId": "6f5e4d3c-2b1a-4098-8765-43210fedcba9", "roleDefinitionId": directory.RoleDirectoryReaders}, 404},
		"malformed":         {map[string]any{"principalId": "me", "roleDefinitionId": directory.RoleDirectoryReaders}, 400},
	} {
		if r := e.call(http.MethodPost, "/v1.0/roleManagement/directory/roleAssignments", "admin", tc.body); r.status != tc.want {
			t.Errorf("%s: %d %s, want %d", name, r.status, r.body, tc.want)
		}
	}
	e.must(http.StatusNoContent, http.MethodDelete, "/v1.0/roleManagement/directory/roleAssignments/"+id, nil)
	e.must(http.StatusNotFound, http.MethodDelete, "/v1.0/roleManagement/directory/roleAssignments/"+id, nil)
}
