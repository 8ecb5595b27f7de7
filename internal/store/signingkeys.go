package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/token"
)

var _ token.Store = (*DB)(nil)

const keyColumns = `id, alg, cert_der, sealed_key, kek_id, created_at, activate_at, retire_at, drop_at`

// ListSigningKeys returns every stored key, oldest first.
func (db *DB) ListSigningKeys(ctx context.Context) ([]token.KeyRecord, error) {
	return listSigningKeys(ctx, db.pool())
}

func listSigningKeys(ctx context.Context, c conn) ([]token.KeyRecord, error) {
	rows, err := c.query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fail(err, "list signing keys")
	}
	defer rows.Close()
	var ks []token.KeyRecord
	for rows.Next() {
		var (
			k                                   token.KeyRecord
			created, activate, retire, dropTime sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Alg, &k.CertDER, &k.SealedKey, &k.KEKID, &created, &activate, &retire, &dropTime); err != nil {
			return nil, fail(err, "list signing keys")
		}
		k.CreatedAt, k.ActivateAt = fromMicros(created), fromMicros(activate)
		k.RetireAt, k.DropAt = fromMicros(retire), fromMicros(dropTime)
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list signing keys")
	}
	return ks, nil
}

// UpdateSigningKeys runs fn in one transaction holding the installation-wide signing-key lock
// (a PostgreSQL advisory transaction lock; on SQLite the immediate transaction is the lock), with
// the keys as they are, and writes the change fn returns: the new key, if any, and the retire and
// drop times of existing keys. fn's error is returned as it is and nothing is written. A new key
// whose id exists is errs.Conflict; retire times for an unknown key are errs.NotFound; either
// way the whole change is rolled back.
func (db *DB) UpdateSigningKeys(ctx context.Context, fn func(keys []token.KeyRecord) (token.KeyChange, error)) error {
	return db.inTx(ctx, "UpdateSigningKeys", lockSigningKeys, func(c conn) error {
		keys, err := listSigningKeys(ctx, c)
		if err != nil {
			return err
		}
		ch, err := fn(keys)
		if err != nil {
			return err
		}
		if k := ch.Insert; k != nil {
			if k.ID == "" {
				return errs.E(errs.Invalid, "store: signing key has no id")
			}
			ok, err := c.execOne(ctx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				k.ID, k.Alg, k.CertDER, k.SealedKey, k.KEKID, micros(k.CreatedAt), micros(k.ActivateAt),
				nullMicros(k.RetireAt), nullMicros(k.DropAt))
			if err != nil {
				return fail(err, "insert signing key")
			}
			if !ok {
				return errs.E(errs.Conflict, "signing key %s exists", k.ID)
			}
		}
		ids := make([]string, 0, len(ch.Retire))
		for id := range ch.Retire {
			ids = append(ids, id)
		}
		slices.Sort(ids) // a fixed order, so that concurrent writers lock rows alike
		for _, id := range ids {
			rt := ch.Retire[id]
			ok, err := c.execOne(ctx, `UPDATE signing_keys SET retire_at = ?, drop_at = ? WHERE id = ?`,
				nullMicros(rt.RetireAt), nullMicros(rt.DropAt), id)
			if err != nil {
				return fail(err, "retire signing key")
			}
			if !ok {
				return errs.E(errs.NotFound, "signing key %s not found", id)
			}
		}
		if db.pgcfg != nil && (ch.Insert != nil || len(ch.Retire) > 0) {
			if _, err := c.exec(ctx, notifyQuery, ChangeSigningKeys); err != nil {
				return fail(err, "announce the signing keys' change")
			}
		}
		return nil
	})
}

// signingKeysVersionQuery sums up the table in one row that every change UpdateSigningKeys can
// make moves: an insert raises the count; a retirement sets retire_at and drop_at from NULL or
// moves them earlier, and one step's moves cannot cancel out in both sums (a time set from NULL
// adds about 1.8e15 µs, a move earlier subtracts less than that). A rewrap under a new KEK
// (rotate-kek) does not move it: it changes no key in use.
const signingKeysVersionQuery = `SELECT count(*), CAST(coalesce(max(created_at), 0) AS BIGINT),
	CAST(coalesce(sum(coalesce(retire_at, 0)), 0) AS BIGINT), CAST(coalesce(sum(coalesce(drop_at, 0)), 0) AS BIGINT)
	FROM signing_keys`

// SigningKeysVersion returns a value that changes whenever a signing key is added, retired or
// rescheduled: one aggregate read of a table of a few rows, cheap enough to make several times a
// second on every server.
func (db *DB) SigningKeysVersion(ctx context.Context) (string, error) {
	var n, created, retire, drop int64
	if err := db.pool().queryRow(ctx, signingKeysVersionQuery).Scan(&n, &created, &retire, &drop); err != nil {
		return "", fail(err, "signing keys version")
	}
	return fmt.Sprintf("%d/%d/%d/%d", n, created, retire, drop), nil
}
