// Package token owns the token service core: the signing keys and their rotation, the JSON Web Key
// Sets and OpenID Connect discovery documents published per tenant, the claim set of an access
// token, and minting.
//
// Signing keys (RSA-2048 for RS256 by default, or ECDSA P-256 for ES256) live in the store with
// their private key sealed under the key-encryption key. A key's state (pending, active, retired,
// gone) is derived from its timestamps and the clock, so every replica agrees without talking to
// the others; one rotation step at a time runs under the store's installation-wide lock. The keys
// in use are held in an immutable snapshot, so minting and serving JWKS take no locks.
//
// The package does not own who may get a token: callers (the agent API, the token endpoint) decide
// the identity, the resource and the roles, and Mint signs what it is given. It does not serve the
// token endpoint's grants either; it only names the endpoint in discovery.
package token
