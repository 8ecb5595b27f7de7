package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
)

var _ resources.Store = (*DB)(nil)

// The resources domain's tables are in migration 0004. A resource refers to the service
// principal of its managed identity (principal_id), so every change of an identity writes the
// resource and the service principal in one transaction (ApplyResourceChange), and the principal
// can only be deleted after the resource stopped referring to it. What a deleted principal held
// goes with it: app role assignments, group memberships, directory role assignments and RBAC role
// assignments by ON DELETE CASCADE (0002, 0003), vault access policies by a trigger (0004).

const (
	subscriptionColumns = `id, tenant_id, display_name, state, is_default, created_at`
	rgColumns           = `tenant_id, subscription_id, name, location, tags, managed_by, created_at`
	resourceColumns     = `id, tenant_id, subscription_id, kind, location, tags, properties, system_assigned, principal_id, client_id, version, created_at, changed_at`
	vaultTypeKey        = "microsoft.keyvault/vaults"
	// keysPerQuery bounds the keys of one IN (...) list.
	keysPerQuery = 500
)

// Subscriptions.

func scanSubscription(s scanner) (resources.Subscription, error) {
	var (
		sub     resources.Subscription
		created sql.NullInt64
	)
	if err := s.Scan(&sub.ID, &sub.TenantID, &sub.DisplayName, &sub.State, &sub.Default, &created); err != nil {
		return resources.Subscription{}, err
	}
	sub.Created = fromMicros(created)
	return sub, nil
}

// EnsureDefaultSubscription inserts s unless its tenant has a default subscription, and returns
// the tenant's default subscription.
func (db *DB) EnsureDefaultSubscription(ctx context.Context, s resources.Subscription) (resources.Subscription, error) {
	if s.ID == "" || s.TenantID == "" {
		return resources.Subscription{}, errs.E(errs.Invalid, "store: subscription needs an id and a tenant")
	}
	var out resources.Subscription
	err := db.inTx(ctx, "EnsureDefaultSubscription", "", func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO resources_subscriptions (`+subscriptionColumns+`) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			s.ID, s.TenantID, s.DisplayName, s.State, true, micros(s.Created))
		switch {
		case rbacForeignKeyViolation(err):
			return errs.Wrap(errs.NotFound, err, "tenant "+s.TenantID+" not found")
		case err != nil:
			return fail(err, "create subscription")
		}
		out, err = one(c.queryRow(ctx, `SELECT `+subscriptionColumns+` FROM resources_subscriptions WHERE tenant_id = ? AND is_default`, s.TenantID),
			scanSubscription, "default subscription of tenant "+s.TenantID)
		return err
	})
	return out, err
}

// GetSubscription finds a subscription by id.
func (db *DB) GetSubscription(ctx context.Context, id string) (resources.Subscription, error) {
	return one(db.pool().queryRow(ctx, `SELECT `+subscriptionColumns+` FROM resources_subscriptions WHERE id = ?`, id),
		scanSubscription, "subscription "+id)
}

// ListSubscriptions returns a tenant's subscriptions by id.
func (db *DB) ListSubscriptions(ctx context.Context, tenantID string) ([]resources.Subscription, error) {
	rows, err := db.pool().query(ctx, `SELECT `+subscriptionColumns+` FROM resources_subscriptions WHERE tenant_id = ? ORDER BY id`, tenantID)
	return page(rows, err, scanSubscription, "subscriptions")
}

// Resource groups.

func scanResourceGroup(s scanner) (resources.Group, error) {
	var (
		g       resources.Group
		tags    string
		created sql.NullInt64
	)
	if err := s.Scan(&g.TenantID, &g.SubscriptionID, &g.Name, &g.Location, &tags, &g.ManagedBy, &created); err != nil {
		return resources.Group{}, err
	}
	g.Created = fromMicros(created)
	var err error
	g.Tags, err = tagsFrom(tags)
	return g, err
}

func tagsText(tags map[string]string) string {
	if tags == nil {
		return "{}"
	}
	b, err := json.Marshal(tags)
	if err != nil { // strings only: cannot happen
		panic(err)
	}
	return string(b)
}

func tagsFrom(s string) (map[string]string, error) {
	var tags map[string]string
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "store: corrupt tags")
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// PutResourceGroup inserts g, or updates the tags and managedBy of the group of its name.
func (db *DB) PutResourceGroup(ctx context.Context, g resources.Group) (created bool, err error) {
	if g.TenantID == "" || g.SubscriptionID == "" || g.Name == "" {
		return false, errs.E(errs.Invalid, "store: resource group needs a tenant, a subscription and a name")
	}
	err = db.inTx(ctx, "PutResourceGroup", "", func(c conn) error {
		var one int
		err := c.queryRow(ctx, `SELECT 1 FROM resources_subscriptions WHERE id = ? AND tenant_id = ?`+c.d.keyShare(), g.SubscriptionID, g.TenantID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(errs.NotFound, "subscription %s not found", g.SubscriptionID)
		}
		if err != nil {
			return fail(err, "read subscription")
		}
		created, err = c.execOne(ctx, `INSERT INTO resources_groups (`+rgColumns+`, name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			g.TenantID, g.SubscriptionID, g.Name, g.Location, tagsText(g.Tags), g.ManagedBy, micros(g.Created), strings.ToLower(g.Name))
		if err != nil {
			return fail(err, "create resource group")
		}
		if created {
			return nil
		}
		if _, err := c.exec(ctx, `UPDATE resources_groups SET tags = ?, managed_by = ? WHERE subscription_id = ? AND name_key = ? AND tenant_id = ?`,
			tagsText(g.Tags), g.ManagedBy, g.SubscriptionID, strings.ToLower(g.Name), g.TenantID); err != nil {
			return fail(err, "update resource group")
		}
		return nil
	})
	return created, err
}

// GetResourceGroup finds a group by name, compared without case.
func (db *DB) GetResourceGroup(ctx context.Context, tenantID, subscriptionID, name string) (resources.Group, error) {
	return one(db.pool().queryRow(ctx, `SELECT `+rgColumns+` FROM resources_groups WHERE subscription_id = ? AND name_key = ? AND tenant_id = ?`,
		subscriptionID, strings.ToLower(name), tenantID), scanResourceGroup, "resource group "+name)
}

// ListResourceGroups returns a subscription's groups by lower-cased name.
func (db *DB) ListResourceGroups(ctx context.Context, tenantID, subscriptionID, afterKey string, limit int) ([]resources.Group, error) {
	query := `SELECT ` + rgColumns + ` FROM resources_groups WHERE subscription_id = ? AND tenant_id = ? AND name_key > ? ORDER BY name_key`
	args := []any{subscriptionID, tenantID, afterKey}
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.pool().query(ctx, query, args...)
	return page(rows, err, scanResourceGroup, "resource groups")
}

// DeleteResourceGroup deletes a group, its resources and their principals, and the role
// assignments at or below it, in one transaction.
func (db *DB) DeleteResourceGroup(ctx context.Context, tenantID, subscriptionID, name string) error {
	key := strings.ToLower(name)
	return db.inTx(ctx, "DeleteResourceGroup", "", func(c conn) error {
		var stored string
		// Locked first: a resource being created in the group waits for this transaction, and
		// then finds the group gone.
		err := c.queryRow(ctx, `SELECT name FROM resources_groups WHERE subscription_id = ? AND name_key = ? AND tenant_id = ?`+c.d.forUpdate,
			subscriptionID, key, tenantID).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(errs.NotFound, "resource group %s not found", name)
		}
		if err != nil {
			return fail(err, "read resource group")
		}
		rows, err := c.query(ctx, `SELECT principal_id FROM resources WHERE subscription_id = ? AND group_key = ? AND principal_id IS NOT NULL`+c.d.forUpdate,
			subscriptionID, key)
		principals, err := page(rows, err, func(s scanner) (string, error) {
			var id string
			return id, s.Scan(&id)
		}, "principals of resource group "+name)
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM resources WHERE subscription_id = ? AND group_key = ?`, subscriptionID, key); err != nil {
			return fail(err, "delete resources of resource group")
		}
		for _, p := range principals {
			if err := deleteServicePrincipal(ctx, c, tenantID, p); err != nil && !errs.Is(err, errs.NotFound) {
				return err
			}
		}
		scope := "/subscriptions/" + subscriptionID + "/resourcegroups/" + key
		if err := deleteRoleAssignmentsWithin(ctx, c, tenantID, scope); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM resources_groups WHERE subscription_id = ? AND name_key = ?`, subscriptionID, key); err != nil {
			return fail(err, "delete resource group")
		}
		return nil
	})
}

// deleteRoleAssignmentsWithin deletes the role assignments whose scope is scopeKey or below it.
func deleteRoleAssignmentsWithin(ctx context.Context, c conn, tenantID, scopeKey string) error {
	below := scopeKey + "/"
	// substr counts characters in both dialects; so does RuneCountInString.
	if _, err := c.exec(ctx, `DELETE FROM rbac_role_assignments WHERE tenant_id = ? AND (scope_key = ? OR substr(scope_key, 1, ?) = ?)`,
		tenantID, scopeKey, utf8.RuneCountInString(below), below); err != nil {
		return fail(err, "delete role assignments of "+scopeKey)
	}
	return nil
}

// Resources.

func scanResource(s scanner) (resources.Resource, error) {
	var (
		r                resources.Resource
		tags, props      string
		principal        sql.NullString
		created, changed sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.TenantID, &r.SubscriptionID, &r.Kind, &r.Location, &tags, &props, &r.SystemAssigned,
		&principal, &r.ClientID, &r.Version, &created, &changed); err != nil {
		return resources.Resource{}, err
	}
	r.PrincipalID, r.Created, r.Changed = principal.String, fromMicros(created), fromMicros(changed)
	r.Properties = json.RawMessage(props)
	var err error
	if r.Tags, err = tagsFrom(tags); err != nil {
		return resources.Resource{}, err
	}
	id, err := arm.Parse(r.ID)
	t := resources.TypeOf(id.ResourceType())
	if err != nil || t == nil {
		return resources.Resource{}, errs.E(errs.Internal, "store: corrupt resource id %q", r.ID)
	}
	r.Group, r.Type, r.Name = id.ResourceGroupName(), t.Name, id.Name()
	return r, nil
}

// GetResource finds a resource by lower-cased id.
func (db *DB) GetResource(ctx context.Context, tenantID, key string) (resources.Resource, error) {
	// One resource: the queries are the same every time, prepared once (a token's hot path).
	r, err := one(db.hotPool().queryRow(ctx, `SELECT `+resourceColumns+` FROM resources WHERE id_key = ? AND tenant_id = ?`, key, tenantID),
		scanResource, "resource "+key)
	if err != nil {
		return resources.Resource{}, err
	}
	list := []resources.Resource{r}
	if err := db.resourceDetails(ctx, db.hotPool(), tenantID, list); err != nil {
		return resources.Resource{}, err
	}
	return list[0], nil
}

// GetResourceIdentities reads a resource and the user-assigned identities attached to it, in one
// statement, without its access policies: what a token for one of its identities needs.
func (db *DB) GetResourceIdentities(ctx context.Context, tenantID, key string) (resources.Resource, error) {
	rows, err := db.hotPool().query(ctx, resourceIdentitiesQuery, key, tenantID)
	if err != nil {
		return resources.Resource{}, fail(err, "read resource "+key)
	}
	defer rows.Close()
	var r resources.Resource
	found := false
	for rows.Next() {
		var uaID, uaPrincipal, uaClient sql.NullString
		row, err := scanResource(withExtra{rows, []any{&uaID, &uaPrincipal, &uaClient}})
		if err != nil {
			return resources.Resource{}, fail(err, "read resource "+key)
		}
		if !found {
			r, found = row, true
		}
		if uaID.Valid {
			r.UserAssigned = append(r.UserAssigned, resources.UserAssignedRef{ID: uaID.String, PrincipalID: uaPrincipal.String, ClientID: uaClient.String})
		}
	}
	if err := rows.Err(); err != nil {
		return resources.Resource{}, fail(err, "read resource "+key)
	}
	if !found {
		return resources.Resource{}, errs.E(errs.NotFound, "resource %s not found", key)
	}
	return r, nil
}

// resourceIdentitiesQuery is GetResourceIdentities' statement, built once.
var resourceIdentitiesQuery = `SELECT r.` + strings.ReplaceAll(resourceColumns, ", ", ", r.") + `, i.id, i.principal_id, i.client_id FROM resources AS r
		LEFT JOIN resources_identity_links AS l ON l.tenant_id = r.tenant_id AND l.resource_key = r.id_key
		LEFT JOIN resources AS i ON i.id_key = l.identity_key
		WHERE r.id_key = ? AND r.tenant_id = ? ORDER BY l.identity_key`

// withExtra scans a row's first columns with the scanner's caller and the rest into extra.
type withExtra struct {
	s     scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.s.Scan(append(dest, w.extra...)...) }

// ListResources returns the resources q selects.
func (db *DB) ListResources(ctx context.Context, q resources.Query) ([]resources.Resource, error) {
	query := `SELECT ` + resourceColumns + ` FROM resources WHERE subscription_id = ? AND tenant_id = ?`
	args := []any{q.SubscriptionID, q.TenantID}
	if q.GroupKey != "" {
		query += ` AND group_key = ?`
		args = append(args, q.GroupKey)
	}
	if q.TypeKey != "" {
		query += ` AND type_key = ?`
		args = append(args, q.TypeKey)
	}
	if q.AfterKey != "" {
		query += ` AND id_key > ?`
		args = append(args, q.AfterKey)
	}
	query += ` ORDER BY id_key`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := db.pool().query(ctx, query, args...)
	list, err := page(rows, err, scanResource, "resources")
	if err != nil {
		return nil, err
	}
	return list, db.resourceDetails(ctx, db.pool(), q.TenantID, list)
}

// resourceDetails reads the attached user-assigned identities of list and the access policies
// of its vaults, a few hundred resources per query.
func (db *DB) resourceDetails(ctx context.Context, c conn, tenantID string, list []resources.Resource) error {
	index := make(map[string]int, len(list))
	for i, r := range list {
		index[r.Key()] = i
	}
	for start := 0; start < len(list); start += keysPerQuery {
		chunk := list[start:min(start+keysPerQuery, len(list))]
		in := `(?` + strings.Repeat(`, ?`, len(chunk)-1) + `)`
		args := []any{tenantID}
		for _, r := range chunk {
			args = append(args, r.Key())
		}
		rows, err := c.query(ctx, `SELECT l.resource_key, i.id, i.principal_id, i.client_id FROM resources_identity_links AS l
			JOIN resources AS i ON i.id_key = l.identity_key WHERE l.tenant_id = ? AND l.resource_key IN `+in+` ORDER BY l.resource_key, l.identity_key`, args...)
		type link struct {
			key string
			ref resources.UserAssignedRef
		}
		links, err := page(rows, err, func(s scanner) (link, error) {
			var (
				l         link
				principal sql.NullString
			)
			err := s.Scan(&l.key, &l.ref.ID, &principal, &l.ref.ClientID)
			l.ref.PrincipalID = principal.String
			return l, err
		}, "user-assigned identities")
		if err != nil {
			return err
		}
		for _, l := range links {
			r := &list[index[l.key]]
			r.UserAssigned = append(r.UserAssigned, l.ref)
		}
		rows, err = c.query(ctx, `SELECT vault_key, policy_tenant_id, object_id, application_id, permissions FROM resources_vault_access_policies
			WHERE tenant_id = ? AND vault_key IN `+in+` ORDER BY vault_key, position`, args...)
		type policy struct {
			key string
			p   resources.AccessPolicy
		}
		policies, err := page(rows, err, func(s scanner) (policy, error) {
			var (
				p     policy
				perms string
			)
			if err := s.Scan(&p.key, &p.p.TenantID, &p.p.ObjectID, &p.p.ApplicationID, &perms); err != nil {
				return p, err
			}
			if err := json.Unmarshal([]byte(perms), &p.p.Permissions); err != nil {
				return p, errs.Wrap(errs.Internal, err, "store: corrupt access policy permissions")
			}
			return p, nil
		}, "access policies")
		if err != nil {
			return err
		}
		for _, p := range policies {
			r := &list[index[p.key]]
			r.AccessPolicies = append(r.AccessPolicies, p.p)
		}
	}
	return nil
}

// ApplyResourceChange applies one change of a resource and its identities in one transaction.
func (db *DB) ApplyResourceChange(ctx context.Context, ch resources.Change) error {
	if ch.TenantID == "" || ch.Key == "" || ch.Put != nil && strings.ToLower(ch.Put.ID) != ch.Key {
		return errs.E(errs.Invalid, "store: resource change needs a tenant and the key of the resource it writes")
	}
	return db.inTx(ctx, "ApplyResourceChange", "", func(c conn) error {
		var (
			version   int64
			principal sql.NullString
		)
		err := c.queryRow(ctx, `SELECT version, principal_id FROM resources WHERE id_key = ? AND tenant_id = ?`+c.d.forUpdate,
			ch.Key, ch.TenantID).Scan(&version, &principal)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fail(err, "read resource")
		}
		switch {
		case ch.Version < 0:
		case ch.Version == 0 && exists, ch.Version > 0 && (!exists || version != ch.Version):
			return resources.ErrStale
		}
		if ch.Put == nil {
			if !exists {
				return errs.E(errs.NotFound, "resource %s not found", ch.Key)
			}
			return deleteResource(ctx, c, ch.TenantID, ch.Key, principal.String)
		}
		for _, sp := range ch.CreateSPs {
			if err := insertServicePrincipal(ctx, c, sp); err != nil {
				return err
			}
		}
		if err := putResource(ctx, c, *ch.Put, exists, version); err != nil {
			return err
		}
		if err := putLinks(ctx, c, *ch.Put); err != nil {
			return err
		}
		if err := putAccessPolicies(ctx, c, *ch.Put); err != nil {
			return err
		}
		for _, id := range ch.DeleteSPs {
			if err := deleteServicePrincipal(ctx, c, ch.TenantID, id); err != nil && !errs.Is(err, errs.NotFound) {
				return err
			}
		}
		return nil
	})
}

// deleteResource deletes a resource (its links and access policies cascade), then its principal,
// then the role assignments at or below it.
func deleteResource(ctx context.Context, c conn, tenantID, key, principal string) error {
	if _, err := c.exec(ctx, `DELETE FROM resources WHERE id_key = ? AND tenant_id = ?`, key, tenantID); err != nil {
		return fail(err, "delete resource")
	}
	if principal != "" {
		if err := deleteServicePrincipal(ctx, c, tenantID, principal); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
	}
	return deleteRoleAssignmentsWithin(ctx, c, tenantID, key)
}

// putResource inserts or replaces the resource row.
func putResource(ctx context.Context, c conn, r resources.Resource, exists bool, version int64) error {
	id, err := arm.Parse(r.ID)
	if err != nil || id.Kind() != arm.KindResource {
		return errs.E(errs.Invalid, "store: resource id %q is not a resource's", r.ID)
	}
	key, typeKey, nameKey := strings.ToLower(r.ID), strings.ToLower(id.ResourceType()), strings.ToLower(id.Name())
	if typeKey == vaultTypeKey {
		var other string
		err := c.queryRow(ctx, `SELECT id_key FROM resources WHERE type_key = ? AND name_key = ? AND id_key <> ?`, vaultTypeKey, nameKey, key).Scan(&other)
		switch {
		case err == nil:
			return resources.ErrVaultNameTaken
		case !errors.Is(err, sql.ErrNoRows):
			return fail(err, "read vault names")
		}
	}
	props := string(r.Properties)
	if props == "" {
		props = "{}"
	}
	if exists {
		_, err := c.exec(ctx, `UPDATE resources SET kind = ?, location = ?, tags = ?, properties = ?, system_assigned = ?, principal_id = ?,
			client_id = ?, version = ?, changed_at = ? WHERE id_key = ?`,
			r.Kind, r.Location, tagsText(r.Tags), props, r.SystemAssigned, nullString(r.PrincipalID), r.ClientID, version+1, micros(r.Changed), key)
		if err != nil {
			return fail(err, "update resource")
		}
		return nil
	}
	ok, err := c.execOne(ctx, `INSERT INTO resources (id_key, group_key, type_key, name_key, `+resourceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		key, strings.ToLower(id.ResourceGroupName()), typeKey, nameKey, r.ID, r.TenantID, id.SubscriptionID(), r.Kind, r.Location,
		tagsText(r.Tags), props, r.SystemAssigned, nullString(r.PrincipalID), r.ClientID, int64(1), micros(r.Created), micros(r.Changed))
	switch {
	case rbacForeignKeyViolation(err):
		return resources.ErrNoGroup
	case err != nil:
		return fail(err, "create resource")
	case ok:
		return nil
	}
	var one int
	if err := c.queryRow(ctx, `SELECT 1 FROM resources WHERE id_key = ?`, key).Scan(&one); err == nil {
		return resources.ErrStale // created by another transaction meanwhile
	}
	return resources.ErrVaultNameTaken
}

// putLinks replaces the user-assigned identity links of r.
func putLinks(ctx context.Context, c conn, r resources.Resource) error {
	key := strings.ToLower(r.ID)
	if _, err := c.exec(ctx, `DELETE FROM resources_identity_links WHERE resource_key = ?`, key); err != nil {
		return fail(err, "replace user-assigned identities")
	}
	for _, u := range r.UserAssigned {
		var one int
		err := c.queryRow(ctx, `SELECT 1 FROM resources WHERE id_key = ? AND tenant_id = ? AND type_key = ?`+c.d.keyShare(),
			strings.ToLower(u.ID), r.TenantID, strings.ToLower(resources.TypeUserAssigned)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return resources.ErrNoIdentity
		}
		if err != nil {
			return fail(err, "read user-assigned identity")
		}
		if _, err := c.exec(ctx, `INSERT INTO resources_identity_links (tenant_id, resource_key, identity_key) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			r.TenantID, key, strings.ToLower(u.ID)); err != nil {
			return fail(err, "attach user-assigned identity")
		}
	}
	return nil
}

// putAccessPolicies replaces the access policies of a vault.
func putAccessPolicies(ctx context.Context, c conn, r resources.Resource) error {
	key := strings.ToLower(r.ID)
	if _, err := c.exec(ctx, `DELETE FROM resources_vault_access_policies WHERE vault_key = ?`, key); err != nil {
		return fail(err, "replace access policies")
	}
	for i, p := range r.AccessPolicies {
		perms, err := json.Marshal(p.Permissions)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "store: encode permissions")
		}
		if _, err := c.exec(ctx, `INSERT INTO resources_vault_access_policies (tenant_id, vault_key, position, policy_tenant_id, object_id,
			application_id, permissions) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.TenantID, key, i, p.TenantID, strings.ToLower(p.ObjectID), strings.ToLower(p.ApplicationID), string(perms)); err != nil {
			return fail(err, "insert access policy")
		}
	}
	return nil
}
