package compat

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// Well-known ids.
const (
	graphAppID = "00000003-0000-0000-c000-000000000000"
	graphURI   = "https://graph.microsoft.com"
)

// sp is the part of a service principal the tests use.
type sp struct {
	ID       string `json:"id"`
	AppID    string `json:"appId"`
	AppRoles []struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	} `json:"appRoles"`
}

func (s sp) roleID(t *testing.T, value string) string {
	t.Helper()
	for _, r := range s.AppRoles {
		if r.Value == value {
			return r.ID
		}
	}
	t.Fatalf("service principal %s has no app role %q", s.AppID, value)
	return ""
}

// graph calls the Graph-compatible API as administrator (admin socket).
func graph(t *testing.T, env *lanyardtest.Env, method, path string, in, out any) {
	t.Helper()
	if err := env.Admin.Do(context.Background(), method, path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// newApp registers an application (optionally with app roles) and its service principal.
func newApp(t *testing.T, env *lanyardtest.Env, name string, body map[string]any) sp {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["displayName"] = name
	var app struct {
		AppID string `json:"appId"`
	}
	graph(t, env, http.MethodPost, "/v1.0/applications", body, &app)
	var s sp
	graph(t, env, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, &s)
	return s
}

// builtin returns a built-in service principal by appId.
func builtin(t *testing.T, env *lanyardtest.Env, appID string) sp {
	t.Helper()
	var s sp
	graph(t, env, http.MethodGet, "/v1.0/servicePrincipals(appId='"+appID+"')", nil, &s)
	return s
}

// grant gives principal the app role of resource (as administrator).
func grant(t *testing.T, env *lanyardtest.Env, principal, resource sp, roleValue string) {
	t.Helper()
	graph(t, env, http.MethodPost, "/v1.0/servicePrincipals/"+resource.ID+"/appRoleAssignedTo", map[string]any{
		"principalId": principal.ID, "resourceId": resource.ID, "appRoleId": resource.roleID(t, roleValue),
	}, nil)
}

// mint has the server mint a token for principal and resource (admin only).
func mint(t *testing.T, env *lanyardtest.Env, principalID, resource string) string {
	t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	graph(t, env, http.MethodPost, "/admin/v1/tokens", map[string]any{"principalId": principalID, "resource": resource}, &out)
	if out.AccessToken == "" {
		t.Fatal("mint returned no token")
	}
	return out.AccessToken
}

// claims decodes a token's payload without verifying it (verification is tested elsewhere).
func claims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func roles(t *testing.T, raw string) []string {
	t.Helper()
	var out []string
	if rs, ok := claims(t, raw)["roles"].([]any); ok {
		for _, r := range rs {
			out = append(out, r.(string))
		}
	}
	sort.Strings(out)
	return out
}

// staticCredential is an azcore.TokenCredential holding one token, as a deployment pipeline's
// credential holds whatever its identity was granted.
type staticCredential struct {
	token string
	exp   time.Time
}

func (c staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: c.exp}, nil
}

func credential(token string) staticCredential {
	return staticCredential{token: token, exp: time.Now().Add(time.Hour)}
}

// getWith sends GET path with a bearer token and returns the status and body.
func getWith(t *testing.T, env *lanyardtest.Env, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

var _ = url.Values{}
