package store

import (
	"context"
	"database/sql"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

var _ audit.Store = (*DB)(nil)

const auditColumns = `seq, time, actor, action, target, result, request_id, detail, prev_hash, hash`

// auditRowsPerInsert bounds the events one INSERT of a batch writes (10 parameters each).
const auditRowsPerInsert = 16

// insertAudit[n-1] inserts n events in one statement: a group commit's events cost one
// statement per 16 rather than one each (fixed strings, so that they are prepared once).
var insertAudit = func() (q [auditRowsPerInsert]string) {
	values := ""
	for n := 1; n <= auditRowsPerInsert; n++ {
		if n > 1 {
			values += ", "
		}
		values += "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		q[n-1] = `INSERT INTO audit_events (` + auditColumns + `) VALUES ` + values
	}
	return q
}()

// AppendAudit runs build in one transaction holding the audit chain's head (FOR UPDATE on
// PostgreSQL) and inserts the event it returns, which must link to the head.
func (db *DB) AppendAudit(ctx context.Context, build func(prevSeq int64, prevHash string) (audit.Event, error)) (audit.Event, error) {
	out, err := db.AppendAuditBatch(ctx, func(prevSeq int64, prevHash string) ([]audit.Event, error) {
		e, err := build(prevSeq, prevHash)
		return []audit.Event{e}, err
	})
	if err != nil {
		return audit.Event{}, err
	}
	return out[0], nil
}

// AppendAuditBatch is AppendAudit for several events in one transaction (the recorder's group
// commit): build returns them in order, each linking to the one before it, the first to the head.
func (db *DB) AppendAuditBatch(ctx context.Context, build func(prevSeq int64, prevHash string) ([]audit.Event, error)) ([]audit.Event, error) {
	var out []audit.Event
	err := db.inTx(ctx, "AppendAudit", "", func(c conn) error {
		// These statements run for every batch of a busy server: prepared once per database.
		c = db.hotTx(c)
		var (
			prevSeq  int64
			prevHash string
		)
		if err := c.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+c.d.forUpdate).Scan(&prevSeq, &prevHash); err != nil {
			return fail(err, "read audit head")
		}
		evs, err := build(prevSeq, prevHash)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return errs.E(errs.Internal, "store: an empty audit batch")
		}
		out = make([]audit.Event, 0, len(evs))
		args := make([]any, 0, 10*min(len(evs), auditRowsPerInsert))
		for start := 0; start < len(evs); start += auditRowsPerInsert {
			chunk := evs[start:min(len(evs), start+auditRowsPerInsert)]
			args = args[:0]
			for _, e := range chunk {
				if e.Seq != prevSeq+1 {
					return errs.E(errs.Internal, "store: audit event has seq %d, want %d", e.Seq, prevSeq+1)
				}
				if e.PrevHash != prevHash {
					return errs.E(errs.Internal, "store: audit event %d does not link to the event before it", e.Seq)
				}
				args = append(args, e.Seq, micros(e.Time), e.Actor, e.Action, e.Target, e.Result, e.RequestID, e.Detail, e.PrevHash, e.Hash)
				e.Time = fromMicros(sql.NullInt64{Int64: micros(e.Time), Valid: true})
				out = append(out, e)
				prevSeq, prevHash = e.Seq, e.Hash
			}
			if _, err := c.exec(ctx, insertAudit[len(chunk)-1], args...); err != nil {
				return fail(err, "insert audit event")
			}
		}
		if _, err := c.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, prevSeq, prevHash); err != nil {
			return fail(err, "move audit head")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListAudit returns up to limit events with Seq > after, in Seq order. limit must be positive.
func (db *DB) ListAudit(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	if limit <= 0 {
		return nil, errs.E(errs.Invalid, "store: audit list limit must be positive, not %d", limit)
	}
	rows, err := db.pool().query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fail(err, "list audit events")
	}
	defer rows.Close()
	var evs []audit.Event
	for rows.Next() {
		var (
			e audit.Event
			t sql.NullInt64
		)
		if err := rows.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Target, &e.Result, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, fail(err, "list audit events")
		}
		e.Time = fromMicros(t)
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list audit events")
	}
	return evs, nil
}
