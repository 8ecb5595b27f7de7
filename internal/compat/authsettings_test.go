package compat

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v5"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestARMAuthSettingsV2 round-trips a site's authsettingsV2 (App Service Authentication) with the
// unmodified armappservice client: the default document, an update with the fields the front
// door enforces, both reads (with and without secrets), RedirectToLoginPage refused with 400, and
// RBAC as on Azure (a Reader reads without secrets, and can neither list nor write).
func TestARMAuthSettingsV2(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	sub := managementAPI(t, env).SubscriptionID
	ctx := context.Background()
	_, cred := owner(t, env, sub)
	admin(t, env, http.MethodPut, "/subscriptions/"+sub+"/resourceGroups/rg", vRG, map[string]any{"location": "local"}, nil)
	admin(t, env, http.MethodPut, "/subscriptions/"+sub+"/resourceGroups/rg/providers/Microsoft.Web/sites/api-site", vWeb,
		map[string]any{"location": "local", "kind": "functionapp"}, nil)
	apps, err := armappservice.NewWebAppsClient(sub, cred, armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	def, err := apps.GetAuthSettingsV2WithoutSecrets(ctx, "rg", "api-site", nil)
	if err != nil {
		t.Fatalf("GetAuthSettingsV2WithoutSecrets: %v", err)
	}
	if p := def.Properties; p == nil || p.Platform == nil || p.Platform.Enabled == nil || *p.Platform.Enabled {
		t.Fatalf("default document: %+v", def.Properties)
	}
	if !strings.HasSuffix(*def.ID, "/sites/api-site/config/authsettingsV2") || *def.Name != "authsettingsV2" {
		t.Errorf("id %q name %q", *def.ID, *def.Name)
	}
	issuer := env.Server.Tokens.Issuer(env.Server.Default.ID)
	settings := func(action armappservice.UnauthenticatedClientActionV2) armappservice.SiteAuthSettingsV2 {
		return armappservice.SiteAuthSettingsV2{Properties: &armappservice.SiteAuthSettingsV2Properties{
			Platform: &armappservice.AuthPlatform{Enabled: to.Ptr(true), RuntimeVersion: to.Ptr("~1")},
			GlobalValidation: &armappservice.GlobalValidation{
				RequireAuthentication: to.Ptr(true), UnauthenticatedClientAction: to.Ptr(action),
				ExcludedPaths: []*string{to.Ptr("/health")},
			},
			HTTPSettings: &armappservice.HTTPSettings{RequireHTTPS: to.Ptr(true)},
			IdentityProviders: &armappservice.IdentityProviders{AzureActiveDirectory: &armappservice.AzureActiveDirectory{
				Enabled: to.Ptr(true),
				Registration: &armappservice.AzureActiveDirectoryRegistration{
					ClientID: to.Ptr("6b7e1c2a-0000-4000-8000-000000000001"), OpenIDIssuer: to.Ptr(issuer),
					ClientSecretSettingName: to.Ptr("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"),
				},
				Validation: &armappservice.AzureActiveDirectoryValidation{
					AllowedAudiences: []*string{to.Ptr("api://api-site")},
					DefaultAuthorizationPolicy: &armappservice.DefaultAuthorizationPolicy{
						AllowedApplications: []*string{to.Ptr("6b7e1c2a-0000-4000-8000-000000000002")},
						AllowedPrincipals:   &armappservice.AllowedPrincipals{Identities: []*string{to.Ptr("6b7e1c2a-0000-4000-8000-000000000003")}},
					},
				},
			}},
		}}
	}
	put, err := apps.UpdateAuthSettingsV2(ctx, "rg", "api-site", settings(armappservice.UnauthenticatedClientActionV2Return401), nil)
	if err != nil {
		t.Fatalf("UpdateAuthSettingsV2: %v", err)
	}
	check := func(name string, p *armappservice.SiteAuthSettingsV2Properties) {
		t.Helper()
		if p == nil || p.Platform == nil || !*p.Platform.Enabled || *p.Platform.RuntimeVersion != "~1" ||
			!*p.GlobalValidation.RequireAuthentication || *p.GlobalValidation.UnauthenticatedClientAction != armappservice.UnauthenticatedClientActionV2Return401 ||
			*p.GlobalValidation.ExcludedPaths[0] != "/health" || !*p.HTTPSettings.RequireHTTPS {
			t.Fatalf("%s: %+v", name, p)
		}
		aad := p.IdentityProviders.AzureActiveDirectory
		if *aad.Registration.ClientID != "6b7e1c2a-0000-4000-8000-000000000001" || *aad.Registration.OpenIDIssuer != issuer ||
			*aad.Validation.AllowedAudiences[0] != "api://api-site" ||
			*aad.Validation.DefaultAuthorizationPolicy.AllowedApplications[0] != "6b7e1c2a-0000-4000-8000-000000000002" ||
			*aad.Validation.DefaultAuthorizationPolicy.AllowedPrincipals.Identities[0] != "6b7e1c2a-0000-4000-8000-000000000003" {
			t.Errorf("%s: the Microsoft provider came back as %+v", name, aad)
		}
	}
	check("UpdateAuthSettingsV2's answer", put.Properties)
	got, err := apps.GetAuthSettingsV2(ctx, "rg", "api-site", nil)
	if err != nil {
		t.Fatalf("GetAuthSettingsV2: %v", err)
	}
	check("GetAuthSettingsV2", got.Properties)
	without, err := apps.GetAuthSettingsV2WithoutSecrets(ctx, "rg", "api-site", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("GetAuthSettingsV2WithoutSecrets", without.Properties)

	_, err = apps.UpdateAuthSettingsV2(ctx, "rg", "api-site", settings(armappservice.UnauthenticatedClientActionV2RedirectToLoginPage), nil)
	if code, _ := armCode(err); code != http.StatusBadRequest || !strings.Contains(err.Error(), "RedirectToLoginPage") {
		t.Errorf("RedirectToLoginPage: %v", err)
	}
	if _, err := apps.GetAuthSettingsV2(ctx, "rg", "missing-site", nil); err == nil {
		t.Error("a missing site has auth settings")
	} else if code, _ := armCode(err); code != http.StatusNotFound {
		t.Errorf("missing site: %v", err)
	}

	// A Reader of the group reads the document without secrets, and that only.
	reader := newApp(t, env, "arm-reader", nil)
	assignRole(t, env, sub, "/subscriptions/"+sub+"/resourceGroups/rg", readerRoleID, reader.ID)
	asReader, err := armappservice.NewWebAppsClient(sub, credential(mint(t, env, reader.ID, managementURI)), armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asReader.GetAuthSettingsV2WithoutSecrets(ctx, "rg", "api-site", nil); err != nil {
		t.Errorf("Reader, without secrets: %v", err)
	}
	if _, err := asReader.GetAuthSettingsV2(ctx, "rg", "api-site", nil); err == nil {
		t.Error("Reader listed the settings with secrets")
	} else if code, ec := armCode(err); code != http.StatusForbidden || ec != "AuthorizationFailed" {
		t.Errorf("Reader, list: %v", err)
	}
	if _, err := asReader.UpdateAuthSettingsV2(ctx, "rg", "api-site", settings(armappservice.UnauthenticatedClientActionV2Return403), nil); err == nil {
		t.Error("Reader updated the settings")
	} else if code, _ := armCode(err); code != http.StatusForbidden {
		t.Errorf("Reader, update: %v", err)
	}
}

// TestARMPythonAuthSettingsV2 does the same round trip with Debian's azure-mgmt-web, unmodified,
// as an app of the real agent whose identity is Owner of the subscription
// (testdata/python-arm/authsettings.py).
func TestARMPythonAuthSettingsV2(t *testing.T) {
	python := requirePython(t)
	n := startNode(t, "py-auth")
	assignRole(t, n.env, n.sub, "/subscriptions/"+n.sub, ownerRoleID, n.site.Identity.PrincipalID)
	env := n.app(t, n.site.ID)
	script, err := filepath.Abs("testdata/python-arm/authsettings.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ARM_URL=" + n.env.URL, "SUBSCRIPTION_ID=" + n.sub,
		"ISSUER=" + n.env.Server.Tokens.Issuer(n.env.Server.Default.ID)}, env.List()...)
	out, err := cmd.CombinedOutput()
	t.Logf("python:\n%s", out)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "done") {
		t.Fatalf("python: %v", err)
	}
}
