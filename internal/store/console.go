package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/lanyardhq/lanyard/internal/console"
	"github.com/lanyardhq/lanyard/internal/errs"
)

var _ console.Store = (*DB)(nil)

const consoleSessionColumns = `id, secret_hash, tenant_id, principal_kind, principal_id, created_by, created_at, expires_at`

// CreateConsoleLoginLink stores a login link's hash; errs.NotFound if its tenant does not exist,
// errs.Conflict if the hash does.
func (db *DB) CreateConsoleLoginLink(ctx context.Context, l console.LoginLink) error {
	if l.Hash == "" || l.TenantID == "" || l.CreatedBy == "" {
		return errs.E(errs.Invalid, "store: login link lacks a hash, tenant or creator")
	}
	return db.inTx(ctx, "CreateConsoleLoginLink", "", func(c conn) error {
		ok, err := c.execOne(ctx, `INSERT INTO console_login_links (hash, tenant_id, created_by, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING`,
			l.Hash, l.TenantID, l.CreatedBy, micros(l.Created), micros(l.Expires))
		if rbacForeignKeyViolation(err) {
			return errs.E(errs.NotFound, "tenant %s not found", l.TenantID)
		}
		if err != nil {
			return fail(err, "create login link")
		}
		if !ok {
			return errs.E(errs.Conflict, "login link exists")
		}
		return nil
	})
}

// UseConsoleLoginLink marks the link used and stores the session it opens, in one transaction.
func (db *DB) UseConsoleLoginLink(ctx context.Context, hash string, now time.Time, s console.Session) (console.Session, error) {
	if s.ID == "" || s.SecretHash == "" || s.PrincipalKind == "" {
		return console.Session{}, errs.E(errs.Invalid, "store: session lacks an id, secret or principal")
	}
	err := db.inTx(ctx, "UseConsoleLoginLink", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE console_login_links SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
			micros(now), hash, micros(now))
		if err != nil {
			return fail(err, "use login link")
		}
		if !ok {
			return errs.E(errs.Denied, "the login link is unknown, expired or already used")
		}
		if err := c.queryRow(ctx, `SELECT tenant_id, created_by FROM console_login_links WHERE hash = ?`, hash).Scan(&s.TenantID, &s.CreatedBy); err != nil {
			return fail(err, "read login link")
		}
		if _, err := c.exec(ctx, `INSERT INTO console_sessions (`+consoleSessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.SecretHash, s.TenantID, s.PrincipalKind, s.PrincipalID, s.CreatedBy, micros(s.Created), micros(s.Expires)); err != nil {
			return fail(err, "create session")
		}
		return nil
	})
	if err != nil {
		return console.Session{}, err
	}
	return s, nil
}

// GetConsoleSession returns errs.NotFound for an unknown secret hash.
func (db *DB) GetConsoleSession(ctx context.Context, secretHash string) (console.Session, error) {
	var s console.Session
	var created, expires int64
	err := db.hotPool().queryRow(ctx, `SELECT `+consoleSessionColumns+` FROM console_sessions WHERE secret_hash = ?`, secretHash).
		Scan(&s.ID, &s.SecretHash, &s.TenantID, &s.PrincipalKind, &s.PrincipalID, &s.CreatedBy, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return console.Session{}, errs.E(errs.NotFound, "session not found")
	}
	if err != nil {
		return console.Session{}, fail(err, "get session")
	}
	s.Created = fromMicros(sql.NullInt64{Int64: created, Valid: true})
	s.Expires = fromMicros(sql.NullInt64{Int64: expires, Valid: true})
	return s, nil
}

// DeleteConsoleSession deletes a session; deleting one that is gone is not an error.
func (db *DB) DeleteConsoleSession(ctx context.Context, id string) error {
	return db.inTx(ctx, "DeleteConsoleSession", "", func(c conn) error {
		if _, err := c.exec(ctx, `DELETE FROM console_sessions WHERE id = ?`, id); err != nil {
			return fail(err, "delete session")
		}
		return nil
	})
}

// DeleteExpiredConsole deletes the sessions and login links that expired before now.
func (db *DB) DeleteExpiredConsole(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := db.inTx(ctx, "DeleteExpiredConsole", "", func(c conn) error {
		for _, q := range []string{
			`DELETE FROM console_sessions WHERE expires_at <= ?`,
			`DELETE FROM console_login_links WHERE expires_at <= ?`,
		} {
			res, err := c.exec(ctx, q, micros(now))
			if err != nil {
				return fail(err, "delete expired console sessions")
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}
