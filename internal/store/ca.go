package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/pki"
)

var _ pki.Store = (*DB)(nil)

// caID is the id of the CA's one row, which is also the ID in its sealed key's associated data.
const caID = "root"

// GetCA returns errs.NotFound when no CA exists yet.
func (db *DB) GetCA(ctx context.Context) (pki.CARecord, error) {
	var (
		ca      pki.CARecord
		created sql.NullInt64
	)
	err := db.pool().queryRow(ctx, `SELECT cert_der, sealed_key, kek_id, created_at FROM ca WHERE id = ?`, caID).
		Scan(&ca.CertDER, &ca.SealedKey, &ca.KEKID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return pki.CARecord{}, errs.E(errs.NotFound, "no CA yet")
	}
	if err != nil {
		return pki.CARecord{}, fail(err, "get CA")
	}
	ca.Created = fromMicros(created)
	return ca, nil
}

// CreateCA inserts the CA; errs.Conflict if one exists.
func (db *DB) CreateCA(ctx context.Context, ca pki.CARecord) error {
	return db.inTx(ctx, "CreateCA", "", func(c conn) error {
		ok, err := c.execOne(ctx, `INSERT INTO ca (id, cert_der, sealed_key, kek_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			caID, ca.CertDER, ca.SealedKey, ca.KEKID, micros(ca.Created))
		if err != nil {
			return fail(err, "create CA")
		}
		if !ok {
			return errs.E(errs.Conflict, "a CA exists already")
		}
		return nil
	})
}
