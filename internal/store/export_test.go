package store

import "context"

// Exported for store_test, which cannot be in package store (storetest imports store).

// LatestVersion returns the newest schema version this binary knows for dialect.
func LatestVersion(dialect string) int {
	ms, err := migrations(dialect)
	if err != nil {
		panic(err)
	}
	return len(ms)
}

// ExecForTest runs one statement, written with ? placeholders, on the database.
func (db *DB) ExecForTest(ctx context.Context, query string, args ...any) error {
	_, err := db.pool().exec(ctx, query, args...)
	return err
}

// QueryIntForTest runs a query returning one integer.
func (db *DB) QueryIntForTest(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := db.pool().queryRow(ctx, query, args...).Scan(&n)
	return n, err
}
