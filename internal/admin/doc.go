// Package admin serves the administrator's own API (/admin/v1): signing keys and their rotation,
// the audit chain, the CA certificate, and tokens minted on demand for any service principal (for
// tests and debugging). Tenants mount their admin routes themselves. Every route demands an
// administrator (today: a peer on the admin socket). It owns no state.
package admin
