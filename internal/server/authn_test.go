package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestGraphBearerRefusals: the directory API refuses a missing, malformed, expired or
// wrong-audience token with Graph's 401 InvalidAuthenticationToken and a Bearer challenge, and
// accepts a valid one.
func TestGraphBearerRefusals(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	env := lanyardtest.Start(t, lanyardtest.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	ctx := context.Background()
	var app struct{ AppID string }
	if err := env.Admin.Do(ctx, "POST", "/v1.0/applications", map[string]any{"displayName": "caller"}, &app); err != nil {
		t.Fatal(err)
	}
	var sp struct{ ID string }
	if err := env.Admin.Do(ctx, "POST", "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, &sp); err != nil {
		t.Fatal(err)
	}
	mint := func(resource string) string {
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := env.Admin.Do(ctx, "POST", "/admin/v1/tokens", map[string]any{"principalId": sp.ID, "resource": resource}, &out); err != nil {
			t.Fatal(err)
		}
		return out.AccessToken
	}
	graphTok := mint("https://graph.microsoft.com")
	graphTokUpper := mint("HTTPS://Graph.Microsoft.com/")
	vaultTok := mint("https://vault.azure.net")
	send := func(auth string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/v1.0/servicePrincipals?$top=1", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 2048)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b.String()
	}
	// Authenticated but without any permission: 403, which proves the token itself was accepted.
	for _, tok := range []string{graphTok, graphTokUpper} {
		if code, _, body := send("Bearer " + tok); code != http.StatusForbidden || !strings.Contains(body, "Authorization_RequestDenied") {
			t.Fatalf("valid token without roles: %d %s", code, body)
		}
	}
	cases := []struct{ name, auth string }{
		{"no token", ""},
		{"not bearer", "Basic " + graphTok},
		{"garbage", "Bearer not.a.token"},
		{"tampered", "Bearer " + graphTok[:len(graphTok)-4] + "AAAA"},
		{"wrong audience", "Bearer " + vaultTok},
	}
	check := func(name, auth string) {
		code, challenge, body := send(auth)
		if code != http.StatusUnauthorized || !strings.Contains(body, "InvalidAuthenticationToken") || !strings.HasPrefix(challenge, "Bearer") {
			t.Errorf("%s: %d %q %s", name, code, challenge, body)
		}
		if auth != "" && strings.Contains(body, strings.TrimPrefix(auth, "Bearer ")) {
			t.Errorf("%s: the error body repeats the token", name)
		}
	}
	for _, c := range cases {
		check(c.name, c.auth)
	}
	clock.Add(int64(2 * time.Hour)) // past the token's one-hour lifetime
	check("expired", "Bearer "+graphTok)
}
