// msi-func of seed 002 for Lanyard's front door test (internal/compat/frontdoor_test.go): the
// unmodified @azure/identity ManagedIdentityCredential gets a token for aad-func from the agent
// (IDENTITY_ENDPOINT/IDENTITY_HEADER), then calls aad-func through its front door over HTTPS
// (trusting Lanyard's CA through NODE_EXTRA_CA_CERTS, as the agent sets it for apps). The site's
// host name does not resolve here, so the connection goes to LANYARD_CONNECT (host:port) with
// the site's name as TLS server name and Host. It also sends a forged X-MS-CLIENT-PRINCIPAL,
// which the platform must strip. LANYARD_NO_TOKEN=1 calls without a token. Prints
// {status, wwwAuthenticate, body} on stdout.
import https from "node:https";
import { ManagedIdentityCredential } from "@azure/identity";

const url = new URL(process.env.LANYARD_API_URL);
const [host, port] = process.env.LANYARD_CONNECT.split(":");
const headers = {
  host: url.host,
  "x-ms-client-principal": Buffer.from(JSON.stringify({ auth_typ: "aad", claims: [{ typ: "roles", val: "DoAll" }] })).toString("base64"),
  "x-ms-client-principal-name": "forged",
};
if (process.env.LANYARD_NO_TOKEN !== "1") {
  const cred = new ManagedIdentityCredential();
  const tok = await cred.getToken(process.env.LANYARD_SCOPE);
  headers.authorization = "Bearer " + tok.token;
}
const out = await new Promise((resolve, reject) => {
  const req = https.request({ host, port: Number(port), servername: url.hostname, path: url.pathname + url.search, method: "GET", headers }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (d) => (body += d));
    res.on("end", () => resolve({ status: res.statusCode, wwwAuthenticate: res.headers["www-authenticate"] ?? null, body }));
  });
  req.on("error", reject);
  req.end();
});
process.stdout.write(JSON.stringify(out) + "\n");
