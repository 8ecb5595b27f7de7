package store

import (
	"context"
	"database/sql"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/directory/odata"
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
//
// With the audit journal (Options.AuditJournal, SQLite only) the events are appended to the
// journal instead, and moved into the table in the background (auditjournal.go); every method
// that reads the chain moves them first, so that it sees every appended event.
func (db *DB) AppendAuditBatch(ctx context.Context, build func(prevSeq int64, prevHash string) ([]audit.Event, error)) ([]audit.Event, error) {
	if db.journal != nil {
		return db.journal.append(build)
	}
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
		out, err = insertAuditChain(ctx, c, prevSeq, prevHash, evs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkAuditLink checks that e follows the event prevSeq, whose hash is prevHash.
func checkAuditLink(prevSeq int64, prevHash string, e audit.Event) error {
	if e.Seq != prevSeq+1 {
		return errs.E(errs.Internal, "store: audit event has seq %d, want %d", e.Seq, prevSeq+1)
	}
	if e.PrevHash != prevHash {
		return errs.E(errs.Internal, "store: audit event %d does not link to the event before it", e.Seq)
	}
	return nil
}

// insertAuditChain inserts evs, which must continue the chain whose head is prevSeq/prevHash, and
// moves the head, in the transaction c; it returns the events as the store holds them (times in
// UTC microseconds).
func insertAuditChain(ctx context.Context, c conn, prevSeq int64, prevHash string, evs []audit.Event) ([]audit.Event, error) {
	if len(evs) == 0 {
		return nil, errs.E(errs.Internal, "store: an empty audit batch")
	}
	out := make([]audit.Event, 0, len(evs))
	args := make([]any, 0, 10*min(len(evs), auditRowsPerInsert))
	for start := 0; start < len(evs); start += auditRowsPerInsert {
		chunk := evs[start:min(len(evs), start+auditRowsPerInsert)]
		args = args[:0]
		for _, e := range chunk {
			if err := checkAuditLink(prevSeq, prevHash, e); err != nil {
				return nil, err
			}
			args = append(args, e.Seq, micros(e.Time), e.Actor, e.Action, e.Target, e.Result, e.RequestID, e.Detail, e.PrevHash, e.Hash)
			e.Time = fromMicros(sql.NullInt64{Int64: micros(e.Time), Valid: true})
			out = append(out, e)
			prevSeq, prevHash = e.Seq, e.Hash
		}
		if _, err := c.exec(ctx, insertAudit[len(chunk)-1], args...); err != nil {
			return nil, fail(err, "insert audit event")
		}
	}
	if _, err := c.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, prevSeq, prevHash); err != nil {
		return nil, fail(err, "move audit head")
	}
	return out, nil
}

// ListAudit returns up to limit events with Seq > after, in Seq order. limit must be positive.
func (db *DB) ListAudit(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	if err := db.syncAudit(ctx); err != nil {
		return nil, err
	}
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

var _ audit.QueryStore = (*DB)(nil)

// maxAuditQuery bounds a QueryAudit page.
const maxAuditQuery = 1000

// QueryAudit returns up to q.Limit events matching q (see audit.Query), in seq order, descending
// when q.Newest. The filters are SQL conditions over migration 0017's indexes on audit_keys: one
// actor, an action and the actions under it, a target or a target prefix are index ranges in seq
// order. audit_keys holds the events up to its watermark W (FoldAuditKeys); the tail above W is
// read from audit_events with the same conditions (it is small: about a second of events), so the
// answer is exact. Newest first reads the tail, then the folded part for the rest of the page;
// oldest first the other way round. A query without an indexed filter (none, or a result only)
// reads audit_events alone, in seq order, as it needs no index.
// On SQLite the query names the index of its most selective filter (INDEXED BY), since without
// statistics SQLite would rather walk the whole chain in seq order than sort a range: actor, then
// target, then action, then a time window with an end.
func (db *DB) QueryAudit(ctx context.Context, q audit.Query) ([]audit.Event, error) {
	if err := db.syncAudit(ctx); err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.Limit > maxAuditQuery {
		return nil, errs.E(errs.Invalid, "store: audit query limit must be 1 to %d, not %d", maxAuditQuery, q.Limit)
	}
	aq, err := db.auditQuery(q)
	if err != nil {
		return nil, err
	}
	c := db.pool()
	if aq.folded == "" {
		rows, err := c.query(ctx, aq.tail, append(aq.args, q.Limit)...)
		return page(rows, err, scanAuditEvent, "audit events")
	}
	mark, err := auditMark(ctx, c)
	if err != nil {
		return nil, err
	}
	tail := func(n int) ([]audit.Event, error) {
		if q.Before > 0 && q.Before <= mark+1 {
			return nil, nil // the whole page is below the watermark
		}
		rows, err := c.query(ctx, aq.tail, append(aq.args, mark, n)...)
		return page(rows, err, scanAuditEvent, "audit events")
	}
	folded := func(n int) ([]audit.Event, error) {
		if q.After >= mark {
			return nil, nil // the whole page is above the watermark
		}
		rows, err := c.query(ctx, aq.folded, append(aq.args, mark, n)...)
		return page(rows, err, scanAuditEvent, "audit events")
	}
	first, second := folded, tail
	if q.Newest {
		first, second = tail, folded
	}
	evs, err := first(q.Limit)
	if err != nil || len(evs) == q.Limit {
		return evs, err
	}
	more, err := second(q.Limit - len(evs))
	if err != nil {
		return nil, err
	}
	return append(evs, more...), nil
}

// auditSQL is a QueryAudit's statements. Without an indexed filter, folded is "" and tail reads
// every event, taking args and the LIMIT; otherwise tail reads the events above the watermark
// and folded those at or below it, each taking args, the watermark and the LIMIT.
type auditSQL struct {
	tail, folded string
	args         []any
}

// auditQuery builds q's statements.
func (db *DB) auditQuery(q audit.Query) (auditSQL, error) {
	var (
		where []string
		args  []any
		index string
	)
	// The conditions name the filter columns as k.*: k is audit_keys in the folded part and
	// audit_events in the tail, which has the same columns.
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.After > 0 {
		add(`k.seq > ?`, q.After)
	}
	if q.Before > 0 {
		add(`k.seq < ?`, q.Before)
	}
	bin := db.d.binary
	if q.Action != "" {
		// [action, action+"/") holds action and action + "." + anything (and a few more, such as
		// action + "-x", which the exact condition then drops).
		hi := q.Action + "/"
		add(`k.action`+bin+` >= ? AND k.action`+bin+` < ? AND (k.action = ? OR substr(k.action, 1, ?) = ?)`,
			q.Action, hi, q.Action, utf8.RuneCountInString(q.Action)+1, q.Action+".")
		index = "audit_keys_action"
	}
	if q.Target != "" {
		if !utf8.ValidString(q.Target) {
			return auditSQL{}, errs.E(errs.Invalid, "store: audit target filter is not valid UTF-8")
		}
		if hi, ok := odata.PrefixEnd(q.Target); ok {
			add(`k.target`+bin+` >= ? AND k.target`+bin+` < ?`, q.Target, hi)
		} else {
			add(`k.target`+bin+` >= ?`, q.Target)
		}
		index = "audit_keys_target"
	}
	if q.Actor != "" {
		add(`k.actor = ?`, q.Actor)
		index = "audit_keys_actor" // exact: the index gives seq order with no sort
	}
	if q.Result != "" {
		add(`k.result = ?`, q.Result)
	}
	if !q.From.IsZero() {
		add(`k.time >= ?`, micros(q.From))
	}
	if !q.To.IsZero() {
		add(`k.time < ?`, micros(q.To))
		if index == "" {
			// A window that ends in the past: read its range of the time index rather than walk
			// the chain back from its end (a window open at the end, from alone, finds its newest
			// events at once in seq order).
			index = "audit_keys_time"
		}
	}
	if q.Actor == "" && q.Action == "" && q.Target == "" && q.From.IsZero() && q.To.IsZero() {
		return auditSQL{tail: auditTailQuery(where, q.Newest), args: args}, nil
	}
	folded := `SELECT ` + auditEventColumns + ` FROM audit_keys AS k`
	if index != "" {
		folded += db.d.indexedBy(index)
	}
	folded += ` JOIN audit_events AS e ON e.seq = k.seq WHERE ` + strings.Join(append(where[:len(where):len(where)], `k.seq <= ?`), ` AND `) +
		` ORDER BY k.seq` + desc(q.Newest) + ` LIMIT ?`
	return auditSQL{tail: auditTailQuery(append(where, `k.seq > ?`), q.Newest), folded: folded, args: args}, nil
}

// auditEventColumns is auditColumns of audit_events AS e.
var auditEventColumns = "e." + strings.ReplaceAll(auditColumns, ", ", ", e.")

// auditTailQuery selects from audit_events AS k by the conditions where, in seq order, with a
// LIMIT parameter.
func auditTailQuery(where []string, newest bool) string {
	query := `SELECT ` + auditColumns + ` FROM audit_events AS k`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return query + ` ORDER BY k.seq` + desc(newest) + ` LIMIT ?`
}

func desc(newest bool) string {
	if newest {
		return ` DESC`
	}
	return ""
}

func scanAuditEvent(s scanner) (audit.Event, error) {
	var (
		e audit.Event
		t sql.NullInt64
	)
	err := s.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Target, &e.Result, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash)
	e.Time = fromMicros(t)
	return e, err
}
