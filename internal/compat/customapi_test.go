package compat

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestCustomAPIAppRole: an application "aad-func" defines the app role DoAll; DoAll is granted to
// another principal; tokens minted for the API's identifier URI and for its bare appId carry that
// audience and roles ["DoAll"], and verify with go-oidc against the tenant's issuer.
func TestCustomAPIAppRole(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	var app struct {
		ID    string `json:"id"`
		AppID string `json:"appId"`
	}
	graph(t, env, http.MethodPost, "/v1.0/applications", map[string]any{
		"displayName": "aad-func",
		"appRoles": []map[string]any{{
			"id": "8f2ab1c4-1c9f-4a36-9d8c-3f0f5b3a0b11", "value": "DoAll", "displayName": "Do all",
			"description": "Do everything", "allowedMemberTypes": []string{"Application"}, "isEnabled": true,
		}},
	}, &app)
	graph(t, env, http.MethodPatch, "/v1.0/applications/"+app.ID, map[string]any{"identifierUris": []string{"api://" + app.AppID}}, nil)
	var api sp
	graph(t, env, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, &api)
	caller := newApp(t, env, "caller", nil)
	grant(t, env, caller, api, "DoAll")

	ctx := oidc.ClientContext(context.Background(), env.HTTP)
	provider, err := oidc.NewProvider(ctx, env.Server.Tokens.Issuer(env.Server.Default.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, resource := range []string{"api://" + app.AppID, app.AppID, "api://" + app.AppID + "/.default"} {
		raw := mint(t, env, caller.ID, resource)
		aud := resource
		if r := "api://" + app.AppID + "/.default"; resource == r {
			aud = "api://" + app.AppID
		}
		idt, err := provider.Verifier(&oidc.Config{ClientID: aud}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("token for %s does not verify for audience %s: %v", resource, aud, err)
		}
		var c struct {
			Roles []string `json:"roles"`
			OID   string   `json:"oid"`
			AppID string   `json:"appid"`
		}
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Roles, []string{"DoAll"}) || c.OID != caller.ID || c.AppID != caller.AppID {
			t.Fatalf("token for %s: %+v", resource, c)
		}
	}
	// A principal without the grant gets a token without roles; an unknown resource gets none.
	other := newApp(t, env, "other", nil)
	if r := roles(t, mint(t, env, other.ID, "api://"+app.AppID)); len(r) != 0 {
		t.Fatalf("ungranted principal has roles %v", r)
	}
	err = env.Admin.Do(context.Background(), http.MethodPost, "/admin/v1/tokens",
		map[string]any{"principalId": caller.ID, "resource": "api://no-such-api"}, nil)
	if err == nil {
		t.Fatal("a token was minted for a resource that names no service principal")
	}
}
