package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// Audit retention (migration 0014): the chain's base (the last removed event) and the exported
// segments.

var _ audit.RetentionStore = (*DB)(nil)

// AuditBase returns the seq and hash of the last event removed by retention (0 and "" when none
// was): the chain in the store starts after it.
func (db *DB) AuditBase(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	if err := db.pool().queryRow(ctx, `SELECT seq, hash FROM audit_base WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fail(err, "read the audit base")
	}
	return seq, hash, nil
}

// AuditSeqBefore returns the seq of the last event older than t (0 when there is none): the
// folded events through audit_keys' time index (migration 0017), the tail above the watermark
// from audit_events (read after the watermark, so that a fold in between misses nothing).
func (db *DB) AuditSeqBefore(ctx context.Context, micro int64) (int64, error) {
	if err := db.syncAudit(ctx); err != nil {
		return 0, err
	}
	c := db.pool()
	mark, err := auditMark(ctx, c)
	if err != nil {
		return 0, err
	}
	var tail, folded sql.NullInt64
	if err := c.queryRow(ctx, `SELECT MAX(seq) FROM audit_events WHERE seq > ? AND time < ?`, mark, micro).Scan(&tail); err != nil {
		return 0, fail(err, "find old audit events")
	}
	if tail.Valid {
		return tail.Int64, nil // above every folded event
	}
	if err := c.queryRow(ctx, `SELECT MAX(seq) FROM audit_keys WHERE time < ?`, micro).Scan(&folded); err != nil {
		return 0, fail(err, "find old audit events")
	}
	return folded.Int64, nil
}

// PruneAudit removes the events of an exported segment, seg.FirstSeq to seg.LastSeq, and their
// folded keys, and records it, in one transaction holding the chain's head: errs.Conflict when the base is not
// seg.FirstSeq-1 (another server pruned meanwhile) or the chain's event seg.LastSeq does not have
// seg.LastHash (the file does not hold what the store holds).
func (db *DB) PruneAudit(ctx context.Context, seg audit.Segment) error {
	if err := db.syncAudit(ctx); err != nil {
		return err
	}
	return db.inTx(ctx, "PruneAudit", "", func(c conn) error {
		var head int64
		var headHash string
		if err := c.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+c.d.forUpdate).Scan(&head, &headHash); err != nil {
			return fail(err, "prune audit: read the head")
		}
		var base int64
		if err := c.queryRow(ctx, `SELECT seq FROM audit_base WHERE id = 1`+c.d.forUpdate).Scan(&base); err != nil {
			return fail(err, "prune audit: read the base")
		}
		if base != seg.FirstSeq-1 {
			return errs.E(errs.Conflict, "the audit chain's base is %d, not %d: another server pruned it", base, seg.FirstSeq-1)
		}
		if seg.LastSeq > head || seg.LastSeq < seg.FirstSeq {
			return errs.E(errs.Invalid, "segment %d-%d is not within the chain (head %d)", seg.FirstSeq, seg.LastSeq, head)
		}
		var hash string
		err := c.queryRow(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, seg.LastSeq).Scan(&hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errs.E(errs.Conflict, "audit event %d is missing", seg.LastSeq)
		case err != nil:
			return fail(err, "prune audit: read the last event")
		case hash != seg.LastHash:
			return errs.E(errs.Conflict, "audit event %d's hash is not the exported one", seg.LastSeq)
		}
		if _, err := c.exec(ctx, `DELETE FROM audit_events WHERE seq >= ? AND seq <= ?`, seg.FirstSeq, seg.LastSeq); err != nil {
			return fail(err, "prune audit: delete")
		}
		if _, err := c.exec(ctx, `DELETE FROM audit_keys WHERE seq >= ? AND seq <= ?`, seg.FirstSeq, seg.LastSeq); err != nil {
			return fail(err, "prune audit: delete the keys")
		}
		if _, err := c.exec(ctx, `UPDATE audit_base SET seq = ?, hash = ? WHERE id = 1`, seg.LastSeq, seg.LastHash); err != nil {
			return fail(err, "prune audit: move the base")
		}
		if _, err := c.exec(ctx, `INSERT INTO audit_segments (last_seq, first_seq, last_hash, file, sha256, server, exported_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			seg.LastSeq, seg.FirstSeq, seg.LastHash, seg.File, seg.SHA256, seg.Server, micros(seg.ExportedAt)); err != nil {
			return fail(err, "prune audit: record the segment")
		}
		return nil
	})
}

// ListAuditSegments returns the exported segments, oldest first.
func (db *DB) ListAuditSegments(ctx context.Context) ([]audit.Segment, error) {
	rows, err := db.pool().query(ctx, `SELECT first_seq, last_seq, last_hash, file, sha256, server, exported_at FROM audit_segments ORDER BY last_seq`)
	if err != nil {
		return nil, fail(err, "list audit segments")
	}
	defer rows.Close()
	var out []audit.Segment
	for rows.Next() {
		var s audit.Segment
		var at sql.NullInt64
		if err := rows.Scan(&s.FirstSeq, &s.LastSeq, &s.LastHash, &s.File, &s.SHA256, &s.Server, &at); err != nil {
			return nil, fail(err, "list audit segments")
		}
		s.ExportedAt = fromMicros(at)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list audit segments")
	}
	return out, nil
}
