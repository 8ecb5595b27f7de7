package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/directory/odata"
	"github.com/lanyardhq/lanyard/internal/errs"
)

var _ directory.Store = (*DB)(nil)

// The directory's tables are in migration 0002. Applications own their identifier URIs (one row
// each in directory_identifier_uris, by directory.NameKey) and their service principal; a service
// principal owns, through ON DELETE CASCADE, the app role assignments it holds or grants, its
// group memberships and its directory role assignments. So deleting an application or a service
// principal is one DELETE, and anything that must go with it goes in the same transaction.

// keyShare is appended to a SELECT of rows that the transaction goes on to reference by foreign
// key, so that they cannot be deleted meanwhile (PostgreSQL); "" when BEGIN already excludes
// every other writer (SQLite).
func (d *dialect) keyShare() string {
	if d.forUpdate == "" {
		return ""
	}
	return " FOR KEY SHARE"
}

// columns joins names, each with prefix (a table alias and a dot, or "").
func columns(prefix string, names ...string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + n)
	}
	return b.String()
}

var (
	appNames = []string{"id", "tenant_id", "app_id", "display_name", "identifier_uris", "app_roles", "sign_in_audience", "builtin", "created_at"}
	spNames  = []string{"id", "tenant_id", "app_id", "application_id", "sp_type", "display_name", "service_principal_names",
		"alternative_names", "app_roles", "account_enabled", "app_role_assignment_required", "app_owner_organization_id", "builtin", "created_at"}
	appColumns = columns("", appNames...)
	spColumns  = columns("", spNames...)
)

// jsonText encodes a JSON column; nil slices become [].
func jsonText[T any](v []T) string {
	if v == nil {
		v = []T{}
	}
	b, err := json.Marshal(v)
	if err != nil { // only strings and AppRoles are stored: cannot happen
		panic(err)
	}
	return string(b)
}

func fromJSON[T any](s string, what string) ([]T, error) {
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "store: corrupt "+what)
	}
	return v, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func scanApp(s scanner) (directory.Application, error) {
	var (
		a           directory.Application
		uris, roles string
		created     sql.NullInt64
		err         error
	)
	if err := s.Scan(&a.ID, &a.TenantID, &a.AppID, &a.DisplayName, &uris, &roles, &a.SignInAudience, &a.Builtin, &created); err != nil {
		return directory.Application{}, err
	}
	a.Created = fromMicros(created)
	if a.IdentifierURIs, err = fromJSON[string](uris, "identifier_uris"); err != nil {
		return directory.Application{}, err
	}
	if a.AppRoles, err = fromJSON[directory.AppRole](roles, "app_roles"); err != nil {
		return directory.Application{}, err
	}
	return a, nil
}

func scanSP(s scanner) (directory.ServicePrincipal, error) {
	var (
		sp                directory.ServicePrincipal
		appObj, owner     sql.NullString
		spns, alts, roles string
		created           sql.NullInt64
		err               error
	)
	if err := s.Scan(&sp.ID, &sp.TenantID, &sp.AppID, &appObj, &sp.Type, &sp.DisplayName, &spns, &alts, &roles,
		&sp.AccountEnabled, &sp.AppRoleAssignmentRequired, &owner, &sp.Builtin, &created); err != nil {
		return directory.ServicePrincipal{}, err
	}
	sp.ApplicationID, sp.AppOwnerOrganizationID, sp.Created = appObj.String, owner.String, fromMicros(created)
	if sp.ServicePrincipalNames, err = fromJSON[string](spns, "service_principal_names"); err != nil {
		return directory.ServicePrincipal{}, err
	}
	if sp.AlternativeNames, err = fromJSON[string](alts, "alternative_names"); err != nil {
		return directory.ServicePrincipal{}, err
	}
	if sp.AppRoles, err = fromJSON[directory.AppRole](roles, "app_roles"); err != nil {
		return directory.ServicePrincipal{}, err
	}
	return sp, nil
}

// one reads a single row with scan: errs.NotFound (naming what) when there is none.
func one[T any](row *sql.Row, scan func(scanner) (T, error), what string) (T, error) {
	v, err := scan(row)
	switch {
	case err == nil || isErrs(err):
		return v, err
	case errors.Is(err, sql.ErrNoRows):
		return v, errs.E(errs.NotFound, "%s not found", what)
	}
	return v, fail(err, "read "+what)
}

// isErrs reports whether err is already an *errs.Error (a corrupt JSON column, say).
func isErrs(err error) bool {
	var e *errs.Error
	return errors.As(err, &e)
}

// page reads the rows of a keyset query with scan.
func page[T any](rows *sql.Rows, err error, scan func(scanner) (T, error), what string) ([]T, error) {
	if err != nil {
		return nil, fail(err, "list "+what)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			if isErrs(err) {
				return nil, err
			}
			return nil, fail(err, "list "+what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list "+what)
	}
	return out, nil
}

func checkLimit(limit int) error {
	if limit <= 0 {
		return errs.E(errs.Invalid, "store: page limit must be positive, not %d", limit)
	}
	return nil
}

// Applications.

// CreateApplication inserts app and, when sp is not nil, its service principal.
func (db *DB) CreateApplication(ctx context.Context, app directory.Application, sp *directory.ServicePrincipal) error {
	return db.inTx(ctx, "CreateApplication", "", func(c conn) error {
		if err := insertApplication(ctx, c, app); err != nil {
			return err
		}
		if sp == nil {
			return nil
		}
		return insertServicePrincipal(ctx, c, *sp)
	})
}

func insertApplication(ctx context.Context, c conn, a directory.Application) error {
	if a.ID == "" || a.TenantID == "" || a.AppID == "" {
		return errs.E(errs.Invalid, "store: application needs an id, a tenant and an appId")
	}
	ok, err := c.execOne(ctx, `INSERT INTO directory_applications (`+appColumns+`, display_name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		a.ID, a.TenantID, a.AppID, a.DisplayName, jsonText(a.IdentifierURIs), jsonText(a.AppRoles), a.SignInAudience, a.Builtin, micros(a.Created),
		odata.FoldKey(a.DisplayName))
	if err != nil {
		return fail(err, "create application")
	}
	if !ok {
		return errs.E(errs.Conflict, "an application with id %s or appId %s exists", a.ID, a.AppID)
	}
	return putIdentifierURIs(ctx, c, a)
}

// putIdentifierURIs replaces the identifier URI rows of a. A built-in application skips a URI
// another object holds (the control plane's URL names both the directory and the management API;
// the first, the directory, resolves it); any other application gets errs.Conflict.
func putIdentifierURIs(ctx context.Context, c conn, a directory.Application) error {
	if _, err := c.exec(ctx, `DELETE FROM directory_identifier_uris WHERE application_id = ?`, a.ID); err != nil {
		return fail(err, "replace identifier URIs")
	}
	for _, u := range a.IdentifierURIs {
		ok, err := c.execOne(ctx, `INSERT INTO directory_identifier_uris (tenant_id, name, application_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			a.TenantID, directory.NameKey(u), a.ID)
		if err != nil {
			return fail(err, "insert identifier URI")
		}
		if !ok && !a.Builtin {
			return errs.E(errs.Conflict, "identifier URI %q is in use in the tenant", u)
		}
	}
	return nil
}

// GetApplication finds an application by key.ID or key.AppID.
func (db *DB) GetApplication(ctx context.Context, tenantID string, key directory.Key) (directory.Application, error) {
	col, val := "id", key.ID
	if key.ID == "" {
		col, val = "app_id", key.AppID
	}
	if val == "" {
		return directory.Application{}, errs.E(errs.Invalid, "store: application key needs an id or an appId")
	}
	return one(db.pool().queryRow(ctx, `SELECT `+appColumns+` FROM directory_applications WHERE tenant_id = ? AND `+col+` = ?`, tenantID, val),
		scanApp, "application "+val)
}

// ListApplications returns a keyset page of the tenant's applications.
func (db *DB) ListApplications(ctx context.Context, tenantID, afterID string, limit int) ([]directory.Application, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.pool().query(ctx, `SELECT `+appColumns+` FROM directory_applications WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`,
		tenantID, afterID, limit)
	return page(rows, err, scanApp, "applications")
}

// ListApplicationsByName returns a keyset page of the tenant's candidate applications for a
// display name that starts with prefix under Graph's case folding (an indexed range over
// display_name_key): those whose name does, and those whose key is not set yet (the caller checks
// the name; see byNameQuery).
func (db *DB) ListApplicationsByName(ctx context.Context, tenantID, prefix, afterID string, limit int) ([]directory.Application, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	q, args := byNameQuery(db.d, appColumns, "directory_applications", tenantID, prefix, afterID, limit)
	rows, err := db.pool().query(ctx, q, args...)
	return page(rows, err, scanApp, "applications")
}

// byNameQuery selects cols of a keyset page of table's rows of the tenant after afterID whose
// display_name_key starts with prefix's (nameRange), through the table's name index,
// {table}_name: the page's ids are found in the index alone (it covers tenant_id,
// display_name_key and id), and only their rows are read.
//
// Rows whose key is NULL are candidates too: a server of a release before migration 0016 still
// writes them during a rolling upgrade (on PostgreSQL), and only a server's start fills them in
// (backfillNameKeys). They are read through the same index (normally none), and the directory
// checks every candidate's name against the filter anyway (directory.list).
func byNameQuery(d *dialect, cols, table, tenantID, prefix, afterID string, limit int) (string, []any) {
	cond, rangeArgs := nameRange(prefix)
	from := ` FROM ` + table + d.indexedBy(table+"_name") + ` WHERE tenant_id = ? AND `
	q := `SELECT ` + cols + ` FROM ` + table + ` WHERE id IN (` +
		`SELECT id FROM (SELECT id` + from + cond + ` AND id > ? ORDER BY id LIMIT ?) AS named UNION ALL ` +
		`SELECT id FROM (SELECT id` + from + `display_name_key IS NULL AND id > ? ORDER BY id LIMIT ?) AS unnamed` +
		`) ORDER BY id LIMIT ?`
	args := append(append([]any{tenantID}, rangeArgs...), afterID, limit, tenantID, afterID, limit, limit)
	return q, args
}

// nameRange is the condition on display_name_key of the names that start with prefix, and its
// arguments: [FoldKey(prefix), PrefixEnd) as a range, so that the (tenant_id, display_name_key,
// id) index is used on both dialects (LIKE would not be, with PostgreSQL's collations and SQLite's
// case rules). SQLite is told to use that index (INDEXED BY): without statistics its planner
// prefers the (tenant_id, id) index for the ORDER BY and reads every object of the tenant when
// the matches lie deep; with the name index it reads the matches only and sorts them.
func nameRange(prefix string) (string, []any) {
	lo := odata.FoldKey(prefix)
	if hi, ok := odata.PrefixEnd(lo); ok {
		return `display_name_key >= ? AND display_name_key < ?`, []any{lo, hi}
	}
	return `display_name_key >= ?`, []any{lo}
}

// UpdateApplication changes an application and its service principal in one transaction.
func (db *DB) UpdateApplication(ctx context.Context, tenantID, id string, update func(*directory.Application, *directory.ServicePrincipal) error) (directory.Application, error) {
	var out directory.Application
	err := db.inTx(ctx, "UpdateApplication", "", func(c conn) error {
		app, err := one(c.queryRow(ctx, `SELECT `+appColumns+` FROM directory_applications WHERE tenant_id = ? AND id = ?`+c.d.forUpdate, tenantID, id),
			scanApp, "application "+id)
		if err != nil {
			return err
		}
		var spp *directory.ServicePrincipal
		sp, err := one(c.queryRow(ctx, `SELECT `+spColumns+` FROM directory_service_principals WHERE application_id = ?`+c.d.forUpdate, id),
			scanSP, "service principal of application "+id)
		switch {
		case err == nil:
			spp = &sp
		case !errs.Is(err, errs.NotFound):
			return err
		}
		before := app
		if err := update(&app, spp); err != nil {
			return err
		}
		// Identity fields are not the update's to change.
		app.ID, app.TenantID, app.AppID, app.Builtin, app.Created = before.ID, before.TenantID, before.AppID, before.Builtin, before.Created
		if _, err := c.exec(ctx, `UPDATE directory_applications SET display_name = ?, display_name_key = ?, identifier_uris = ?, app_roles = ?, sign_in_audience = ? WHERE id = ?`,
			app.DisplayName, odata.FoldKey(app.DisplayName), jsonText(app.IdentifierURIs), jsonText(app.AppRoles), app.SignInAudience, app.ID); err != nil {
			return fail(err, "update application")
		}
		if !slices.Equal(before.IdentifierURIs, app.IdentifierURIs) {
			if err := putIdentifierURIs(ctx, c, app); err != nil {
				return err
			}
		}
		if spp != nil {
			if _, err := c.exec(ctx, `UPDATE directory_service_principals SET display_name = ?, display_name_key = ?, service_principal_names = ?, alternative_names = ?,
				app_roles = ?, account_enabled = ?, app_role_assignment_required = ?, app_owner_organization_id = ? WHERE id = ?`,
				spp.DisplayName, odata.FoldKey(spp.DisplayName), jsonText(spp.ServicePrincipalNames), jsonText(spp.AlternativeNames), jsonText(spp.AppRoles),
				spp.AccountEnabled, spp.AppRoleAssignmentRequired, nullString(spp.AppOwnerOrganizationID), sp.ID); err != nil {
				return fail(err, "update service principal")
			}
		}
		out = app
		return nil
	})
	return out, err
}

// DeleteApplication deletes an application; its service principal and everything referring to
// that go with it (ON DELETE CASCADE).
func (db *DB) DeleteApplication(ctx context.Context, tenantID, id string) error {
	return db.inTx(ctx, "DeleteApplication", "", func(c conn) error {
		ok, err := c.execOne(ctx, `DELETE FROM directory_applications WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return fail(err, "delete application")
		}
		if !ok {
			return errs.E(errs.NotFound, "application %s not found", id)
		}
		return nil
	})
}

// Service principals.

// CreateServicePrincipal inserts sp, inheriting from its application in the same transaction.
func (db *DB) CreateServicePrincipal(ctx context.Context, sp directory.ServicePrincipal, inherit func(directory.Application, *directory.ServicePrincipal)) (directory.ServicePrincipal, error) {
	err := db.inTx(ctx, "CreateServicePrincipal", "", func(c conn) error {
		if sp.ApplicationID != "" {
			app, err := one(c.queryRow(ctx, `SELECT `+appColumns+` FROM directory_applications WHERE tenant_id = ? AND id = ?`+c.d.forUpdate,
				sp.TenantID, sp.ApplicationID), scanApp, "application "+sp.ApplicationID)
			if err != nil {
				return err
			}
			if inherit != nil {
				inherit(app, &sp)
			}
		}
		return insertServicePrincipal(ctx, c, sp)
	})
	if err != nil {
		return directory.ServicePrincipal{}, err
	}
	sp.Created = fromMicros(sql.NullInt64{Int64: micros(sp.Created), Valid: true}) // as it reads back
	return sp, nil
}

// insertServicePrincipal inserts sp in the transaction of c. The resources domain's store
// methods call it to create a managed identity's service principal together with its resource.
func insertServicePrincipal(ctx context.Context, c conn, sp directory.ServicePrincipal) error {
	if sp.ID == "" || sp.TenantID == "" || sp.AppID == "" {
		return errs.E(errs.Invalid, "store: service principal needs an id, a tenant and an appId")
	}
	ok, err := c.execOne(ctx, `INSERT INTO directory_service_principals (`+spColumns+`, display_name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		sp.ID, sp.TenantID, sp.AppID, nullString(sp.ApplicationID), sp.Type, sp.DisplayName, jsonText(sp.ServicePrincipalNames),
		jsonText(sp.AlternativeNames), jsonText(sp.AppRoles), sp.AccountEnabled, sp.AppRoleAssignmentRequired,
		nullString(sp.AppOwnerOrganizationID), sp.Builtin, micros(sp.Created), odata.FoldKey(sp.DisplayName))
	if err != nil {
		return fail(err, "create service principal")
	}
	if !ok {
		return errs.E(errs.Conflict, "a service principal for appId %s exists", sp.AppID)
	}
	return nil
}

// GetServicePrincipal finds a service principal by id, appId or identifier URI.
func (db *DB) GetServicePrincipal(ctx context.Context, tenantID string, key directory.Key) (directory.ServicePrincipal, error) {
	var row *sql.Row
	switch {
	case key.ID != "":
		row = db.hotPool().queryRow(ctx, `SELECT `+spColumns+` FROM directory_service_principals WHERE tenant_id = ? AND id = ?`, tenantID, key.ID)
	case key.AppID != "":
		row = db.hotPool().queryRow(ctx, `SELECT `+spColumns+` FROM directory_service_principals WHERE tenant_id = ? AND app_id = ?`, tenantID, key.AppID)
	case key.Name != "":
		row = db.hotPool().queryRow(ctx, `SELECT `+columns("sp.", spNames...)+` FROM directory_identifier_uris AS n
			JOIN directory_service_principals AS sp ON sp.application_id = n.application_id
			WHERE n.tenant_id = ? AND n.name = ?`, tenantID, directory.NameKey(key.Name))
	default:
		return directory.ServicePrincipal{}, errs.E(errs.Invalid, "store: service principal key is empty")
	}
	return one(row, scanSP, "service principal "+key.String())
}

// ListServicePrincipals returns a keyset page of the tenant's service principals.
func (db *DB) ListServicePrincipals(ctx context.Context, tenantID, afterID string, limit int) ([]directory.ServicePrincipal, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.pool().query(ctx, `SELECT `+spColumns+` FROM directory_service_principals WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`,
		tenantID, afterID, limit)
	return page(rows, err, scanSP, "service principals")
}

// ListServicePrincipalsByName returns a keyset page of the tenant's candidate service principals
// for a display name that starts with prefix under Graph's case folding (an indexed range over
// display_name_key): those whose name does, and those whose key is not set yet (the caller checks
// the name; see byNameQuery).
func (db *DB) ListServicePrincipalsByName(ctx context.Context, tenantID, prefix, afterID string, limit int) ([]directory.ServicePrincipal, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	q, args := byNameQuery(db.d, spColumns, "directory_service_principals", tenantID, prefix, afterID, limit)
	rows, err := db.pool().query(ctx, q, args...)
	return page(rows, err, scanSP, "service principals")
}

// GetServicePrincipals returns the tenant's service principals among ids, in one query per
// 500 ids, in no particular order.
func (db *DB) GetServicePrincipals(ctx context.Context, tenantID string, ids []string) ([]directory.ServicePrincipal, error) {
	var out []directory.ServicePrincipal
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, tenantID)
		for _, id := range chunk {
			args = append(args, id)
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		rows, err := db.pool().query(ctx, `SELECT `+spColumns+` FROM directory_service_principals WHERE tenant_id = ? AND id IN (`+marks+`)`, args...)
		sps, err := page(rows, err, scanSP, "service principals")
		if err != nil {
			return nil, err
		}
		out = append(out, sps...)
	}
	return out, nil
}

// backfillNameKeys sets display_name_key of the rows written before migration 0016 (NULL), a
// batch at a time, at every open: a no-op once done. The key is computed here because SQL's
// lower() does not fold case as Graph's startswith does.
func (db *DB) backfillNameKeys(ctx context.Context) error {
	for _, table := range []string{"directory_applications", "directory_service_principals"} {
		for {
			var n int
			err := db.inTx(ctx, "backfillNameKeys", "", func(c conn) error {
				rows, err := c.query(ctx, `SELECT id, display_name FROM `+table+` WHERE display_name_key IS NULL LIMIT 500`)
				if err != nil {
					return fail(err, "read display names")
				}
				type row struct{ id, name string }
				var todo []row
				for rows.Next() {
					var r row
					if err := rows.Scan(&r.id, &r.name); err != nil {
						rows.Close()
						return fail(err, "read display names")
					}
					todo = append(todo, r)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return fail(err, "read display names")
				}
				for _, r := range todo {
					if _, err := c.exec(ctx, `UPDATE `+table+` SET display_name_key = ? WHERE id = ?`, odata.FoldKey(r.name), r.id); err != nil {
						return fail(err, "set display name key")
					}
				}
				n = len(todo)
				return nil
			})
			if err != nil {
				return err
			}
			if n < 500 {
				break
			}
		}
	}
	return nil
}

// DeleteServicePrincipal deletes a service principal and, by cascade, everything referring to it.
func (db *DB) DeleteServicePrincipal(ctx context.Context, tenantID, id string) error {
	return db.inTx(ctx, "DeleteServicePrincipal", "", func(c conn) error {
		return deleteServicePrincipal(ctx, c, tenantID, id)
	})
}

// deleteServicePrincipal deletes in the transaction of c, so that the resources domain's store
// methods can delete a managed identity's service principal together with its resource.
func deleteServicePrincipal(ctx context.Context, c conn, tenantID, id string) error {
	ok, err := c.execOne(ctx, `DELETE FROM directory_service_principals WHERE tenant_id = ? AND id = ?`, tenantID, id)
	if err != nil {
		return fail(err, "delete service principal")
	}
	if !ok {
		return errs.E(errs.NotFound, "service principal %s not found", id)
	}
	return nil
}
