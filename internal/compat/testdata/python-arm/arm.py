# The Python half of Lanyard's management API compatibility test (internal/compat/arm_python_test.go):
# Debian's python3-azure management clients (azure-mgmt-resource, azure-mgmt-msi,
# azure-mgmt-authorization), unmodified, with azure-identity's ManagedIdentityCredential from the
# agent's App Service-style endpoint, pointed at Lanyard by base_url and credential_scopes only.
# As an Owner of SUBSCRIPTION_ID it creates a group, a user-assigned identity, a role assignment
# for it, reads and lists them, and deletes them. It prints one line per step and "done".
import os
import uuid

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource import ResourceManagementClient

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

msi.user_assigned_identities.delete("py-rg", "py-id")
try:
    msi.user_assigned_identities.get("py-rg", "py-id")
    raise SystemExit("check failed: the deleted identity is still there")
except ResourceNotFoundError:
    print("ok user_assigned_identities.delete")
res.resource_groups.begin_delete("py-rg").result()
check("py-rg" not in [g.name for g in res.resource_groups.list()], "resource_groups.begin_delete")
print("done")
