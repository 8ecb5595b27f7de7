package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/appservice"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// Function apps (migration 0015): deployment packages and the deployments that name them,
// function keys (sealed) and timer claims.

var _ appservice.Store = (*DB)(nil)

// siteExists checks, in c, that the tenant has the resource siteKey.
func siteExists(ctx context.Context, c conn, tenantID, siteKey, op string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM resources WHERE id_key = ? AND tenant_id = ?`, siteKey, tenantID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errs.E(errs.NotFound, "resource %s not found", siteKey)
	case err != nil:
		return fail(err, op+": find the site")
	}
	return nil
}

// siteChanged tells the tenant's agents, in c, that a site's settings changed.
func siteChanged(ctx context.Context, c conn, tenantID string, at time.Time, op string) error {
	if _, err := c.exec(ctx, `INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (?, ?, '', ?)`,
		tenantID, agentapi.EventSiteChanged, at.Unix()); err != nil {
		return fail(err, op+": event")
	}
	return nil
}

// DeploySitePackage stores a package and makes it the site's current one (see appservice.Store).
func (db *DB) DeploySitePackage(ctx context.Context, tenantID, siteKey, digest string, body []byte, doc json.RawMessage, keep int, at time.Time) error {
	const op = "deploy site package"
	return db.inTx(ctx, op, "", func(c conn) error {
		if err := siteExists(ctx, c, tenantID, siteKey, op); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `INSERT INTO site_packages (tenant_id, digest, size, body, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, digest) DO NOTHING`, tenantID, digest, int64(len(body)), body, micros(at)); err != nil {
			return fail(err, op+": package")
		}
		if _, err := c.exec(ctx, `INSERT INTO site_deployments (resource_key, digest, deployed_at) VALUES (?, ?, ?)
			ON CONFLICT (resource_key, digest) DO UPDATE SET deployed_at = excluded.deployed_at`, siteKey, digest, micros(at)); err != nil {
			return fail(err, op+": deployment")
		}
		// Keep the site's keep newest deployments (the one just made among them).
		if _, err := c.exec(ctx, `DELETE FROM site_deployments WHERE resource_key = ? AND digest <> ? AND digest NOT IN (
			SELECT digest FROM site_deployments WHERE resource_key = ? ORDER BY deployed_at DESC, digest LIMIT ?)`,
			siteKey, digest, siteKey, keep); err != nil {
			return fail(err, op+": forget old deployments")
		}
		// The tenant's packages that no deployment of any of its sites names are garbage.
		if _, err := c.exec(ctx, `DELETE FROM site_packages WHERE tenant_id = ? AND NOT EXISTS (
			SELECT 1 FROM site_deployments d JOIN resources r ON r.id_key = d.resource_key
			WHERE r.tenant_id = site_packages.tenant_id AND d.digest = site_packages.digest)`, tenantID); err != nil {
			return fail(err, op+": collect packages")
		}
		if _, err := c.exec(ctx, `INSERT INTO resources_site_configs (resource_key, name, body, changed_at) VALUES (?, 'deployment', ?, ?)
			ON CONFLICT (resource_key, name) DO UPDATE SET body = excluded.body, changed_at = excluded.changed_at`,
			siteKey, string(doc), micros(at)); err != nil {
			return fail(err, op+": config")
		}
		return siteChanged(ctx, c, tenantID, at, op)
	})
}

// GetSitePackage returns the tenant's package digest: errs.NotFound when it has none.
func (db *DB) GetSitePackage(ctx context.Context, tenantID, digest string) ([]byte, error) {
	var body []byte
	err := db.pool().queryRow(ctx, `SELECT body FROM site_packages WHERE tenant_id = ? AND digest = ?`, tenantID, digest).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errs.E(errs.NotFound, "package %s not found", digest)
	case err != nil:
		return nil, fail(err, "read site package")
	}
	return body, nil
}

// PackageSites returns the keys of the tenant's sites that were deployed with digest (the current
// package or one of the few kept before it), in order.
func (db *DB) PackageSites(ctx context.Context, tenantID, digest string) ([]string, error) {
	rows, err := db.pool().query(ctx, `SELECT d.resource_key FROM site_deployments d JOIN resources r ON r.id_key = d.resource_key
		WHERE r.tenant_id = ? AND d.digest = ? ORDER BY d.resource_key`, tenantID, digest)
	if err != nil {
		return nil, fail(err, "package sites")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fail(err, "package sites")
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "package sites")
	}
	return out, nil
}

// ListFunctionKeys returns a site's keys by scope and name (none for another tenant's site).
func (db *DB) ListFunctionKeys(ctx context.Context, tenantID, siteKey string) ([]appservice.FunctionKey, error) {
	rows, err := db.pool().query(ctx, `SELECT k.id, k.scope, k.name, k.kek_id, k.sealed_value, k.created_at FROM site_function_keys k
		JOIN resources r ON r.id_key = k.resource_key WHERE k.resource_key = ? AND r.tenant_id = ? ORDER BY k.scope, k.name`, siteKey, tenantID)
	if err != nil {
		return nil, fail(err, "list function keys")
	}
	defer rows.Close()
	var out []appservice.FunctionKey
	for rows.Next() {
		var k appservice.FunctionKey
		var created sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Scope, &k.Name, &k.KEKID, &k.Sealed, &created); err != nil {
			return nil, fail(err, "list function keys")
		}
		k.Created = fromMicros(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list function keys")
	}
	return out, nil
}

func insertFunctionKey(ctx context.Context, c conn, siteKey string, k appservice.FunctionKey) (bool, error) {
	return c.execOne(ctx, `INSERT INTO site_function_keys (id, resource_key, scope, name, kek_id, sealed_value, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resource_key, scope, name) DO NOTHING`,
		k.ID, siteKey, k.Scope, k.Name, k.KEKID, k.Sealed, micros(k.Created))
}

// AddFunctionKey inserts k unless the site has a key of its scope and name.
func (db *DB) AddFunctionKey(ctx context.Context, tenantID, siteKey string, k appservice.FunctionKey) (bool, error) {
	const op = "add function key"
	var added bool
	err := db.inTx(ctx, op, "", func(c conn) error {
		if err := siteExists(ctx, c, tenantID, siteKey, op); err != nil {
			return err
		}
		var err error
		if added, err = insertFunctionKey(ctx, c, siteKey, k); err != nil {
			return fail(err, op)
		}
		if !added {
			return nil
		}
		return siteChanged(ctx, c, tenantID, k.Created, op)
	})
	return added, err
}

// PutFunctionKey inserts k, replacing the site's key of its scope and name.
func (db *DB) PutFunctionKey(ctx context.Context, tenantID, siteKey string, k appservice.FunctionKey) (bool, error) {
	const op = "put function key"
	var created bool
	err := db.inTx(ctx, op, "", func(c conn) error {
		if err := siteExists(ctx, c, tenantID, siteKey, op); err != nil {
			return err
		}
		res, err := c.exec(ctx, `DELETE FROM site_function_keys WHERE resource_key = ? AND scope = ? AND name = ?`, siteKey, k.Scope, k.Name)
		if err != nil {
			return fail(err, op)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fail(err, op)
		}
		created = n == 0
		if _, err := insertFunctionKey(ctx, c, siteKey, k); err != nil {
			return fail(err, op)
		}
		return siteChanged(ctx, c, tenantID, k.Created, op)
	})
	return created, err
}

// DeleteFunctionKey deletes a site's key; found false when there was none.
func (db *DB) DeleteFunctionKey(ctx context.Context, tenantID, siteKey, scope, name string, now time.Time) (bool, error) {
	const op = "delete function key"
	var found bool
	err := db.inTx(ctx, op, "", func(c conn) error {
		if err := siteExists(ctx, c, tenantID, siteKey, op); err != nil {
			return err
		}
		var err error
		if found, err = c.execOne(ctx, `DELETE FROM site_function_keys WHERE resource_key = ? AND scope = ? AND name = ?`, siteKey, scope, name); err != nil {
			return fail(err, op)
		}
		if !found {
			return nil
		}
		return siteChanged(ctx, c, tenantID, now, op)
	})
	return found, err
}

// timerClaimRetention is how long claims are kept: a tick older than that is not claimed twice
// because no agent asks for it any more (agents claim ticks as they fall due).
const timerClaimRetention = 24 * time.Hour

// ClaimTimer claims one tick of a site's timer function for nodeID: true for the first node
// that asks (and again for that node), false for every other. This function's claims older
// than a day are pruned on the way (through the primary key's prefix, not a table scan).
func (db *DB) ClaimTimer(ctx context.Context, siteKey, function string, tick time.Time, nodeID string, now time.Time) (bool, error) {
	const op = "claim timer"
	var claimed bool
	err := db.inTx(ctx, op, "", func(c conn) error {
		if _, err := c.exec(ctx, `DELETE FROM site_timer_claims WHERE resource_key = ? AND func_name = ? AND claimed_at < ?`,
			siteKey, function, micros(now.Add(-timerClaimRetention))); err != nil {
			return fail(err, op+": prune")
		}
		if _, err := c.exec(ctx, `INSERT INTO site_timer_claims (resource_key, func_name, tick, node_id, claimed_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (resource_key, func_name, tick) DO NOTHING`, siteKey, function, micros(tick), nodeID, micros(now)); err != nil {
			return fail(err, op)
		}
		var holder string
		if err := c.queryRow(ctx, `SELECT node_id FROM site_timer_claims WHERE resource_key = ? AND func_name = ? AND tick = ?`,
			siteKey, function, micros(tick)).Scan(&holder); err != nil {
			return fail(err, op+": read")
		}
		claimed = holder == nodeID
		return nil
	})
	return claimed, err
}

// PruneSitePackages deletes the packages that no deployment names any more (those of deleted
// sites: a deploy collects its own tenant's), and returns how many it deleted.
func (db *DB) PruneSitePackages(ctx context.Context) (int64, error) {
	res, err := db.pool().exec(ctx, `DELETE FROM site_packages WHERE NOT EXISTS (
		SELECT 1 FROM site_deployments d JOIN resources r ON r.id_key = d.resource_key
		WHERE r.tenant_id = site_packages.tenant_id AND d.digest = site_packages.digest)`)
	if err != nil {
		return 0, fail(err, "prune site packages")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fail(err, "prune site packages")
	}
	return n, nil
}
