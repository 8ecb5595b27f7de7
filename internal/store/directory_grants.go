package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// App role assignments, groups and directory role assignments: the directory's rows that refer
// to service principals.

const assignmentSelect = `SELECT a.id, a.tenant_id, a.app_role_id, a.principal_id, a.resource_id, p.display_name, r.display_name, a.created_at
	FROM directory_app_role_assignments AS a
	JOIN directory_service_principals AS p ON p.id = a.principal_id
	JOIN directory_service_principals AS r ON r.id = a.resource_id`

func scanAssignment(s scanner) (directory.AppRoleAssignment, error) {
	var (
		a       directory.AppRoleAssignment
		created sql.NullInt64
	)
	err := s.Scan(&a.ID, &a.TenantID, &a.AppRoleID, &a.PrincipalID, &a.ResourceID, &a.PrincipalDisplayName, &a.ResourceDisplayName, &created)
	a.Created = fromMicros(created)
	return a, err
}

// spDisplayName reads a service principal's display name in the transaction of c, keeping the row
// from being deleted until the transaction ends.
func spDisplayName(ctx context.Context, c conn, tenantID, id string) (string, error) {
	var name string
	err := c.queryRow(ctx, `SELECT display_name FROM directory_service_principals WHERE tenant_id = ? AND id = ?`+c.d.keyShare(), tenantID, id).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", errs.E(errs.NotFound, "service principal %s not found", id)
	case err != nil:
		return "", fail(err, "read service principal")
	}
	return name, nil
}

// CreateAppRoleAssignment inserts a; errs.Conflict for a duplicate grant.
func (db *DB) CreateAppRoleAssignment(ctx context.Context, a directory.AppRoleAssignment) (directory.AppRoleAssignment, error) {
	if a.ID == "" || a.TenantID == "" || a.PrincipalID == "" || a.ResourceID == "" || a.AppRoleID == "" {
		return directory.AppRoleAssignment{}, errs.E(errs.Invalid, "store: app role assignment lacks a field")
	}
	err := db.inTx(ctx, "CreateAppRoleAssignment", "", func(c conn) error {
		var err error
		if a.PrincipalDisplayName, err = spDisplayName(ctx, c, a.TenantID, a.PrincipalID); err != nil {
			return err
		}
		if a.ResourceDisplayName, err = spDisplayName(ctx, c, a.TenantID, a.ResourceID); err != nil {
			return err
		}
		ok, err := c.execOne(ctx, `INSERT INTO directory_app_role_assignments (id, tenant_id, principal_id, resource_id, app_role_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, a.ID, a.TenantID, a.PrincipalID, a.ResourceID, a.AppRoleID, micros(a.Created))
		if err != nil {
			return fail(err, "create app role assignment")
		}
		if !ok {
			return errs.E(errs.Conflict, "principal %s holds app role %s of %s already", a.PrincipalID, a.AppRoleID, a.ResourceID)
		}
		return nil
	})
	if err != nil {
		return directory.AppRoleAssignment{}, err
	}
	a.Created = fromMicros(sql.NullInt64{Int64: micros(a.Created), Valid: true}) // as it reads back
	return a, nil
}

// GetAppRoleAssignment reads one app role assignment.
func (db *DB) GetAppRoleAssignment(ctx context.Context, tenantID, id string) (directory.AppRoleAssignment, error) {
	return one(db.pool().queryRow(ctx, assignmentSelect+` WHERE a.tenant_id = ? AND a.id = ?`, tenantID, id), scanAssignment, "app role assignment "+id)
}

// ListAppRoleAssignments pages through the assignments a principal holds or a resource grants.
func (db *DB) ListAppRoleAssignments(ctx context.Context, tenantID string, of directory.AssignmentsOf, afterID string, limit int) ([]directory.AppRoleAssignment, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	col, val := "a.principal_id", of.PrincipalID
	if of.PrincipalID == "" {
		col, val = "a.resource_id", of.ResourceID
	}
	if val == "" || (of.PrincipalID != "" && of.ResourceID != "") {
		return nil, errs.E(errs.Invalid, "store: list app role assignments of a principal or of a resource")
	}
	rows, err := db.pool().query(ctx, assignmentSelect+` WHERE `+col+` = ? AND a.tenant_id = ? AND a.id > ? ORDER BY a.id LIMIT ?`,
		val, tenantID, afterID, limit)
	return page(rows, err, scanAssignment, "app role assignments")
}

// DeleteAppRoleAssignment deletes one app role assignment.
func (db *DB) DeleteAppRoleAssignment(ctx context.Context, tenantID, id string) error {
	return db.deleteOne(ctx, "DeleteAppRoleAssignment", `DELETE FROM directory_app_role_assignments WHERE tenant_id = ? AND id = ?`,
		"app role assignment "+id, tenantID, id)
}

// AssignedAppRoleIDs returns the app role ids principalID holds on resourceID.
func (db *DB) AssignedAppRoleIDs(ctx context.Context, tenantID, principalID, resourceID string) ([]string, error) {
	rows, err := db.hotPool().query(ctx, `SELECT app_role_id FROM directory_app_role_assignments
		WHERE principal_id = ? AND resource_id = ? AND tenant_id = ? ORDER BY app_role_id`, principalID, resourceID, tenantID)
	return page(rows, err, scanString, "assigned app roles")
}

// tokenFactsColumns are TokenFacts' columns: the resource's id and app roles; the principal's
// id, appId, type, alternative names and enabled flag (NULL when there is no such principal);
// one app role id it holds on the resource per row (NULL when it holds none).
const tokenFactsColumns = `r.id, r.app_roles, p.id, p.app_id, p.sp_type, p.alternative_names, p.account_enabled, a.app_role_id`

// tokenFactsJoins are TokenFacts' joins after the resource r (its arguments: the principal's id).
const tokenFactsJoins = ` LEFT JOIN directory_service_principals AS p ON p.tenant_id = r.tenant_id AND p.id = ?
	LEFT JOIN directory_app_role_assignments AS a ON a.principal_id = p.id AND a.resource_id = r.id AND a.tenant_id = r.tenant_id`

// TokenFacts reads the resource, the principal and the principal's roles on the resource in one
// statement (the hot path of minting: one read instead of three).
//
// Called with a context from MintSnapshot, it answers from what was read at that generation when
// it can (mintmemo.go).
func (db *DB) TokenFacts(ctx context.Context, tenantID, principalID string, resource directory.Key) (directory.TokenFacts, error) {
	m := db.mintMemoOf(ctx)
	if m == nil {
		return db.tokenFacts(ctx, tenantID, principalID, resource)
	}
	k := tenantID + "\x00" + principalID + "\x00" + resource.AppID + "\x00" + resource.Name
	if v, ok := m.facts.Load(k); ok {
		return v.(directory.TokenFacts), nil
	}
	f, err := db.tokenFacts(ctx, tenantID, principalID, resource)
	if err == nil && m.keep() {
		m.facts.Store(k, f)
	}
	return f, err
}

func (db *DB) tokenFacts(ctx context.Context, tenantID, principalID string, resource directory.Key) (directory.TokenFacts, error) {
	var q string
	var args []any
	switch {
	case resource.AppID != "":
		q = `SELECT ` + tokenFactsColumns + ` FROM directory_service_principals AS r` + tokenFactsJoins +
			` WHERE r.tenant_id = ? AND r.app_id = ? ORDER BY a.app_role_id`
		args = []any{principalID, tenantID, resource.AppID}
	case resource.Name != "":
		q = `SELECT ` + tokenFactsColumns + ` FROM directory_identifier_uris AS n
			JOIN directory_service_principals AS r ON r.application_id = n.application_id` + tokenFactsJoins +
			` WHERE n.tenant_id = ? AND n.name = ? ORDER BY a.app_role_id`
		args = []any{principalID, tenantID, directory.NameKey(resource.Name)}
	default:
		return directory.TokenFacts{}, errs.E(errs.Invalid, "store: the resource key is empty")
	}
	rows, err := db.hotPool().query(ctx, q, args...)
	if err != nil {
		return directory.TokenFacts{}, fail(err, "read token facts")
	}
	defer rows.Close()
	var f directory.TokenFacts
	found := false
	for rows.Next() {
		var (
			resID, resRoles         string
			pid, pApp, pType, pAlts sql.NullString
			pEnabled                sql.NullBool
			roleID                  sql.NullString
		)
		if err := rows.Scan(&resID, &resRoles, &pid, &pApp, &pType, &pAlts, &pEnabled, &roleID); err != nil {
			return directory.TokenFacts{}, fail(err, "read token facts")
		}
		if !found {
			found = true
			f.Resource.ID = resID
			if f.Resource.AppRoles, err = fromJSON[directory.AppRole](resRoles, "app_roles"); err != nil {
				return directory.TokenFacts{}, err
			}
			if pid.Valid {
				p := &directory.ServicePrincipal{ID: pid.String, TenantID: tenantID, AppID: pApp.String, Type: pType.String, AccountEnabled: pEnabled.Bool}
				if p.AlternativeNames, err = fromJSON[string](pAlts.String, "alternative_names"); err != nil {
					return directory.TokenFacts{}, err
				}
				f.Principal = p
			}
		}
		if roleID.Valid {
			f.RoleIDs = append(f.RoleIDs, roleID.String)
		}
	}
	if err := rows.Err(); err != nil {
		return directory.TokenFacts{}, fail(err, "read token facts")
	}
	if !found {
		return directory.TokenFacts{}, errs.E(errs.NotFound, "service principal %s not found", resource.String())
	}
	return f, nil
}

func scanString(s scanner) (string, error) {
	var v string
	err := s.Scan(&v)
	return v, err
}

// deleteOne runs a DELETE that must remove exactly one row, errs.NotFound (naming what) if none.
func (db *DB) deleteOne(ctx context.Context, op, query, what string, args ...any) error {
	return db.inTx(ctx, op, "", func(c conn) error {
		ok, err := c.execOne(ctx, query, args...)
		if err != nil {
			return fail(err, "delete "+what)
		}
		if !ok {
			return errs.E(errs.NotFound, "%s not found", what)
		}
		return nil
	})
}

// Groups.

const groupColumns = `id, tenant_id, display_name, description, mail_nickname, security_enabled, mail_enabled, group_types, created_at`

func scanGroup(s scanner) (directory.Group, error) {
	var (
		g       directory.Group
		types   string
		created sql.NullInt64
		err     error
	)
	if err := s.Scan(&g.ID, &g.TenantID, &g.DisplayName, &g.Description, &g.MailNickname, &g.SecurityEnabled, &g.MailEnabled, &types, &created); err != nil {
		return directory.Group{}, err
	}
	g.Created = fromMicros(created)
	if g.GroupTypes, err = fromJSON[string](types, "group_types"); err != nil {
		return directory.Group{}, err
	}
	return g, nil
}

// CreateGroup inserts g; errs.Conflict if its id exists.
func (db *DB) CreateGroup(ctx context.Context, g directory.Group) error {
	if g.ID == "" || g.TenantID == "" {
		return errs.E(errs.Invalid, "store: group needs an id and a tenant")
	}
	return db.inTx(ctx, "CreateGroup", "", func(c conn) error {
		ok, err := c.execOne(ctx, `INSERT INTO directory_groups (`+groupColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			g.ID, g.TenantID, g.DisplayName, g.Description, g.MailNickname, g.SecurityEnabled, g.MailEnabled, jsonText(g.GroupTypes), micros(g.Created))
		if err != nil {
			return fail(err, "create group")
		}
		if !ok {
			return errs.E(errs.Conflict, "group %s exists", g.ID)
		}
		return nil
	})
}

// GetGroup reads one group.
func (db *DB) GetGroup(ctx context.Context, tenantID, id string) (directory.Group, error) {
	return one(db.pool().queryRow(ctx, `SELECT `+groupColumns+` FROM directory_groups WHERE tenant_id = ? AND id = ?`, tenantID, id), scanGroup, "group "+id)
}

// ListGroups returns a keyset page of the tenant's groups.
func (db *DB) ListGroups(ctx context.Context, tenantID, afterID string, limit int) ([]directory.Group, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.pool().query(ctx, `SELECT `+groupColumns+` FROM directory_groups WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, afterID, limit)
	return page(rows, err, scanGroup, "groups")
}

// DeleteGroup deletes a group and its memberships.
func (db *DB) DeleteGroup(ctx context.Context, tenantID, id string) error {
	return db.deleteOne(ctx, "DeleteGroup", `DELETE FROM directory_groups WHERE tenant_id = ? AND id = ?`, "group "+id, tenantID, id)
}

// groupExists checks, in the transaction of c, that the tenant has the group, keeping it from
// being deleted until the transaction ends.
func groupExists(ctx context.Context, c conn, tenantID, id string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM directory_groups WHERE tenant_id = ? AND id = ?`+c.d.keyShare(), tenantID, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errs.E(errs.NotFound, "group %s not found", id)
	case err != nil:
		return fail(err, "read group")
	}
	return nil
}

// AddGroupMember adds a service principal to a group.
func (db *DB) AddGroupMember(ctx context.Context, tenantID, groupID, memberID string) error {
	return db.inTx(ctx, "AddGroupMember", "", func(c conn) error {
		if err := groupExists(ctx, c, tenantID, groupID); err != nil {
			return err
		}
		if _, err := spDisplayName(ctx, c, tenantID, memberID); err != nil {
			return err
		}
		ok, err := c.execOne(ctx, `INSERT INTO directory_group_members (tenant_id, group_id, member_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			tenantID, groupID, memberID)
		if err != nil {
			return fail(err, "add group member")
		}
		if !ok {
			return errs.E(errs.Conflict, "%s is a member of group %s already", memberID, groupID)
		}
		return nil
	})
}

// RemoveGroupMember removes a member from a group.
func (db *DB) RemoveGroupMember(ctx context.Context, tenantID, groupID, memberID string) error {
	return db.inTx(ctx, "RemoveGroupMember", "", func(c conn) error {
		if err := groupExists(ctx, c, tenantID, groupID); err != nil {
			return err
		}
		ok, err := c.execOne(ctx, `DELETE FROM directory_group_members WHERE tenant_id = ? AND group_id = ? AND member_id = ?`, tenantID, groupID, memberID)
		if err != nil {
			return fail(err, "remove group member")
		}
		if !ok {
			return errs.E(errs.NotFound, "%s is not a member of group %s", memberID, groupID)
		}
		return nil
	})
}

// ListGroupMembers pages through a group's members by member id.
func (db *DB) ListGroupMembers(ctx context.Context, tenantID, groupID, afterID string, limit int) ([]directory.ServicePrincipal, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	if _, err := db.GetGroup(ctx, tenantID, groupID); err != nil {
		return nil, err
	}
	rows, err := db.pool().query(ctx, `SELECT `+columns("sp.", spNames...)+` FROM directory_group_members AS m
		JOIN directory_service_principals AS sp ON sp.id = m.member_id
		WHERE m.group_id = ? AND m.tenant_id = ? AND m.member_id > ? ORDER BY m.member_id LIMIT ?`, groupID, tenantID, afterID, limit)
	return page(rows, err, scanSP, "group members")
}

// Directory role assignments.

const roleAssignmentColumns = `id, tenant_id, principal_id, role_definition_id, directory_scope_id, created_at`

func scanRoleAssignment(s scanner) (directory.DirectoryRoleAssignment, error) {
	var (
		a       directory.DirectoryRoleAssignment
		created sql.NullInt64
	)
	err := s.Scan(&a.ID, &a.TenantID, &a.PrincipalID, &a.RoleDefinitionID, &a.DirectoryScopeID, &created)
	a.Created = fromMicros(created)
	return a, err
}

// CreateDirectoryRoleAssignment inserts a.
func (db *DB) CreateDirectoryRoleAssignment(ctx context.Context, a directory.DirectoryRoleAssignment) error {
	if a.ID == "" || a.TenantID == "" || a.PrincipalID == "" || a.RoleDefinitionID == "" || a.DirectoryScopeID == "" {
		return errs.E(errs.Invalid, "store: directory role assignment lacks a field")
	}
	return db.inTx(ctx, "CreateDirectoryRoleAssignment", "", func(c conn) error {
		if _, err := spDisplayName(ctx, c, a.TenantID, a.PrincipalID); err != nil {
			return err
		}
		ok, err := c.execOne(ctx, `INSERT INTO directory_role_assignments (`+roleAssignmentColumns+`) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.ID, a.TenantID, a.PrincipalID, a.RoleDefinitionID, a.DirectoryScopeID, micros(a.Created))
		if err != nil {
			return fail(err, "create directory role assignment")
		}
		if !ok {
			return errs.E(errs.Conflict, "principal %s holds role %s at %s already", a.PrincipalID, a.RoleDefinitionID, a.DirectoryScopeID)
		}
		return nil
	})
}

// GetDirectoryRoleAssignment reads one directory role assignment.
func (db *DB) GetDirectoryRoleAssignment(ctx context.Context, tenantID, id string) (directory.DirectoryRoleAssignment, error) {
	return one(db.pool().queryRow(ctx, `SELECT `+roleAssignmentColumns+` FROM directory_role_assignments WHERE tenant_id = ? AND id = ?`, tenantID, id),
		scanRoleAssignment, "directory role assignment "+id)
}

// ListDirectoryRoleAssignments returns a keyset page of the tenant's directory role assignments.
func (db *DB) ListDirectoryRoleAssignments(ctx context.Context, tenantID, afterID string, limit int) ([]directory.DirectoryRoleAssignment, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.pool().query(ctx, `SELECT `+roleAssignmentColumns+` FROM directory_role_assignments WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`,
		tenantID, afterID, limit)
	return page(rows, err, scanRoleAssignment, "directory role assignments")
}

// DeleteDirectoryRoleAssignment deletes one directory role assignment.
func (db *DB) DeleteDirectoryRoleAssignment(ctx context.Context, tenantID, id string) error {
	return db.deleteOne(ctx, "DeleteDirectoryRoleAssignment", `DELETE FROM directory_role_assignments WHERE tenant_id = ? AND id = ?`,
		"directory role assignment "+id, tenantID, id)
}

// DirectoryRolesOf returns the role definition ids a principal holds.
func (db *DB) DirectoryRolesOf(ctx context.Context, tenantID, principalID string) ([]string, error) {
	rows, err := db.pool().query(ctx, `SELECT DISTINCT role_definition_id FROM directory_role_assignments
		WHERE principal_id = ? AND tenant_id = ? ORDER BY role_definition_id`, principalID, tenantID)
	return page(rows, err, scanString, "directory roles")
}
