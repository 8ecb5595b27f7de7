# The Python half of Lanyard's authsettingsV2 compatibility test (internal/compat/authsettings_test.go):
# Debian's azure-mgmt-web, unmodified, with azure-identity's ManagedIdentityCredential from the
# agent, pointed at Lanyard by base_url and credential_scopes only. As an Owner of SUBSCRIPTION_ID it
# creates a function app, reads its default App Service Authentication settings, turns Easy Auth on
# with the Microsoft provider, reads them back with and without secrets, sees RedirectToLoginPage
# refused, and deletes the app. It prints one line per step and "done".
import os

from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import (AllowedPrincipals, AuthPlatform, AzureActiveDirectory,
                                   AzureActiveDirectoryRegistration, AzureActiveDirectoryValidation,
                                   DefaultAuthorizationPolicy, GlobalValidation, HttpSettings,
                                   IdentityProviders, SiteAuthSettingsV2)

base, sub, issuer = os.environ["ARM_URL"], os.environ["SUBSCRIPTION_ID"], os.environ["ISSUER"]
kw = {"base_url": base, "credential_scopes": ["https://management.azure.com/.default"]}
cred = ManagedIdentityCredential()


def check(cond, what):
    if not cond:
        raise SystemExit("check failed: " + what)
    print("ok " + what)


res = ResourceManagementClient(cred, sub, **kw)
res.resource_groups.create_or_update("py-auth-rg", {"location": "local"})
web = WebSiteManagementClient(cred, sub, **kw)
site = web.web_apps.begin_create_or_update("py-auth-rg", "aad-func", {"location": "local", "kind": "functionapp"}).result()
check(site.name == "aad-func", "web_apps.begin_create_or_update")

default = web.web_apps.get_auth_settings_v2_without_secrets("py-auth-rg", "aad-func")
check(default.platform is not None and default.platform.enabled is False, "get_auth_settings_v2_without_secrets (default)")


def settings(action):
    return SiteAuthSettingsV2(
        platform=AuthPlatform(enabled=True, runtime_version="~1"),
        global_validation=GlobalValidation(require_authentication=True, unauthenticated_client_action=action),
        http_settings=HttpSettings(require_https=True),
        identity_providers=IdentityProviders(azure_active_directory=AzureActiveDirectory(
            enabled=True,
            registration=AzureActiveDirectoryRegistration(client_id="0c1d2e3f-0000-4000-8000-000000000001", open_id_issuer=issuer),
            validation=AzureActiveDirectoryValidation(
                allowed_audiences=["api://aad-func"],
                default_authorization_policy=DefaultAuthorizationPolicy(
                    allowed_applications=["0c1d2e3f-0000-4000-8000-000000000002"],
                    allowed_principals=AllowedPrincipals(identities=["0c1d2e3f-0000-4000-8000-000000000003"]))))))


put = web.web_apps.update_auth_settings_v2("py-auth-rg", "aad-func", settings("Return401"))
check(put.platform.enabled and put.global_validation.unauthenticated_client_action == "Return401", "update_auth_settings_v2")
for name, got in (("get_auth_settings_v2", web.web_apps.get_auth_settings_v2("py-auth-rg", "aad-func")),
                  ("get_auth_settings_v2_without_secrets", web.web_apps.get_auth_settings_v2_without_secrets("py-auth-rg", "aad-func"))):
    aad = got.identity_providers.azure_active_directory
    check(got.platform.enabled and got.global_validation.require_authentication and got.http_settings.require_https
          and aad.registration.client_id == "0c1d2e3f-0000-4000-8000-000000000001" and aad.registration.open_id_issuer == issuer
          and aad.validation.allowed_audiences == ["api://aad-func"]
          and aad.validation.default_authorization_policy.allowed_applications == ["0c1d2e3f-0000-4000-8000-000000000002"]
          and aad.validation.default_authorization_policy.allowed_principals.identities == ["0c1d2e3f-0000-4000-8000-000000000003"],
          name)

try:
    web.web_apps.update_auth_settings_v2("py-auth-rg", "aad-func", settings("RedirectToLoginPage"))
    raise SystemExit("check failed: RedirectToLoginPage accepted")
except HttpResponseError as e:
    check(e.status_code == 400 and "RedirectToLoginPage" in str(e), "update_auth_settings_v2(RedirectToLoginPage) refused")

web.web_apps.delete("py-auth-rg", "aad-func")
res.resource_groups.begin_delete("py-auth-rg").result()
print("done")
