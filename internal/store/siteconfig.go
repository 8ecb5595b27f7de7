package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// A site's configuration documents (migration 0010): one row per (site, document name), removed
// with the site by ON DELETE CASCADE.

// GetSiteConfig returns the document name (lower case) of the site siteKey in tenantID:
// errs.NotFound when it was never written (or the site is not the tenant's).
func (db *DB) GetSiteConfig(ctx context.Context, tenantID, siteKey, name string) (json.RawMessage, error) {
	var body string
	err := db.pool().queryRow(ctx, `SELECT c.body FROM resources_site_configs c JOIN resources r ON r.id_key = c.resource_key
		WHERE c.resource_key = ? AND c.name = ? AND r.tenant_id = ?`, siteKey, name, tenantID).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errs.E(errs.NotFound, "config %s of %s not found", name, siteKey)
	case err != nil:
		return nil, fail(err, "read site config")
	}
	return json.RawMessage(body), nil
}

// PutSiteConfig writes the document name of the site siteKey in tenantID, replacing it:
// errs.NotFound when the tenant has no such resource.
func (db *DB) PutSiteConfig(ctx context.Context, tenantID, siteKey, name string, body json.RawMessage, at time.Time) error {
	return db.inTx(ctx, "put site config", "", func(c conn) error {
		var one int
		err := c.queryRow(ctx, `SELECT 1 FROM resources WHERE id_key = ? AND tenant_id = ?`, siteKey, tenantID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errs.E(errs.NotFound, "resource %s not found", siteKey)
		case err != nil:
			return fail(err, "put site config: find the site")
		}
		_, err = c.exec(ctx, `INSERT INTO resources_site_configs (resource_key, name, body, changed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (resource_key, name) DO UPDATE SET body = excluded.body, changed_at = excluded.changed_at`,
			siteKey, name, string(body), micros(at))
		if err != nil {
			return fail(err, "put site config")
		}
		return nil
	})
}
