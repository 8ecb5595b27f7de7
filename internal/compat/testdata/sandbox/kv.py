# Python's Key Vault client as code written for Azure uses it: the vault's Azure URL and the
# managed identity, nothing else. It prints the secret's value and id, then the vault's secret names.
import sys
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

client = SecretClient("https://" + sys.argv[1] + ".vault.azure.net/", ManagedIdentityCredential())
secret = client.get_secret(sys.argv[2])
print(secret.value, secret.id)
print(",".join(sorted(p.name for p in client.list_properties_of_secrets())))
