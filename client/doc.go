// Package client is the public Go client of Lanyard's APIs, built on the standard library only.
// The CLI talks to servers through it; so can any program. Today it covers the administrator's
// API on the admin socket (tenants, signing keys, audit, CA).
package client
