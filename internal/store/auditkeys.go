package store

import (
	"context"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// The audit log's filter keys (migration 0017): audit_keys holds seq, time, actor, action, target
// and result of the events folded so far, with the filters' indexes, so that appending an event
// (every vault read) inserts into audit_events' own B-tree only. The watermark is
// MAX(audit_keys.seq): seq order is commit order on both stores (seq is assigned under the head's
// lock), so every event at or below it is folded and the tail above it is read from audit_events
// directly (QueryAudit).

var _ audit.KeyStore = (*DB)(nil)

const auditKeyColumns = `seq, time, actor, action, target, result`

// FoldAuditKeys copies up to limit events above the watermark into audit_keys, in one transaction,
// and returns how many it copied (fewer than limit: the keys have caught up). It holds the chain's
// base (FOR UPDATE on PostgreSQL), as PruneAudit does, so that a fold on one server does not copy
// keys of events that a prune on another is removing; ON CONFLICT DO NOTHING leaves a row that a
// concurrent fold copied first as it is.
func (db *DB) FoldAuditKeys(ctx context.Context, limit int) (int, error) {
	if err := db.syncAudit(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, errs.E(errs.Invalid, "store: audit fold batch must be positive, not %d", limit)
	}
	var n int64
	err := db.inTx(ctx, "FoldAuditKeys", "", func(c conn) error {
		var base int64
		if err := c.queryRow(ctx, `SELECT seq FROM audit_base WHERE id = 1`+c.d.forUpdate).Scan(&base); err != nil {
			return fail(err, "fold audit keys: read the base")
		}
		mark, err := auditMark(ctx, c)
		if err != nil {
			return err
		}
		// Events at or below the base are gone (pruned), even when they were never folded.
		res, err := c.exec(ctx, `INSERT INTO audit_keys (`+auditKeyColumns+`) SELECT `+auditKeyColumns+
			` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ? ON CONFLICT DO NOTHING`, max(base, mark), limit)
		if err != nil {
			return fail(err, "fold audit keys")
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// auditMark returns the watermark: the last folded seq (0 when nothing is).
func auditMark(ctx context.Context, c conn) (int64, error) {
	var mark int64
	if err := c.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_keys`).Scan(&mark); err != nil {
		return 0, fail(err, "read the audit keys' watermark")
	}
	return mark, nil
}
