// Node's Key Vault client as code written for Azure uses it: the vault's Azure URL and the managed
// identity, nothing else (run in a Lanyard sandbox). Prints the secret's value and id.
import { ManagedIdentityCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const [vault, name] = process.argv.slice(2);
const client = new SecretClient(`https://${vault}.vault.azure.net/`, new ManagedIdentityCredential());
const secret = await client.getSecret(name);
console.log(secret.value, secret.properties.id);
