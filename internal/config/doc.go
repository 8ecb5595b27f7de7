// Package config owns Lanyard's typed configuration: its defaults (per mode: server or dev), and
// how a YAML file (--config), LANYARD_* environment variables and command-line flags are layered
// on them, in that order, each later source overriding the earlier ones. Decoding is strict: an
// unknown key at any depth is an error naming the key, the file and the line. Validate checks
// every field and names the one that is wrong. LoadKEK turns the configured key-encryption key
// (a file, or LANYARD_KEK) into a *seal.KEK.
//
// It does not build the command tree (internal/cli registers the flags with AddFlags and calls
// Load) and it does not act on the configuration: opening the store, binding listeners and
// creating the data directory are internal/server's job.
package config
