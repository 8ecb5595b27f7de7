// Package cli is the lanyard command tree: one file per noun, shaped like az where a user would
// expect that. Commands that run something (server, dev) call internal/server; every other
// command is a client of a server and talks to it through the public client package, by default
// over the admin socket of the server on this host.
package cli
