package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

var _ rbac.Store = (*DB)(nil)

const rbacAssignmentColumns = `tenant_id, id, scope, role_definition_id, principal_id, principal_type, description, created_at, created_by`

// CreateRoleAssignment inserts a. errs.Conflict when the tenant has an assignment with a's id, or
// one of the same principal, role and scope (compared by lower-cased scope); errs.NotFound when
// a's principal is not a service principal (or its tenant not a tenant).
func (db *DB) CreateRoleAssignment(ctx context.Context, a rbac.Assignment) error {
	if a.TenantID == "" || a.ID == "" || a.Scope == "" || a.RoleDefinitionID == "" || a.PrincipalID == "" {
		return errs.E(errs.Invalid, "store: role assignment lacks a tenant, id, scope, role or principal")
	}
	return db.inTx(ctx, "CreateRoleAssignment", "", func(c conn) error {
		ok, err := c.execOne(ctx, `INSERT INTO rbac_role_assignments (`+rbacAssignmentColumns+`, scope_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.TenantID, a.ID, a.Scope, a.RoleDefinitionID, a.PrincipalID, a.PrincipalType, a.Description,
			micros(a.Created), a.CreatedBy, strings.ToLower(a.Scope))
		switch {
		case rbacForeignKeyViolation(err):
			return errs.Wrap(errs.NotFound, err, "principal "+a.PrincipalID+" is not a service principal of the tenant")
		case err != nil:
			return fail(err, "create role assignment")
		case !ok:
			return errs.E(errs.Conflict, "role assignment %s exists, or its principal holds its role at its scope", a.ID)
		}
		return nil
	})
}

// GetRoleAssignment returns errs.NotFound for an unknown id.
func (db *DB) GetRoleAssignment(ctx context.Context, tenantID, id string) (rbac.Assignment, error) {
	a, err := scanRBACAssignment(db.pool().queryRow(ctx,
		`SELECT `+rbacAssignmentColumns+` FROM rbac_role_assignments WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return rbac.Assignment{}, errs.E(errs.NotFound, "role assignment %s not found", id)
	}
	if err != nil {
		return rbac.Assignment{}, fail(err, "get role assignment")
	}
	return a, nil
}

// DeleteRoleAssignment deletes the assignment and returns it; errs.NotFound for an unknown id.
func (db *DB) DeleteRoleAssignment(ctx context.Context, tenantID, id string) (rbac.Assignment, error) {
	var a rbac.Assignment
	err := db.inTx(ctx, "DeleteRoleAssignment", "", func(c conn) error {
		var err error
		a, err = scanRBACAssignment(c.queryRow(ctx,
			`DELETE FROM rbac_role_assignments WHERE tenant_id = ? AND id = ? RETURNING `+rbacAssignmentColumns, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(errs.NotFound, "role assignment %s not found", id)
		}
		if err != nil {
			return fail(err, "delete role assignment")
		}
		return nil
	})
	if err != nil {
		return rbac.Assignment{}, err
	}
	return a, nil
}

// ListRoleAssignments returns the assignments q selects, ordered by scope key then id.
func (db *DB) ListRoleAssignments(ctx context.Context, tenantID string, q rbac.AssignmentQuery) ([]rbac.Assignment, error) {
	var (
		where []string
		args  = []any{tenantID}
	)
	if len(q.AtScopes) > 0 {
		where = append(where, `scope_key IN (?`+strings.Repeat(`, ?`, len(q.AtScopes)-1)+`)`)
		for _, s := range q.AtScopes {
			args = append(args, s)
		}
	}
	if q.Below != "" {
		// substr counts characters in both dialects; so does RuneCountInString.
		where = append(where, `substr(scope_key, 1, ?) = ?`)
		args = append(args, utf8.RuneCountInString(q.Below), q.Below)
	}
	if len(where) == 0 {
		return nil, nil
	}
	query := `SELECT ` + rbacAssignmentColumns + ` FROM rbac_role_assignments WHERE tenant_id = ? AND (` +
		strings.Join(where, ` OR `) + `)`
	if q.PrincipalID != "" {
		query += ` AND principal_id = ?`
		args = append(args, q.PrincipalID)
	}
	if q.After != nil {
		query += ` AND (scope_key > ? OR (scope_key = ? AND id > ?))`
		args = append(args, q.After.ScopeKey, q.After.ScopeKey, q.After.ID)
	}
	query += ` ORDER BY scope_key, id`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := db.pool().query(ctx, query, args...)
	if err != nil {
		return nil, fail(err, "list role assignments")
	}
	defer rows.Close()
	var out []rbac.Assignment
	for rows.Next() {
		a, err := scanRBACAssignment(rows)
		if err != nil {
			return nil, fail(err, "list role assignments")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list role assignments")
	}
	return out, nil
}

// principalGrantsQuery reads the tenant's RBAC generation and one principal's assignments in one
// statement, so that both come from the same snapshot. A tenant without a generation row has never
// had an assignment (the first insert creates the row): no rows at all mean generation 0, no grants.
const principalGrantsQuery = `SELECT g.gen, a.scope_key, a.role_definition_id FROM rbac_generations g
	LEFT JOIN rbac_role_assignments a ON a.tenant_id = g.tenant_id AND a.principal_id = ?
	WHERE g.tenant_id = ?`

// rbacGenerationQuery is the generation alone: the one read of a decision that reuses grants.
const rbacGenerationQuery = `SELECT gen FROM rbac_generations WHERE tenant_id = ?`

// PrincipalGrants returns the tenant's RBAC generation and the scope key and role of every
// assignment of principalID, as of one moment: the assignments are those of that generation.
// The assignments come from the rbac_role_assignments_principal index alone.
func (db *DB) PrincipalGrants(ctx context.Context, tenantID, principalID string) (int64, []rbac.Grant, error) {
	rows, err := db.hotPool().query(ctx, principalGrantsQuery, principalID, tenantID)
	if err != nil {
		return 0, nil, fail(err, "read role assignments")
	}
	defer rows.Close()
	var (
		gen int64
		out []rbac.Grant
	)
	for rows.Next() {
		var scope, role sql.NullString
		if err := rows.Scan(&gen, &scope, &role); err != nil {
			return 0, nil, fail(err, "read role assignments")
		}
		if scope.Valid {
			out = append(out, rbac.Grant{ScopeKey: scope.String, RoleDefinitionID: role.String})
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fail(err, "read role assignments")
	}
	return gen, out, nil
}

// RBACGeneration returns the tenant's RBAC generation: a number every change to its role
// assignments raises in the transaction of the change (migration 0007); 0 for a tenant that has
// never had one.
func (db *DB) RBACGeneration(ctx context.Context, tenantID string) (int64, error) {
	var gen int64
	err := db.hotPool().queryRow(ctx, rbacGenerationQuery, tenantID).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fail(err, "read the RBAC generation")
	}
	return gen, nil
}

func scanRBACAssignment(s scanner) (rbac.Assignment, error) {
	var (
		a       rbac.Assignment
		created sql.NullInt64
	)
	err := s.Scan(&a.TenantID, &a.ID, &a.Scope, &a.RoleDefinitionID, &a.PrincipalID, &a.PrincipalType,
		&a.Description, &created, &a.CreatedBy)
	if err != nil {
		return rbac.Assignment{}, err
	}
	a.Created = fromMicros(created)
	return a, nil
}

// rbacForeignKeyViolation reports whether err is a foreign key constraint failure.
func rbacForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
