package store

import (
	"context"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// TryLease takes or renews the lease called name for holder until now+ttl, and reports whether
// holder has it. It does when the lease is free, has expired (its expiry is not after now), or
// is held by holder already (then it is renewed). Servers use it so that one of them at a time
// runs a background task: each calls TryLease with its own holder id before every run, with a
// ttl longer than the time between runs, and runs only if it got true.
//
// The clock is the caller's: servers sharing a database must have roughly synchronised clocks,
// and ttl should exceed the expected skew.
func (db *DB) TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || holder == "" {
		return false, errs.E(errs.Invalid, "store: a lease needs a name and a holder")
	}
	if ttl <= 0 {
		return false, errs.E(errs.Invalid, "store: lease ttl must be positive, not %v", ttl)
	}
	var got bool
	err := db.inTx(ctx, "TryLease", "", func(c conn) error {
		// One statement, atomic on both dialects: insert, or take over when the WHERE allows.
		ok, err := c.execOne(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
			name, holder, now.Add(ttl).UnixMicro(), now.UnixMicro())
		if err != nil {
			return fail(err, "take lease "+name)
		}
		got = ok
		return nil
	})
	if err != nil {
		return false, err
	}
	return got, nil
}

// ReleaseLease gives up the lease called name if holder has it, so that another server may take
// it at once (on shutdown, say). Releasing a lease one does not hold is not an error.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	return db.inTx(ctx, "ReleaseLease", "", func(c conn) error {
		if _, err := c.exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
			return fail(err, "release lease "+name)
		}
		return nil
	})
}
