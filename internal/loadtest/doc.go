// Package loadtest measures Lanyard from outside, as users run it: it builds the real binary,
// starts `lanyard server` and a standalone `lanyard agent` (with throttles raised, as a load test
// needs) as separate processes, beside a bare Go HTTP/TLS handler answering bodies of the same
// size, and drives them with a keep-alive load generator at 1 and 16 clients, in interleaved
// runs; it reports medians, ratios against the bare handler and raw signing, and the CPU each
// process used per request (from /proc). It also holds the tests that need the real binary under
// load (a SIGKILL during vault reads).
//
// The harness is opt-in, because it takes minutes and wants the machine to itself:
//
//	LANYARD_LOAD=1 go test -run TestLoad -v -timeout 30m ./internal/loadtest
//
// docs/performance.md explains its settings and holds its figures.
package loadtest
