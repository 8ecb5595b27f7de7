package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/pki"
)

var (
	_ pki.Store        = (*DB)(nil)
	_ pki.SandboxStore = (*DB)(nil)
)

// A root's table and the id of its one row, which is also the ID in its sealed key's associated
// data (pki.CAKeyAD, pki.SandboxCAKeyAD).
type rootRow struct{ table, id, what, op string }

var (
	lanyardRoot = rootRow{"ca", "root", "CA", "CreateCA"}
	sandboxRoot = rootRow{"sandbox_ca", "sandbox", "sandbox CA", "CreateSandboxCA"}
)

// GetCA returns errs.NotFound when no CA exists yet.
func (db *DB) GetCA(ctx context.Context) (pki.CARecord, error) { return db.getRoot(ctx, lanyardRoot) }

// CreateCA inserts the CA; errs.Conflict if one exists.
func (db *DB) CreateCA(ctx context.Context, ca pki.CARecord) error {
	return db.createRoot(ctx, lanyardRoot, ca)
}

// GetSandboxCA returns errs.NotFound when no sandbox CA exists yet.
func (db *DB) GetSandboxCA(ctx context.Context) (pki.CARecord, error) {
	return db.getRoot(ctx, sandboxRoot)
}

// CreateSandboxCA inserts the sandbox CA; errs.Conflict if one exists.
func (db *DB) CreateSandboxCA(ctx context.Context, ca pki.CARecord) error {
	return db.createRoot(ctx, sandboxRoot, ca)
}

func (db *DB) getRoot(ctx context.Context, rt rootRow) (pki.CARecord, error) {
	var (
		ca      pki.CARecord
		created sql.NullInt64
	)
	err := db.pool().queryRow(ctx, `SELECT cert_der, sealed_key, kek_id, created_at FROM `+rt.table+` WHERE id = ?`, rt.id).
		Scan(&ca.CertDER, &ca.SealedKey, &ca.KEKID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return pki.CARecord{}, errs.E(errs.NotFound, "no %s yet", rt.what)
	}
	if err != nil {
		return pki.CARecord{}, fail(err, "get "+rt.what)
	}
	ca.Created = fromMicros(created)
	return ca, nil
}

func (db *DB) createRoot(ctx context.Context, rt rootRow, ca pki.CARecord) error {
	return db.inTx(ctx, rt.op, "", func(c conn) error {
		ok, err := c.execOne(ctx, `INSERT INTO `+rt.table+` (id, cert_der, sealed_key, kek_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			rt.id, ca.CertDER, ca.SealedKey, ca.KEKID, micros(ca.Created))
		if err != nil {
			return fail(err, "create "+rt.what)
		}
		if !ok {
			return errs.E(errs.Conflict, "a %s exists already", rt.what)
		}
		return nil
	})
}
