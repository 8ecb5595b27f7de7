// An API's side of Lanyard's token compatibility test (internal/compat/api_verify_test.go): jose
// validates a bearer token as a Node API would: the issuer's OpenID configuration, its JWKS
// through createRemoteJWKSet (the key chosen by the token's kid), the signature, audience, issuer
// and expiry. NODE_EXTRA_CA_CERTS makes Lanyard's CA trusted. It prints the verified claims as
// JSON, or {"error": ...} and exits 1.
import { createRemoteJWKSet, jwtVerify } from "jose";

const { ISSUER: issuer, AUDIENCE: audience, TOKEN: token } = process.env;
try {
  const config = await (await fetch(issuer.replace(/\/$/, "") + "/.well-known/openid-configuration")).json();
  const jwks = createRemoteJWKSet(new URL(config.jwks_uri));
  const { payload } = await jwtVerify(token, jwks, { audience, issuer: config.issuer });
  process.stdout.write(JSON.stringify(payload) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: `${e.code ?? e.name}: ${e.message}` }) + "\n");
  process.exitCode = 1;
}
