package token

import "context"

// Store is what the token service needs from storage.
type Store interface {
	// ListSigningKeys returns every stored key, oldest first; the caller derives states from
	// the clock.
	ListSigningKeys(ctx context.Context) ([]KeyRecord, error)
	// UpdateSigningKeys runs fn inside one transaction that holds the installation-wide
	// signing-key lock (a PostgreSQL advisory lock, or SQLite's single writer), with the keys as
	// they are now, and writes the change fn returns. Only one server at a time is inside fn, so
	// two replicas never both create a key.
	UpdateSigningKeys(ctx context.Context, fn func(keys []KeyRecord) (KeyChange, error)) error
	// SigningKeysVersion returns a value that changes whenever UpdateSigningKeys changes a key:
	// a cheap read, which Run makes every WatchInterval to learn of another server's change.
	SigningKeysVersion(ctx context.Context) (string, error)
}
