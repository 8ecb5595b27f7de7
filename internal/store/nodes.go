package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/resources"
)

var _ nodes.Store = (*DB)(nil)

const (
	joinTokenColumns = `hash, tenant_id, node_name, created_at, expires_at, used_at, created_by`
	nodeColumns      = `n.id, n.tenant_id, n.name, r.id, n.created_at, n.renewed_at`
	nodeFrom         = ` FROM nodes n JOIN resources r ON r.id_key = n.machine_key`
)

// CreateJoinToken stores a join token's hash; errs.Conflict if the hash exists, errs.NotFound if
// its tenant does not.
func (db *DB) CreateJoinToken(ctx context.Context, t nodes.JoinToken) error {
	if t.Hash == "" || t.TenantID == "" || t.NodeName == "" {
		return errs.E(errs.Invalid, "store: join token lacks a hash, tenant or node name")
	}
	return db.inTx(ctx, "CreateJoinToken", "", func(c conn) error {
		ok, err := c.execOne(ctx, `INSERT INTO node_join_tokens (`+joinTokenColumns+`) VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING`,
			t.Hash, t.TenantID, t.NodeName, micros(t.Created), micros(t.Expires), t.CreatedBy)
		if rbacForeignKeyViolation(err) {
			return errs.E(errs.NotFound, "tenant %s not found", t.TenantID)
		}
		if err != nil {
			return fail(err, "create join token")
		}
		if !ok {
			return errs.E(errs.Conflict, "join token exists")
		}
		return nil
	})
}

func scanJoinToken(s scanner) (nodes.JoinToken, error) {
	var t nodes.JoinToken
	var created, expires int64
	var used sql.NullInt64
	if err := s.Scan(&t.Hash, &t.TenantID, &t.NodeName, &created, &expires, &used, &t.CreatedBy); err != nil {
		return t, err
	}
	t.Created, t.Expires, t.Used = fromMicros(sql.NullInt64{Int64: created, Valid: true}), fromMicros(sql.NullInt64{Int64: expires, Valid: true}), fromMicros(used)
	return t, nil
}

// GetJoinToken returns errs.NotFound for an unknown hash.
func (db *DB) GetJoinToken(ctx context.Context, hash string) (nodes.JoinToken, error) {
	t, err := scanJoinToken(db.pool().queryRow(ctx, `SELECT `+joinTokenColumns+` FROM node_join_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nodes.JoinToken{}, errs.E(errs.NotFound, "join token not found")
	}
	if err != nil {
		return nodes.JoinToken{}, fail(err, "get join token")
	}
	return t, nil
}

// EnrollNode marks the join token used and stores n (replacing the tenant's node of that name)
// in one transaction. errs.Denied when the token is used, expired or unknown.
func (db *DB) EnrollNode(ctx context.Context, hash string, now time.Time, n nodes.Node) error {
	return db.inTx(ctx, "EnrollNode", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE node_join_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
			micros(now), hash, micros(now))
		if err != nil {
			return fail(err, "use join token")
		}
		if !ok {
			return errs.E(errs.Denied, "the join token is unknown, expired or already used")
		}
		if _, err := c.exec(ctx, `DELETE FROM nodes WHERE tenant_id = ? AND name_key = ?`, n.TenantID, strings.ToLower(n.Name)); err != nil {
			return fail(err, "replace node")
		}
		if _, err := c.exec(ctx, `INSERT INTO nodes (id, tenant_id, name_key, name, machine_key, created_at, renewed_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			n.ID, n.TenantID, strings.ToLower(n.Name), n.Name, strings.ToLower(n.MachineID), micros(n.Created), micros(n.Renewed)); err != nil {
			return fail(err, "create node")
		}
		return nil
	})
}

func scanNode(s scanner) (nodes.Node, error) {
	var n nodes.Node
	var created, renewed int64
	if err := s.Scan(&n.ID, &n.TenantID, &n.Name, &n.MachineID, &created, &renewed); err != nil {
		return n, err
	}
	n.Created, n.Renewed = fromMicros(sql.NullInt64{Int64: created, Valid: true}), fromMicros(sql.NullInt64{Int64: renewed, Valid: true})
	return n, nil
}

// GetNode returns errs.NotFound for an unknown id.
func (db *DB) GetNode(ctx context.Context, id string) (nodes.Node, error) {
	return one(db.hotPool().queryRow(ctx, `SELECT `+nodeColumns+nodeFrom+` WHERE n.id = ?`, id), scanNode, "node "+id)
}

// nodeAndResourceQuery is GetNodeAndResource's statement; its arguments: the resource's key
// twice ("" for the machine), the node's id.
var nodeAndResourceQuery = `SELECT ` + nodeColumns + `, o.` + strings.ReplaceAll(resourceColumns, ", ", ", o.") +
	`, i.id, i.principal_id, i.client_id` + nodeFrom + `
		LEFT JOIN resources AS o ON o.tenant_id = n.tenant_id AND o.id_key = CASE WHEN ? = '' THEN n.machine_key ELSE ? END
		LEFT JOIN resources_identity_links AS l ON l.tenant_id = o.tenant_id AND l.resource_key = o.id_key
		LEFT JOIN resources AS i ON i.id_key = l.identity_key
		WHERE n.id = ? ORDER BY l.identity_key`

// GetNodeAndResource reads node id and, in its tenant, the resource key (its machine when key is
// "") with the user-assigned identities attached to it, in one statement (a mint's hot path).
//
// Called with a context from MintSnapshot, it answers from what was read at that generation when
// it can (mintmemo.go).
func (db *DB) GetNodeAndResource(ctx context.Context, id, key string) (nodes.Node, resources.Resource, bool, error) {
	m := db.mintMemoOf(ctx)
	if m == nil {
		return db.getNodeAndResource(ctx, id, key)
	}
	k := id + "\x00" + key
	if v, ok := m.nodes.Load(k); ok {
		nr := v.(nodeAndResource)
		return nr.n, nr.r, nr.found, nil
	}
	n, r, found, err := db.getNodeAndResource(ctx, id, key)
	if err == nil && m.keep() {
		m.nodes.Store(k, nodeAndResource{n: n, r: r, found: found})
	}
	return n, r, found, err
}

func (db *DB) getNodeAndResource(ctx context.Context, id, key string) (nodes.Node, resources.Resource, bool, error) {
	rows, err := db.hotPool().query(ctx, nodeAndResourceQuery, key, key, id)
	if err != nil {
		return nodes.Node{}, resources.Resource{}, false, fail(err, "read node "+id)
	}
	defer rows.Close()
	var (
		n       nodes.Node
		r       resources.Resource
		read    bool // a row was read
		found   bool // with a resource
		created int64
		renewed int64
	)
	for rows.Next() {
		var uaID, uaPrincipal, uaClient sql.NullString
		nodeDests := []any{&n.ID, &n.TenantID, &n.Name, &n.MachineID, &created, &renewed}
		row, err := scanResource(around{s: leftJoined{r: rows, check: len(nodeDests)}, before: nodeDests,
			after: []any{&uaID, &uaPrincipal, &uaClient}})
		switch {
		case errors.Is(err, sql.ErrNoRows): // the node without the resource
		case err != nil:
			return nodes.Node{}, resources.Resource{}, false, fail(err, "read node "+id)
		case !found:
			r, found = row, true
		}
		read = true
		if found && uaID.Valid {
			r.UserAssigned = append(r.UserAssigned, resources.UserAssignedRef{ID: uaID.String, PrincipalID: uaPrincipal.String, ClientID: uaClient.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nodes.Node{}, resources.Resource{}, false, fail(err, "read node "+id)
	}
	if !read {
		return nodes.Node{}, resources.Resource{}, false, errs.E(errs.NotFound, "node %s not found", id)
	}
	n.Created, n.Renewed = fromMicros(sql.NullInt64{Int64: created, Valid: true}), fromMicros(sql.NullInt64{Int64: renewed, Valid: true})
	return n, r, found, nil
}

// around scans a row whose first columns go to before and last ones to after, around what the
// caller scans.
type around struct {
	s             scanner
	before, after []any
}

func (a around) Scan(dest ...any) error {
	all := make([]any, 0, len(a.before)+len(dest)+len(a.after))
	all = append(append(append(all, a.before...), dest...), a.after...)
	return a.s.Scan(all...)
}

// GetNodeByName returns errs.NotFound when the tenant has no node of that name.
func (db *DB) GetNodeByName(ctx context.Context, tenantID, name string) (nodes.Node, error) {
	return one(db.pool().queryRow(ctx, `SELECT `+nodeColumns+nodeFrom+` WHERE n.tenant_id = ? AND n.name_key = ?`,
		tenantID, strings.ToLower(name)), scanNode, "node "+name)
}

// ListNodes returns the tenant's nodes by name.
func (db *DB) ListNodes(ctx context.Context, tenantID string) ([]nodes.Node, error) {
	rows, err := db.pool().query(ctx, `SELECT `+nodeColumns+nodeFrom+` WHERE n.tenant_id = ? ORDER BY n.name_key`, tenantID)
	if err != nil {
		return nil, fail(err, "list nodes")
	}
	defer rows.Close()
	var out []nodes.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fail(err, "list nodes")
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list nodes")
	}
	return out, nil
}

// TouchNode records a certificate renewal; errs.NotFound for an unknown id.
func (db *DB) TouchNode(ctx context.Context, id string, renewed time.Time) error {
	return db.inTx(ctx, "TouchNode", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE nodes SET renewed_at = ? WHERE id = ?`, micros(renewed), id)
		if err != nil {
			return fail(err, "touch node")
		}
		if !ok {
			return errs.E(errs.NotFound, "node %s not found", id)
		}
		return nil
	})
}

// DeleteNode deletes the tenant's node of that name (not its machine); errs.NotFound if none.
func (db *DB) DeleteNode(ctx context.Context, tenantID, name string) error {
	return db.inTx(ctx, "DeleteNode", "", func(c conn) error {
		ok, err := c.execOne(ctx, `DELETE FROM nodes WHERE tenant_id = ? AND name_key = ?`, tenantID, strings.ToLower(name))
		if err != nil {
			return fail(err, "delete node")
		}
		if !ok {
			return errs.E(errs.NotFound, "node %s not found", name)
		}
		return nil
	})
}

// NodeEvents returns up to limit events of the tenant after the given seq, in order.
func (db *DB) NodeEvents(ctx context.Context, tenantID string, after int64, limit int) ([]nodes.Event, error) {
	rows, err := db.pool().query(ctx, `SELECT seq, tenant_id, kind, principal_id FROM node_events
		WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, tenantID, after, limit)
	if err != nil {
		return nil, fail(err, "node events")
	}
	defer rows.Close()
	var out []nodes.Event
	for rows.Next() {
		var e nodes.Event
		if err := rows.Scan(&e.Seq, &e.TenantID, &e.Kind, &e.PrincipalID); err != nil {
			return nil, fail(err, "node events")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "node events")
	}
	return out, nil
}

// NodeEventHorizon returns the newest event's seq (0 when none) and the seq through which
// events have been pruned.
func (db *DB) NodeEventHorizon(ctx context.Context) (last, pruned int64, err error) {
	err = db.pool().queryRow(ctx, `SELECT coalesce((SELECT max(seq) FROM node_events), 0), seq FROM node_events_pruned WHERE id = 1`).Scan(&last, &pruned)
	if err != nil {
		return 0, 0, fail(err, "node event horizon")
	}
	if pruned > last {
		last = pruned
	}
	return last, pruned, nil
}

// PruneNodeEvents deletes the events created before the given time and records the seq through
// which events are gone.
func (db *DB) PruneNodeEvents(ctx context.Context, before time.Time) error {
	return db.inTx(ctx, "PruneNodeEvents", "", func(c conn) error {
		var through sql.NullInt64
		if err := c.queryRow(ctx, `SELECT max(seq) FROM node_events WHERE created_at < ?`, before.Unix()).Scan(&through); err != nil {
			return fail(err, "prune node events")
		}
		if !through.Valid {
			return nil
		}
		if _, err := c.exec(ctx, `DELETE FROM node_events WHERE seq <= ?`, through.Int64); err != nil {
			return fail(err, "prune node events")
		}
		if _, err := c.exec(ctx, `UPDATE node_events_pruned SET seq = ? WHERE id = 1 AND seq < ?`, through.Int64, through.Int64); err != nil {
			return fail(err, "prune node events")
		}
		return nil
	})
}
