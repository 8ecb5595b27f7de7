// aad-func of seed 002 for Lanyard's front door test (internal/compat/frontdoor_test.go): a plain
// Node HTTP server, listening on $PORT as on App Service, that answers every request with the
// caller as the platform told it: the decoded X-MS-CLIENT-PRINCIPAL (or null), the other
// X-MS-CLIENT-PRINCIPAL-* headers, and whether the caller has the app role DoAll (the app
// decides, as Easy Auth does not enforce roles). Each request is also written to stdout, which
// the agent keeps in the app's log: the test counts those lines to tell whether the app was
// called at all.
const http = require("http");

const server = http.createServer((req, res) => {
  console.log("request " + req.method + " " + req.url);
  if (req.url === "/crash") {
    process.exit(3); // dies mid-request: the front door answers 502
  }
  const raw = req.headers["x-ms-client-principal"];
  let principal = null;
  if (raw) principal = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
  const roles = principal ? principal.claims.filter((c) => c.typ === "roles").map((c) => c.val) : [];
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({
    principal,
    roles,
    doAll: roles.includes("DoAll"),
    id: req.headers["x-ms-client-principal-id"] ?? null,
    name: req.headers["x-ms-client-principal-name"] ?? null,
    idp: req.headers["x-ms-client-principal-idp"] ?? null,
    forwardedFor: req.headers["x-forwarded-for"] ?? null,
    host: req.headers["host"],
    authEnabled: process.env.WEBSITE_AUTH_ENABLED ?? null,
    hostname: process.env.WEBSITE_HOSTNAME ?? null,
  }));
});
// LANYARD_DELAY_MS makes the app slow to start (the front door answers 503 meanwhile).
setTimeout(() => {
  server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening on " + process.env.PORT));
}, Number(process.env.LANYARD_DELAY_MS ?? 0));
