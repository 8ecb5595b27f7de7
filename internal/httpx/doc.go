// Package httpx is the HTTP plumbing every API shares: JSON in and out, the one place an error
// becomes a response (a kind maps to a status, each API renders its own error body), and the
// middleware for request ids, access logs, panic recovery and metrics. It owns no routes of a
// domain; domains mount theirs on the mux the server builds.
package httpx
