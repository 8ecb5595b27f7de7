// Package store is Lanyard's only SQL. It implements the storage interfaces the domain packages
// declare (tenant.Store, token.Store, audit.Store, pki.Store, seal.RotateStore, ...) on one
// database, embedded SQLite or PostgreSQL, chosen by the DSN given to Open.
//
// What it owns: connecting (Open, with the SQLite pragmas or the pgx driver), the schema and its
// numbered migrations (embedded per dialect under migrations/, applied in order at Open, each in
// its own transaction, recorded in schema_version), the SQL itself (hand-written, one text for
// both dialects with ? placeholders that the dialect table rebinds to $n for PostgreSQL),
// transactions and the locks that make several servers on one PostgreSQL safe (advisory locks for
// migrations and signing-key rotation, a locked head row for the audit chain, leases for
// background tasks), and turning driver errors into errs kinds (NotFound, Conflict, Unavailable,
// Internal).
//
// What it does not own: rules. Which key signs, when a key rotates, how an audit hash is computed,
// what a valid tenant name is, who may do what: those live in the domain packages, which never
// import store; store imports them for their types and interfaces. Values that must be secret
// (keys) arrive here already sealed, and store never sees a key-encryption key.
//
// Times are stored as integers, unix microseconds, in both dialects, and come back as UTC
// time.Time; the zero time.Time is stored as NULL (or 0 in NOT NULL columns) and reads back as the
// zero time.Time.
//
// The conformance suite in store/storetest runs every method against both dialects.
package store
