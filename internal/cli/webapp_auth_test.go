package cli_test

import (
	"strings"
	"testing"
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
