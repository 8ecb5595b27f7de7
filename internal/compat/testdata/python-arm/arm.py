# The Python half of Lanyard's management API compatibility test (internal/compat/arm_python_test.go):
# Debian's python3-azure management clients (azure-mgmt-resource, azure-mgmt-msi,
# azure-mgmt-authorization), unmodified, with azure-identity's ManagedIdentityCredential from the
# agent's App Service-style endpoint, pointed at Lanyard by base_url and credential_scopes only.
# As an Owner of SUBSCRIPTION_ID it creates a group, a user-assigned identity, a role assignment
# for it, a web app with both kinds of identity, a key vault with access policies (azure-mgmt-web,
# azure-mgmt-keyvault), reads and lists them, and deletes them. It prints one line per step and "done".
import os
import uuid

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.web import WebSiteManagementClient

base, sub = os.environ["ARM_URL"], os.environ["SUBSCRIPTION_ID"]
kw = {"base_url": base, "credential_scopes": ["https://management.azure.com/.default"]}
cred = ManagedIdentityCredential()


def check(cond, what):
    if not cond:
        raise SystemExit("check failed: " + what)
    print("ok " + what)


res = ResourceManagementClient(cred, sub, **kw)
rg = res.resource_groups.create_or_update("py-rg", {"location": "local", "tags": {"lang": "python"}})
check(rg.name == "py-rg" and rg.tags == {"lang": "python"}, "resource_groups.create_or_update")
check("py-rg" in [g.name for g in res.resource_groups.list()], "resource_groups.list")

msi = ManagedServiceIdentityClient(cred, sub, **kw)
ua = msi.user_assigned_identities.create_or_update("py-rg", "py-id", {"location": "local"})
check(ua.principal_id and ua.client_id and ua.tenant_id and ua.id.endswith("/userAssignedIdentities/py-id"),
      "user_assigned_identities.create_or_update")
got = msi.user_assigned_identities.get("py-rg", "py-id")
check(got.principal_id == ua.principal_id and got.client_id == ua.client_id, "user_assigned_identities.get")
check([i.name for i in msi.user_assigned_identities.list_by_resource_group("py-rg")] == ["py-id"],
      "user_assigned_identities.list_by_resource_group")
check("py-id" in [i.name for i in msi.user_assigned_identities.list_by_subscription()],
      "user_assigned_identities.list_by_subscription")
check([r.name for r in res.resources.list_by_resource_group("py-rg")] == ["py-id"], "resources.list_by_resource_group")
generic = res.resources.get_by_id(ua.id, "2023-01-31")
check(generic.id.lower() == ua.id.lower() and generic.properties["principalId"] == ua.principal_id, "resources.get_by_id")

auth = AuthorizationManagementClient(cred, sub, **kw)
scope = rg.id
reader = next(d for d in auth.role_definitions.list(scope, filter="roleName eq 'Reader'"))
check(reader.role_name == "Reader", "role_definitions.list(roleName eq 'Reader')")
name = str(uuid.uuid4())
ra = auth.role_assignments.create(scope, name, {"role_definition_id": reader.id, "principal_id": ua.principal_id,
                                                 "principal_type": "ServicePrincipal"})
check(ra.principal_id == ua.principal_id and ra.scope.lower() == scope.lower(), "role_assignments.create")
listed = list(auth.role_assignments.list_for_scope(scope, filter="principalId eq '%s'" % ua.principal_id))
check([a.name for a in listed] == [name], "role_assignments.list_for_scope(principalId eq)")
auth.role_assignments.delete(scope, name)
check(name not in [a.name for a in auth.role_assignments.list_for_scope(scope)], "role_assignments.delete")

web = WebSiteManagementClient(cred, sub, **kw)
site = web.web_apps.begin_create_or_update("py-rg", "py-site", {
    "location": "local", "kind": "app",
    "identity": {"type": "SystemAssigned, UserAssigned", "user_assigned_identities": {ua.id: {}}},
}).result()
check(site.identity.principal_id and site.identity.type.startswith("SystemAssigned")
      and ua.id.lower() in [k.lower() for k in site.identity.user_assigned_identities]
      and list(site.identity.user_assigned_identities.values())[0].principal_id == ua.principal_id,
      "web_apps.begin_create_or_update (system- and user-assigned)")
got = web.web_apps.get("py-rg", "py-site")
check(got.identity.principal_id == site.identity.principal_id and got.kind == "app", "web_apps.get")
check("py-site" in [w.name for w in web.web_apps.list_by_resource_group("py-rg")], "web_apps.list_by_resource_group")

kv = KeyVaultManagementClient(cred, sub, **kw)
vault = kv.vaults.begin_create_or_update("py-rg", os.environ["VAULT_NAME"], {
    "location": "local",
    "properties": {"tenant_id": ua.tenant_id, "sku": {"family": "A", "name": "standard"},
                   "access_policies": [{"tenant_id": ua.tenant_id, "object_id": site.identity.principal_id,
                                        "permissions": {"secrets": ["get", "list"]}}]},
}).result()
check(vault.properties.vault_uri and len(vault.properties.access_policies) == 1, "vaults.begin_create_or_update")
kv.vaults.update_access_policy("py-rg", vault.name, "add", {"properties": {"access_policies": [
    {"tenant_id": ua.tenant_id, "object_id": ua.principal_id, "permissions": {"secrets": ["get"]}}]}})
got = kv.vaults.get("py-rg", vault.name)
check(sorted(p.object_id for p in got.properties.access_policies) == sorted([site.identity.principal_id, ua.principal_id]),
      "vaults.update_access_policy(add)")
kv.vaults.delete("py-rg", vault.name)
web.web_apps.delete("py-rg", "py-site")
check("py-site" not in [w.name for w in web.web_apps.list_by_resource_group("py-rg")], "web_apps.delete")

msi.user_assigned_identities.delete("py-rg", "py-id")
try:
    msi.user_assigned_identities.get("py-rg", "py-id")
    raise SystemExit("check failed: the deleted identity is still there")
except ResourceNotFoundError:
    print("ok user_assigned_identities.delete")
res.resource_groups.begin_delete("py-rg").result()
check("py-rg" not in [g.name for g in res.resource_groups.list()], "resource_groups.begin_delete")
print("done")
