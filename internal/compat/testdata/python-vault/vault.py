# The Python half of Lanyard's vault compatibility test (internal/compat/vault_python_test.go):
# Debian's python3-azure (azure-identity, azure-keyvault-secrets, azure-core), unmodified, walks
# the secrets operations against VAULT_URL with ManagedIdentityCredential, which takes the App
# Service-style endpoint from IDENTITY_ENDPOINT/IDENTITY_HEADER. requests trusts Lanyard's CA
# through REQUESTS_CA_BUNDLE, which the agent sets for its apps. It prints one line per step and
# exits non-zero at the first failure.
import os
import sys
import time

import azure.core
import azure.identity
import azure.keyvault.secrets
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

url = os.environ["VAULT_URL"]
client = SecretClient(vault_url=url, credential=ManagedIdentityCredential())
print("versions: azure-core %s, azure-identity %s, azure-keyvault-secrets %s"
      % (azure.core.__version__, azure.identity.__version__, azure.keyvault.secrets.__version__))


def check(cond, what):
    if not cond:
        raise SystemExit("check failed: " + what)
    print("ok " + what)


def status(call):
    try:
        call()
    except HttpResponseError as e:
        return "%s %s" % (e.status_code, e.error.code if e.error else "")
    return "no error"


s1 = client.set_secret("py-secret", "pyth0n-value-1", content_type="text/plain", tags={"env": "dev"})
check(s1.value == "pyth0n-value-1" and len(s1.properties.version) == 32 and s1.properties.enabled, "set_secret")
check(s1.properties.recovery_level == "Recoverable+Purgeable" and s1.properties.created_on is not None,
      "set_secret attributes")
s2 = client.set_secret("py-secret", "pyth0n-value-2")
got = client.get_secret("py-secret")
check(got.value == "pyth0n-value-2" and got.properties.version == s2.properties.version, "get_secret latest")
old = client.get_secret("py-secret", s1.properties.version)
check(old.value == "pyth0n-value-1" and old.properties.tags == {"env": "dev"}, "get_secret version")
up = client.update_secret_properties("py-secret", s1.properties.version, enabled=False, tags={"env": "prod"})
check(up.enabled is False and up.tags == {"env": "prod"}, "update_secret_properties")
check(status(lambda: client.get_secret("py-secret", s1.properties.version)) == "403 Forbidden",
      "disabled version refused")

for i in range(12):
    client.set_secret("bulk-%02d" % i, "x")
pages = list(client.list_properties_of_secrets(max_page_size=5).by_page())
names = [p.name for page in pages for p in page]
check(names == ["bulk-%02d" % i for i in range(12)] + ["py-secret"], "list_properties_of_secrets")
versions = [p.version for p in client.list_properties_of_secret_versions("py-secret")]
check(versions == [s1.properties.version, s2.properties.version], "list_properties_of_secret_versions")

backup = client.backup_secret("py-secret")
check(isinstance(backup, bytes) and len(backup) > 100, "backup_secret")
deleted = client.begin_delete_secret("py-secret").result()
check(deleted.recovery_id == url + "/deletedsecrets/py-secret" and deleted.scheduled_purge_date is not None,
      "begin_delete_secret")
check(status(lambda: client.set_secret("py-secret", "again")) == "409 Conflict", "name reuse while deleted")
check(status(lambda: client.get_secret("py-secret")) == "404 SecretNotFound", "get a deleted secret")
check(client.get_deleted_secret("py-secret").name == "py-secret", "get_deleted_secret")
check("py-secret" in [d.name for d in client.list_deleted_secrets()], "list_deleted_secrets")
recovered = client.begin_recover_deleted_secret("py-secret").result()
check(recovered.name == "py-secret", "begin_recover_deleted_secret")
check(client.get_secret("py-secret").value == "pyth0n-value-2", "get_secret after recovery")

client.begin_delete_secret("py-secret").wait()
client.purge_deleted_secret("py-secret")
try:
    client.get_deleted_secret("py-secret")
    raise SystemExit("check failed: the purged secret is still deleted-but-recoverable")
except ResourceNotFoundError:
    print("ok purge_deleted_secret")
restored = client.restore_secret_backup(backup)
check(restored.name == "py-secret" and restored.version == s2.properties.version, "restore_secret_backup")
check(client.get_secret("py-secret").value == "pyth0n-value-2", "get_secret after restore")
check(status(lambda: client.get_secret("no-such-secret")) == "404 SecretNotFound", "unknown secret")
print("done")
sys.stdout.flush()
