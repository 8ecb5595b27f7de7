package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

var _ seal.RotateStore = (*DB)(nil)

// sealedColumn is one column holding sealed values. Its Table, the row's id and its Purpose are
// the associated data the value is sealed with, so they must be exactly what the owning domain
// uses when it seals.
type sealedColumn struct {
	Table    string // also the table's name in SQL
	IDColumn string // the column whose value is the AD's ID
	Purpose  string
	Blob     string // the sealed bytes
	KEK      string // the id of the KEK that wraps the blob's data key
}

// sealedColumns is every sealed column in the schema. A table that stores a sealed value adds
// one line here, and KEK rotation covers it; TestSealedColumnsRegistered fails until it does.
var sealedColumns = []sealedColumn{
	{Table: "signing_keys", IDColumn: "id", Purpose: "private-key", Blob: "sealed_key", KEK: "kek_id"},
	{Table: "ca", IDColumn: "id", Purpose: "private-key", Blob: "sealed_key", KEK: "kek_id"},
	{Table: "sandbox_ca", IDColumn: "id", Purpose: "private-key", Blob: "sealed_key", KEK: "kek_id"},
	{Table: "vault_secret_versions", IDColumn: "id", Purpose: "value", Blob: "sealed_value", KEK: "kek_id"},
	{Table: "vault_backup_keys", IDColumn: "id", Purpose: "key", Blob: "sealed_key", KEK: "kek_id"},
	{Table: "audit_checkpoint_keys", IDColumn: "id", Purpose: "private-key", Blob: "sealed_key", KEK: "kek_id"},
	{Table: "site_function_keys", IDColumn: "id", Purpose: "value", Blob: "sealed_value", KEK: "kek_id"},
}

func sealedColumnOf(s seal.Sealed) (sealedColumn, bool) {
	for _, sc := range sealedColumns {
		if sc.Table == s.Table && sc.Purpose == s.Purpose {
			return sc, true
		}
	}
	return sealedColumn{}, false
}

// ListSealedNotUnder returns up to limit sealed values whose KEK id is not kekID, table by table
// in sealedColumns order and by id within a table.
func (db *DB) ListSealedNotUnder(ctx context.Context, kekID string, limit int) ([]seal.Sealed, error) {
	if limit <= 0 {
		return nil, errs.E(errs.Invalid, "store: sealed list limit must be positive, not %d", limit)
	}
	var out []seal.Sealed
	for _, sc := range sealedColumns {
		if len(out) == limit {
			break
		}
		rows, err := db.pool().query(ctx, `SELECT `+sc.IDColumn+`, `+sc.KEK+`, `+sc.Blob+` FROM `+sc.Table+
			` WHERE `+sc.KEK+` <> ? AND `+sc.Blob+` IS NOT NULL ORDER BY `+sc.IDColumn+` LIMIT ?`, kekID, limit-len(out))
		if err != nil {
			return nil, fail(err, "list sealed values in "+sc.Table)
		}
		for rows.Next() {
			s := seal.Sealed{Table: sc.Table, Purpose: sc.Purpose}
			if err := rows.Scan(&s.ID, &s.KEKID, &s.Blob); err != nil {
				rows.Close()
				return nil, fail(err, "list sealed values in "+sc.Table)
			}
			out = append(out, s)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fail(err, "list sealed values in "+sc.Table)
		}
	}
	return out, nil
}

// CountSealedNotUnder counts sealed values whose KEK id is not kekID.
func (db *DB) CountSealedNotUnder(ctx context.Context, kekID string) (int, error) {
	total := 0
	for _, sc := range sealedColumns {
		var n int
		err := db.pool().queryRow(ctx, `SELECT COUNT(*) FROM `+sc.Table+` WHERE `+sc.KEK+` <> ? AND `+sc.Blob+` IS NOT NULL`, kekID).Scan(&n)
		if err != nil {
			return 0, fail(err, "count sealed values in "+sc.Table)
		}
		total += n
	}
	return total, nil
}

// ReplaceSealed writes newBlob and newKEKID for the value s names, only if its blob is still
// s.Blob: errs.Conflict if it changed (list again), errs.NotFound if its row is gone (nothing left
// to rotate), errs.Invalid if s names no sealed column.
func (db *DB) ReplaceSealed(ctx context.Context, s seal.Sealed, newBlob []byte, newKEKID string) error {
	sc, ok := sealedColumnOf(s)
	if !ok {
		return errs.E(errs.Invalid, "store: no sealed column for table %q purpose %q", s.Table, s.Purpose)
	}
	return db.inTx(ctx, "ReplaceSealed", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE `+sc.Table+` SET `+sc.Blob+` = ?, `+sc.KEK+` = ? WHERE `+sc.IDColumn+` = ? AND `+sc.Blob+` = ?`,
			newBlob, newKEKID, s.ID, s.Blob)
		if err != nil {
			return fail(err, "replace sealed value in "+sc.Table)
		}
		if ok {
			return nil
		}
		var one int
		err = c.queryRow(ctx, `SELECT 1 FROM `+sc.Table+` WHERE `+sc.IDColumn+` = ?`, s.ID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errs.E(errs.NotFound, "sealed %s %s of %s is gone", s.Purpose, s.ID, s.Table)
		case err != nil:
			return fail(err, "replace sealed value in "+sc.Table)
		}
		return errs.E(errs.Conflict, "sealed %s %s of %s changed meanwhile", s.Purpose, s.ID, s.Table)
	})
}
