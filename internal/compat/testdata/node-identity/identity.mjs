// The Node half of Lanyard's agent compatibility test (internal/compat/identity_clients_test.go): the
// unmodified @azure/identity credentials get tokens from the environment the test gives this
// process (the agent's App Service-style endpoint through IDENTITY_ENDPOINT/IDENTITY_HEADER, or its
// IMDS-style endpoint through AZURE_POD_IDENTITY_AUTHORITY_HOST). LANYARD_CASES is a JSON list of
// {name, credential: "managed" | "default", clientId? | resourceId? | objectId?, scope}; each case asks twice (the second
// answer should come from the SDK's cache). It prints one JSON object on stdout:
// {name: {token, again, expiresOnTimestamp} | {error}}, and exits non-zero if any case failed.
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";

const cases = JSON.parse(process.env.LANYARD_CASES ?? "[]");
const out = {};
let failed = false;
for (const c of cases) {
  try {
    let cred;
    if (c.credential === "managed") {
      if (c.clientId) cred = new ManagedIdentityCredential({ clientId: c.clientId });
      else if (c.resourceId) cred = new ManagedIdentityCredential({ resourceId: c.resourceId });
      else if (c.objectId) cred = new ManagedIdentityCredential({ objectId: c.objectId });
      else cred = new ManagedIdentityCredential();
    } else if (c.credential === "default") {
      cred = new DefaultAzureCredential();
    } else {
      throw new Error("unknown credential " + c.credential);
    }
    const tok = await cred.getToken(c.scope);
    const again = await cred.getToken(c.scope);
    out[c.name] = { token: tok.token, again: again.token, expiresOnTimestamp: tok.expiresOnTimestamp };
  } catch (e) {
    failed = true;
    out[c.name] = { error: String(e && e.stack ? e.stack : e) };
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = failed ? 1 : 0;
