// The Node half of Lanyard's vault compatibility test (internal/compat/vault_node_test.go): the
// unmodified @azure/keyvault-secrets client with @azure/identity's ManagedIdentityCredential
// (App Service-style endpoint from IDENTITY_ENDPOINT/IDENTITY_HEADER) walks every secrets
// operation against VAULT_URL, with challenge resource verification on. It prints one line per
// step and exits non-zero at the first failure.
import { ManagedIdentityCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const url = process.env.VAULT_URL;
const client = new SecretClient(url, new ManagedIdentityCredential());
const poll = { intervalInMs: 20 };

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok " + what);
}

async function code(p) {
  try {
    await p;
    return "no error";
  } catch (e) {
    return `${e.statusCode} ${e.code}`;
  }
}

const s1 = await client.setSecret("node-secret", "n0de-value-1", { contentType: "text/plain", tags: { env: "dev" } });
check(s1.value === "n0de-value-1" && s1.properties.version.length === 32 && s1.properties.enabled === true, "setSecret");
check(s1.properties.recoveryLevel === "Recoverable+Purgeable" && s1.properties.createdOn instanceof Date, "setSecret attributes");
const s2 = await client.setSecret("node-secret", "n0de-value-2");
const got = await client.getSecret("node-secret");
check(got.value === "n0de-value-2" && got.properties.version === s2.properties.version, "getSecret latest");
const old = await client.getSecret("node-secret", { version: s1.properties.version });
check(old.value === "n0de-value-1" && old.properties.tags.env === "dev", "getSecret version");
const up = await client.updateSecretProperties("node-secret", s1.properties.version, { enabled: false, tags: { env: "prod" } });
check(up.enabled === false && up.tags.env === "prod", "updateSecretProperties");
check((await code(client.getSecret("node-secret", { version: s1.properties.version }))) === "403 Forbidden", "disabled version refused");

for (let i = 0; i < 12; i++) await client.setSecret(`bulk-${String(i).padStart(2, "0")}`, "x");
let pages = 0, names = [];
for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 5 })) {
  pages++;
  names.push(...page.map((p) => p.name));
}
check(pages === 3 && names.length === 13 && names[0] === "bulk-00" && names[12] === "node-secret", `listPropertiesOfSecrets (${pages} pages)`);
const versions = [];
for await (const p of client.listPropertiesOfSecretVersions("node-secret")) versions.push(p.version);
check(versions.length === 2 && versions[0] === s1.properties.version, "listPropertiesOfSecretVersions");

const backup = await client.backupSecret("node-secret");
check(backup instanceof Uint8Array && backup.length > 100, "backupSecret");
const delPoller = await client.beginDeleteSecret("node-secret", poll);
const deleted = await delPoller.pollUntilDone();
check(deleted.recoveryId === url + "/deletedsecrets/node-secret" && deleted.scheduledPurgeDate instanceof Date, "beginDeleteSecret");
check((await code(client.setSecret("node-secret", "again"))) === "409 Conflict", "name reuse while deleted");
check((await code(client.getSecret("node-secret"))) === "404 SecretNotFound", "get a deleted secret");
const gd = await client.getDeletedSecret("node-secret");
check(gd.name === "node-secret", "getDeletedSecret");
const dnames = [];
for await (const d of client.listDeletedSecrets()) dnames.push(d.name);
check(dnames.length === 1 && dnames[0] === "node-secret", "listDeletedSecrets");
const recPoller = await client.beginRecoverDeletedSecret("node-secret", poll);
const rec = await recPoller.pollUntilDone();
check(rec.name === "node-secret", "beginRecoverDeletedSecret");
check((await client.getSecret("node-secret")).value === "n0de-value-2", "get after recover");

await (await client.beginDeleteSecret("node-secret", poll)).pollUntilDone();
await client.purgeDeletedSecret("node-secret");
check((await code(client.getDeletedSecret("node-secret"))) === "404 SecretNotFound", "purgeDeletedSecret");
const restored = await client.restoreSecretBackup(backup);
check(restored.name === "node-secret" && restored.version === s2.properties.version, "restoreSecretBackup");
check((await client.getSecret("node-secret")).value === "n0de-value-2", "get after restore");
check((await code(client.setSecret("bad_name", "v"))) === "400 BadParameter", "malformed name refused");
console.log("done");
