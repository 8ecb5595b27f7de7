package cli_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/lanyardhq/lanyard/internal/agent"
)

// TestWebAppAuth sets a function app's Easy Auth with the CLI and reads it back, as seed 002's
// aad-func is set up; a web app has the same commands; the refusals say what is wrong.
func TestWebAppAuth(t *testing.T) {
	_, sock := server(t)
	must(t, sock, "group", "create", "--name", "rg", "--location", "local")
	must(t, sock, "functionapp", "create", "--name", "aad-func", "--resource-group", "rg")
	if got := must(t, sock, "functionapp", "auth", "show", "-n", "aad-func", "-g", "rg", "--query", "properties.platform.enabled", "-o", "tsv"); got != "false\n" {
		t.Fatalf("default: %q", got)
	}
	must(t, sock, "functionapp", "auth", "update", "-n", "aad-func", "-g", "rg", "--enabled", "true", "--action", "return401",
		"--client-id", "6b7e1c2a-0000-4000-8000-000000000001", "--allowed-audiences", "api://aad-func",
		"--allowed-applications", "6b7e1c2a-0000-4000-8000-000000000002", "--excluded-paths", "/health")
	got := must(t, sock, "functionapp", "auth", "show", "-n", "aad-func", "-g", "rg", "--query",
		"[properties.platform.enabled, properties.globalValidation.requireAuthentication, properties.globalValidation.unauthenticatedClientAction, "+
			"properties.identityProviders.azureActiveDirectory.registration.clientId, properties.identityProviders.azureActiveDirectory.validation.allowedAudiences[0], "+
			"properties.identityProviders.azureActiveDirectory.validation.defaultAuthorizationPolicy.allowedApplications[0], properties.globalValidation.excludedPaths[0]]", "-o", "tsv")
	want := "true\ntrue\nReturn401\n6b7e1c2a-0000-4000-8000-000000000001\napi://aad-func\n6b7e1c2a-0000-4000-8000-000000000002\n/health\n"
	if got != want {
		t.Fatalf("after update: %q, want %q", got, want)
	}
	// A later update keeps what it does not name.
	must(t, sock, "functionapp", "auth", "update", "-n", "aad-func", "-g", "rg", "--allowed-applications", "")
	got = must(t, sock, "functionapp", "auth", "show", "-n", "aad-func", "-g", "rg", "--query",
		"[properties.identityProviders.azureActiveDirectory.registration.clientId, length(properties.identityProviders.azureActiveDirectory.validation.defaultAuthorizationPolicy.allowedApplications)]", "-o", "tsv")
	if got != "6b7e1c2a-0000-4000-8000-000000000001\n0\n" {
		t.Errorf("after clearing allowed applications: %q", got)
	}
	if _, errs, code := run(t, sock, "functionapp", "auth", "update", "-n", "aad-func", "-g", "rg", "--action", "RedirectToLoginPage"); code == 0 || !strings.Contains(errs, "RedirectToLoginPage") {
		t.Errorf("RedirectToLoginPage: exit %d, %s", code, errs)
	}
	if _, errs, code := run(t, sock, "functionapp", "auth", "update", "-n", "aad-func", "-g", "rg", "--issuer", "http://not-https/x"); code == 0 || !strings.Contains(errs, "openIdIssuer") {
		t.Errorf("bad issuer: exit %d, %s", code, errs)
	}
	// The web app noun has the same commands, and refuses a function app.
	if _, errs, code := run(t, sock, "webapp", "auth", "show", "-n", "aad-func", "-g", "rg"); code == 0 || !strings.Contains(errs, "function app") {
		t.Errorf("webapp auth show of a function app: exit %d, %s", code, errs)
	}
	must(t, sock, "webapp", "create", "--name", "web", "--resource-group", "rg")
	must(t, sock, "webapp", "auth", "update", "-n", "web", "-g", "rg", "--enabled", "true", "--client-id", "6b7e1c2a-0000-4000-8000-000000000009", "--action", "AllowAnonymous")
	if got := must(t, sock, "webapp", "auth", "show", "-n", "web", "-g", "rg", "--query", "properties.globalValidation.unauthenticatedClientAction", "-o", "tsv"); got != "AllowAnonymous\n" {
		t.Errorf("webapp: %q", got)
	}
}

// TestSeed002WithCLI sets seed 002 up with the CLI only, as docs/frontdoor.md shows, then runs it:
// aad-func (an HTTP server on the port the agent gives it) behind Easy Auth on a node's front
// door, and msi-func's code getting a token with Go azidentity and calling it. aad-func sees the
// caller and its role DoAll.
func TestSeed002WithCLI(t *testing.T) {
	env, sock := server(t)
	cli := func(args ...string) string { return strings.TrimSpace(must(t, append([]string{sock}, args...)...)) }
	cli("group", "create", "--name", "rg", "--location", "local")
	cli("functionapp", "create", "-n", "aad-func", "-g", "rg", "--node", "node1")
	cli("functionapp", "create", "-n", "msi-func", "-g", "rg", "--node", "node1")
	msi := cli("functionapp", "identity", "assign", "-n", "msi-func", "-g", "rg", "--query", "principalId", "-o", "tsv")
	appID := cli("ad", "app", "create", "--display-name", "aad-func", "--identifier-uris", "api://aad-func", "--query", "appId", "-o", "tsv")
	cli("ad", "app", "role", "add", "--id", appID, "--value", "DoAll", "--display-name", "Do all", "--allowed-member-types", "Application")
	apiSP := cli("ad", "sp", "create", "--id", appID, "--query", "id", "-o", "tsv")
	cli("functionapp", "auth", "update", "-n", "aad-func", "-g", "rg", "--enabled", "true", "--action", "Return401",
		"--client-id", appID, "--allowed-audiences", "api://aad-func")
	cli("ad", "app-role-assignment", "create", "--principal-id", msi, "--resource-id", apiSP, "--role", "DoAll")

	sub := cli("group", "show", "-n", "rg", "--query", "id", "-o", "tsv")
	ag := env.StartAgent(t, "node1", agent.Config{FrontDoor: agent.FrontDoorConfig{Listen: "127.0.0.1:0"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	apiEnv, err := ag.StartApp(ctx, agent.AppConfig{Site: sub + "/providers/Microsoft.Web/sites/aad-func"})
	if err != nil {
		t.Fatal(err)
	}
	// aad-func: answers with the decoded X-MS-CLIENT-PRINCIPAL's roles.
	ln, err := net.Listen("tcp", "127.0.0.1:"+apiEnv["PORT"])
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := base64.StdEncoding.DecodeString(r.Header.Get("X-MS-CLIENT-PRINCIPAL"))
		var p struct {
			Claims []struct{ Typ, Val string } `json:"claims"`
		}
		_ = json.Unmarshal(raw, &p)
		var roles []string
		for _, c := range p.Claims {
			if c.Typ == "roles" {
				roles = append(roles, c.Val)
			}
		}
		fmt.Fprintf(w, "%s %s", r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID"), strings.Join(roles, ","))
	}))
	defer ln.Close()
	msiEnv, err := ag.StartApp(ctx, agent.AppConfig{Site: sub + "/providers/Microsoft.Web/sites/msi-func"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.SyncSites(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDENTITY_ENDPOINT", msiEnv["IDENTITY_ENDPOINT"])
	t.Setenv("IDENTITY_HEADER", msiEnv["IDENTITY_HEADER"])
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://aad-func/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	door := strings.TrimPrefix(ag.FrontDoorURL(), "https://")
	_, port, _ := net.SplitHostPort(door)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: env.CAPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, door)
		},
	}}
	req, _ := http.NewRequest(http.MethodGet, "https://aad-func.sites.localhost:"+port+"/api", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != msi+" DoAll" {
		t.Fatalf("aad-func answered %d %q, want %q", resp.StatusCode, body, msi+" DoAll")
	}
	req.Header.Del("Authorization")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %v %v", resp, err)
	}
}
