# The asynchronous half of the Python vault test (internal/compat/vault_python_test.go): the
# aio clients of Debian's python3-azure (azure.identity.aio's ManagedIdentityCredential,
# azure.keyvault.secrets.aio's SecretClient, over aiohttp), which trust Lanyard's CA through
# SSL_CERT_FILE rather than REQUESTS_CA_BUNDLE. A set, a get, a list and a delete; prints "done".
import asyncio
import os

from azure.identity.aio import ManagedIdentityCredential
from azure.keyvault.secrets.aio import SecretClient


async def main():
    async with ManagedIdentityCredential() as cred, SecretClient(os.environ["VAULT_URL"], cred) as client:
        s = await client.set_secret("py-async", "async-value")
        got = await client.get_secret("py-async")
        assert got.value == "async-value" and got.properties.version == s.properties.version, got
        print("ok set_secret, get_secret")
        names = [p.name async for p in client.list_properties_of_secrets()]
        assert "py-async" in names, names
        print("ok list_properties_of_secrets")
        deleted = await client.delete_secret("py-async")
        assert deleted.name == "py-async"
        print("ok delete_secret")
    print("done")


asyncio.run(main())
