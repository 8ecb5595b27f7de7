package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

var _ tenant.Store = (*DB)(nil)

const tenantColumns = `id, name, is_default, created_at`

// CreateTenant inserts t; errs.Conflict if its id exists, or if t.Default and a default tenant
// exists already.
func (db *DB) CreateTenant(ctx context.Context, t tenant.Tenant) error {
	if t.ID == "" {
		return errs.E(errs.Invalid, "store: tenant has no id")
	}
	return db.inTx(ctx, "CreateTenant", "", func(c conn) error {
		// ON CONFLICT DO NOTHING covers the primary key and the one-default index alike.
		ok, err := c.execOne(ctx, `INSERT INTO tenants (`+tenantColumns+`) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			t.ID, t.Name, t.Default, micros(t.Created))
		if err != nil {
			return fail(err, "create tenant")
		}
		if ok {
			return nil
		}
		var one int
		err = c.queryRow(ctx, `SELECT 1 FROM tenants WHERE id = ?`, t.ID).Scan(&one)
		switch {
		case err == nil:
			return errs.E(errs.Conflict, "tenant %s exists", t.ID)
		case !errors.Is(err, sql.ErrNoRows):
			return fail(err, "create tenant")
		case t.Default:
			return errs.E(errs.Conflict, "a default tenant exists already")
		}
		return errs.E(errs.Internal, "store: create tenant %s: conflict on no known constraint", t.ID)
	})
}

// GetTenant returns errs.NotFound for an unknown id.
func (db *DB) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	t, err := scanTenant(db.pool().queryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return tenant.Tenant{}, errs.E(errs.NotFound, "tenant %s not found", id)
	}
	if err != nil {
		return tenant.Tenant{}, fail(err, "get tenant")
	}
	return t, nil
}

// ListTenants returns every tenant, oldest first.
func (db *DB) ListTenants(ctx context.Context) ([]tenant.Tenant, error) {
	rows, err := db.pool().query(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, fail(err, "list tenants")
	}
	defer rows.Close()
	var ts []tenant.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fail(err, "list tenants")
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list tenants")
	}
	return ts, nil
}

// DefaultTenant returns the default tenant, errs.NotFound if none exists yet.
func (db *DB) DefaultTenant(ctx context.Context) (tenant.Tenant, error) {
	t, err := scanTenant(db.pool().queryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE is_default`))
	if errors.Is(err, sql.ErrNoRows) {
		return tenant.Tenant{}, errs.E(errs.NotFound, "no default tenant yet")
	}
	if err != nil {
		return tenant.Tenant{}, fail(err, "get default tenant")
	}
	return t, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanTenant(s scanner) (tenant.Tenant, error) {
	var (
		t       tenant.Tenant
		created sql.NullInt64
	)
	if err := s.Scan(&t.ID, &t.Name, &t.Default, &created); err != nil {
		return tenant.Tenant{}, err
	}
	t.Created = fromMicros(created)
	return t, nil
}
