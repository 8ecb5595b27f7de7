package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// benchEnv is a server with a deployer principal holding AppRoleAssignment.ReadWrite.All and
// Application.Read.All on the directory, a target principal, and the deployer's token.
type benchEnv struct {
	env             *lanyardtest.Env
	token           string
	graphSPID       string
	targetID        string
	groupReadRoleID string
}

func newBenchEnv(b *testing.B) benchEnv {
	b.Helper()
	env := lanyardtest.Start(b, lanyardtest.Options{})
	ctx := context.Background()
	do := func(method, path string, in, out any) {
		if err := env.Admin.Do(ctx, method, path, in, out); err != nil {
			b.Fatalf("%s %s: %v", method, path, err)
		}
	}
	var graphSP struct {
		ID       string `json:"id"`
		AppRoles []struct{ ID, Value string }
	}
	do("GET", "/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')", nil, &graphSP)
	role := map[string]string{}
	for _, r := range graphSP.AppRoles {
		role[r.Value] = r.ID
	}
	newSP := func(name string) string {
		var app struct{ AppID string }
		do("POST", "/v1.0/applications", map[string]any{"displayName": name}, &app)
		var sp struct{ ID string }
		do("POST", "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, &sp)
		return sp.ID
	}
	deployer, target := newSP("deployer"), newSP("target")
	for _, v := range []string{"AppRoleAssignment.ReadWrite.All", "Application.Read.All"} {
		do("POST", "/v1.0/servicePrincipals/"+graphSP.ID+"/appRoleAssignedTo",
			map[string]any{"principalId": deployer, "resourceId": graphSP.ID, "appRoleId": role[v]}, nil)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	do("POST", "/admin/v1/tokens", map[string]any{"principalId": deployer, "resource": "https://graph.microsoft.com"}, &tok)
	return benchEnv{env: env, token: tok.AccessToken, graphSPID: graphSP.ID, targetID: target, groupReadRoleID: role["Group.Read.All"]}
}

func (e benchEnv) send(b *testing.B, method, path string, body []byte, want int) []byte {
	req, _ := http.NewRequest(method, e.env.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.env.HTTP.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// BenchmarkGraph measures the directory API through the whole server (TLS keep-alive, middleware,
// bearer verification, authorization, store) beside /healthz on the same server and connection,
// the cost of a request that does none of the API's work.
func BenchmarkGraph(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("baseline-healthz", func(b *testing.B) {
		for b.Loop() {
			e.send(b, "GET", "/healthz", nil, http.StatusOK)
		}
	})
	b.Run("GET-servicePrincipals(appId)", func(b *testing.B) {
		for b.Loop() {
			e.send(b, "GET", "/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$select=id,appRoles", nil, http.StatusOK)
		}
	})
	body, _ := json.Marshal(map[string]string{"principalId": e.targetID, "resourceId": e.graphSPID, "appRoleId": e.groupReadRoleID})
	b.Run("POST-appRoleAssignedTo+DELETE", func(b *testing.B) {
		for b.Loop() {
			var a struct{ ID string }
			if err := json.Unmarshal(e.send(b, "POST", "/v1.0/servicePrincipals/"+e.graphSPID+"/appRoleAssignedTo", body, http.StatusCreated), &a); err != nil {
				b.Fatal(err)
			}
			e.send(b, "DELETE", fmt.Sprintf("/v1.0/servicePrincipals/%s/appRoleAssignedTo/%s", e.graphSPID, a.ID), nil, http.StatusNoContent)
		}
	})
}
