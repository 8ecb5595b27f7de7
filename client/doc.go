// Package client is the public Go client of Lanyard's APIs, built on the standard library only.
// The CLI talks to servers through it; so can any program. It covers the administrator's API on
// the admin socket (tenants, signing keys, audit, CA, tokens minted for tests) and the directory
// API (Graph-compatible /v1.0: the object types and a generic Graph call that follows paging).
package client
