// Package functions is Lanyard's function host: it runs one function app (a script root with
// host.json and one folder per function, each with its function.json, as Azure Functions lays
// it out) and serves its triggers.
//
// It owns: indexing host.json and function.json (with Azure's validation messages), HTTP
// triggers (route templates and constraints, methods, authLevel with function, host and master
// keys), timer triggers (six-field NCRONTAB, runOnStartup, one run per tick across nodes through
// a TimerLock), the Lanyard-only keyVault input binding (read at each invocation through a
// SecretReader), the workers (custom handlers; Lanyard's Node worker, package nodeworker, speaks
// the custom-handler protocol to the host), the invocation log lines as Azure writes them, and
// per-function metrics.
//
// It does not own: where packages come from and how they are unpacked (the agent), keys and app
// settings at rest and Key Vault references in app settings (the server), Easy Auth (the front
// door, which calls Host.ServeHTTP after it), tokens (the agent's identity endpoint).
//
// The wire contract is ../shared/spec/functions.md; which behaviour is Azure's and which is
// Lanyard's own is said where it is built.
package functions
