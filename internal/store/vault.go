package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/vault"
)

var _ vault.Store = (*DB)(nil)

// The vault domain's tables (migration 0006). A version's row id is vault.SealID, the id its value
// is sealed with.

// vaultByNameQuery names the type as a literal, not a parameter: SQLite can then plan with the
// partial index of vault names once, where a bound type would have it re-prepare the statement on
// every run (a parameter that decides whether a partial index applies).
const vaultByNameQuery = `SELECT g.gen, r.tenant_id, r.id, r.id_key, r.properties, p.policy_tenant_id, p.object_id, p.application_id, p.permissions
	FROM vault_generation AS g JOIN resources AS r ON r.type_key = '` + vaultTypeKey + `' AND r.name_key = ?
	LEFT JOIN resources_vault_access_policies AS p ON p.vault_key = r.id_key
	WHERE g.id = 1 ORDER BY p.position`

const vaultGenerationQuery = `SELECT gen FROM vault_generation WHERE id = 1`

// VaultGeneration returns the number that every change to a vault resource or its access
// policies raises in the transaction of the change (migration 0008).
func (db *DB) VaultGeneration(ctx context.Context) (int64, error) {
	var gen int64
	if err := db.hotPool().queryRow(ctx, vaultGenerationQuery).Scan(&gen); err != nil {
		return 0, fail(err, "read the vault generation")
	}
	return gen, nil
}

// VaultByName finds a vault by its lower-cased name, with its access policies' secret permissions
// and the vault generation they are of (one statement).
func (db *DB) VaultByName(ctx context.Context, name string) (vault.Vault, error) {
	v := vault.Vault{Name: strings.ToLower(name)}
	rows, err := db.hotPool().query(ctx, vaultByNameQuery, v.Name)
	if err != nil {
		return vault.Vault{}, fail(err, "read vault")
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var (
			props                      string
			ptenant, oid, appID, perms sql.NullString
		)
		if err := rows.Scan(&v.Gen, &v.TenantID, &v.ID, &v.Key, &props, &ptenant, &oid, &appID, &perms); err != nil {
			return vault.Vault{}, fail(err, "read vault")
		}
		found = true
		v.Properties = json.RawMessage(props)
		if !oid.Valid {
			continue // no access policies
		}
		var ps struct {
			Secrets []string `json:"secrets"`
		}
		if err := json.Unmarshal([]byte(perms.String), &ps); err != nil {
			return vault.Vault{}, errs.Wrap(errs.Internal, err, "store: corrupt access policy permissions")
		}
		v.Policies = append(v.Policies, vault.Policy{TenantID: ptenant.String, ObjectID: oid.String, ApplicationID: appID.String, Secrets: ps.Secrets})
	}
	if err := rows.Err(); err != nil {
		return vault.Vault{}, fail(err, "read vault")
	}
	if !found {
		return vault.Vault{}, errs.E(errs.NotFound, "no vault named %q", v.Name)
	}
	return v, nil
}

const versionColumns = `s.name, v.version, v.content_type, v.tags, v.enabled, v.not_before, v.expires, v.created_at, v.updated_at`

type rowScanner interface{ Scan(dest ...any) error }

// scanSecret reads versionColumns (with the sealed value when sealed), then deleted_at and
// purge_at, then the columns of extra.
func scanSecret(r rowScanner, vaultKey string, sealed bool, extra ...any) (vault.Secret, error) {
	var (
		s                       vault.Secret
		tags                    string
		nbf, exp, deleted, purg sql.NullInt64
		created, updated        int64
	)
	v := &s.Latest
	v.VaultKey = vaultKey
	dest := []any{&v.Name, &v.Version, &v.ContentType, &tags, &v.Enabled, &nbf, &exp, &created, &updated}
	if sealed {
		dest = append(dest, &v.KEKID, &v.Sealed)
	}
	dest = append(dest, &deleted, &purg)
	dest = append(dest, extra...)
	if err := r.Scan(dest...); err != nil {
		return s, err
	}
	var err error
	if v.Tags, err = tagsFrom(tags); err != nil {
		return s, err
	}
	if nbf.Valid {
		v.NotBefore = time.Unix(nbf.Int64, 0).UTC()
	}
	if exp.Valid {
		v.Expires = time.Unix(exp.Int64, 0).UTC()
	}
	v.Created, v.Updated = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	s.DeletedAt, s.PurgeAt = fromMicros(deleted), fromMicros(purg)
	return s, nil
}

func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// GetSecret returns a secret's state and one version (the latest when version is "").
func (db *DB) GetSecret(ctx context.Context, vaultKey, name, version string) (vault.Secret, vault.Version, error) {
	return db.getSecret(ctx, vaultKey, name, version)
}

// GetSecretWithGeneration is GetSecret and VaultGeneration in one statement, so read at one
// moment: a read of a secret from a vault the server keeps costs one statement. The generation
// comes back also when there is no such secret (errs.NotFound), from the same one statement, so
// that a read of a secret that exists costs the same as one of a secret that does not: a caller
// who may not read learns nothing from the time of its refusal.
func (db *DB) GetSecretWithGeneration(ctx context.Context, vaultKey, name, version string) (int64, vault.Secret, vault.Version, error) {
	var gen int64
	var latest string
	var row *sql.Row
	if version == "" {
		row = db.hotPool().queryRow(ctx, secretWithGenQueries[0], vaultKey, strings.ToLower(name))
	} else {
		row = db.hotPool().queryRow(ctx, secretWithGenQueries[1], vaultKey, strings.ToLower(name), version)
	}
	s, err := scanSecret(row, vaultKey, true, &latest, &gen)
	if err == nil && s.Latest.Version == "" { // the left join found no such secret or version
		err = sql.ErrNoRows
	}
	v := s.Latest
	if err := secretResult(err, &s, vaultKey, name, version, latest); err != nil {
		return gen, vault.Secret{}, vault.Version{}, err
	}
	return gen, s, v, nil
}

// secretWithGenQueries are GetSecretWithGeneration's statements, [by version]: the vault
// generation's one row, and the secret and its version joined to it when they exist. The
// columns of the joined side that are NOT NULL in their tables come back empty (or 0) when the
// join finds nothing (an empty version: no such secret), so that they scan without a
// sql.Null* apiece.
var secretWithGenQueries = func() (q [2]string) {
	for byVersion := range 2 {
		s := `SELECT COALESCE(s.name, ''), COALESCE(v.version, ''), COALESCE(v.content_type, ''), COALESCE(v.tags, '{}'),
		COALESCE(v.enabled, FALSE), v.not_before, v.expires, COALESCE(v.created_at, 0), COALESCE(v.updated_at, 0),
		COALESCE(v.kek_id, ''), v.sealed_value, s.deleted_at, s.purge_at, COALESCE(s.latest_version, ''), g.gen
		FROM vault_generation AS g
		LEFT JOIN vault_secrets AS s ON s.vault_key = ? AND s.name_key = ?
		LEFT JOIN vault_secret_versions AS v ON v.vault_key = s.vault_key AND v.name_key = s.name_key AND `
		if byVersion == 1 {
			s += `v.version = ?`
		} else {
			s += `v.version = s.latest_version`
		}
		q[byVersion] = s + ` WHERE g.id = 1`
	}
	return q
}()

// leftJoined scans a row of a LEFT JOIN whose right side's columns may all be NULL (no such
// secret, version or resource): NULLs become zero values, every column is still scanned (the
// generation, the node) and the error is sql.ErrNoRows when the check column is NULL.
type leftJoined struct {
	r     rowScanner
	check int // the column that is NULL when the left join found nothing
}

func (l leftJoined) Scan(dest ...any) error {
	tmp := make([]any, len(dest))
	for i, d := range dest {
		switch d.(type) {
		case *string:
			tmp[i] = new(sql.NullString)
		case *bool:
			tmp[i] = new(sql.NullBool)
		case *int64:
			tmp[i] = new(sql.NullInt64)
		default: // *sql.NullInt64, *[]byte: NULL is fine as they are
			tmp[i] = d
		}
	}
	if err := l.r.Scan(tmp...); err != nil {
		return err
	}
	for i, d := range dest {
		switch p := d.(type) {
		case *string:
			*p = tmp[i].(*sql.NullString).String
		case *bool:
			*p = tmp[i].(*sql.NullBool).Bool
		case *int64:
			*p = tmp[i].(*sql.NullInt64).Int64
		}
	}
	if v, ok := tmp[l.check].(*sql.NullString); !ok || !v.Valid {
		return sql.ErrNoRows
	}
	return nil
}

// secretQueries are getSecret's statements, built once, [by version]: the version asked for (or
// the latest), the secret's state, and the latest version's id for the state when another
// version was asked for.
var secretQueries = func() (q [2]string) {
	for byVersion := range 2 {
		s := `SELECT ` + versionColumns + `, v.kek_id, v.sealed_value, s.deleted_at, s.purge_at, s.latest_version FROM vault_secrets AS s
		JOIN vault_secret_versions AS v ON v.vault_key = s.vault_key AND v.name_key = s.name_key AND `
		if byVersion == 1 {
			s += `v.version = ?`
		} else {
			s += `v.version = s.latest_version`
		}
		q[byVersion] = s + ` WHERE s.vault_key = ? AND s.name_key = ?`
	}
	return q
}()

func (db *DB) getSecret(ctx context.Context, vaultKey, name, version string) (vault.Secret, vault.Version, error) {
	var latest string
	var row *sql.Row
	if version == "" {
		row = db.hotPool().queryRow(ctx, secretQueries[0], vaultKey, strings.ToLower(name))
	} else {
		row = db.hotPool().queryRow(ctx, secretQueries[1], version, vaultKey, strings.ToLower(name))
	}
	s, err := scanSecret(row, vaultKey, true, &latest)
	v := s.Latest
	if err := secretResult(err, &s, vaultKey, name, version, latest); err != nil {
		return vault.Secret{}, vault.Version{}, err
	}
	return s, v, nil
}

// secretResult finishes a secret read: errs.NotFound for no row, and s's state naming the latest
// version (latest) when another one was read.
func secretResult(err error, s *vault.Secret, vaultKey, name, version, latest string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.E(errs.NotFound, "no secret %q version %q", name, version)
	}
	if err != nil {
		return fail(err, "read secret")
	}
	if latest != s.Latest.Version {
		s.Latest = vault.Version{VaultKey: vaultKey, Name: s.Latest.Name, Version: latest}
	}
	return nil
}

// PutSecretVersion adds v as its secret's latest version.
func (db *DB) PutSecretVersion(ctx context.Context, v vault.Version) error {
	if v.VaultKey == "" || v.Name == "" || v.Version == "" || len(v.Sealed) == 0 {
		return errs.E(errs.Invalid, "store: a secret version needs a vault, a name, a version and a sealed value")
	}
	return db.inTx(ctx, "PutSecretVersion", "", func(c conn) error {
		nameKey := strings.ToLower(v.Name)
		if _, err := c.exec(ctx, `INSERT INTO vault_secrets (vault_key, name_key, name, latest_version) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, v.VaultKey, nameKey, v.Name, v.Version); err != nil {
			if rbacForeignKeyViolation(err) {
				return errs.E(errs.NotFound, "no vault %s", v.VaultKey)
			}
			return fail(err, "create secret")
		}
		var deleted sql.NullInt64
		if err := c.queryRow(ctx, `SELECT deleted_at FROM vault_secrets WHERE vault_key = ? AND name_key = ?`+c.d.forUpdate,
			v.VaultKey, nameKey).Scan(&deleted); err != nil {
			return fail(err, "read secret")
		}
		if deleted.Valid {
			return vault.ErrDeleted
		}
		if err := insertVersion(ctx, c, v); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE vault_secrets SET latest_version = ? WHERE vault_key = ? AND name_key = ?`,
			v.Version, v.VaultKey, nameKey); err != nil {
			return fail(err, "update secret")
		}
		return nil
	})
}

func insertVersion(ctx context.Context, c conn, v vault.Version) error {
	nameKey := strings.ToLower(v.Name)
	var seq int64
	if err := c.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM vault_secret_versions WHERE vault_key = ? AND name_key = ?`,
		v.VaultKey, nameKey).Scan(&seq); err != nil {
		return fail(err, "number version")
	}
	ok, err := c.execOne(ctx, `INSERT INTO vault_secret_versions (id, vault_key, name_key, version, seq, content_type, tags, enabled,
		not_before, expires, created_at, updated_at, kek_id, sealed_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		vault.SealID(v.VaultKey, v.Name, v.Version), v.VaultKey, nameKey, v.Version, seq, v.ContentType, tagsText(v.Tags), v.Enabled,
		unixOrNull(v.NotBefore), unixOrNull(v.Expires), micros(v.Created), micros(v.Updated), v.KEKID, v.Sealed)
	if err != nil {
		return fail(err, "insert secret version")
	}
	if !ok {
		return errs.E(errs.Conflict, "version %s of secret %s exists", v.Version, v.Name)
	}
	return nil
}

// UpdateSecretVersion writes a version's attributes.
func (db *DB) UpdateSecretVersion(ctx context.Context, v vault.Version) error {
	return db.inTx(ctx, "UpdateSecretVersion", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE vault_secret_versions SET content_type = ?, tags = ?, enabled = ?, not_before = ?, expires = ?,
			updated_at = ? WHERE id = ? AND EXISTS (SELECT 1 FROM vault_secrets AS s WHERE s.vault_key = ? AND s.name_key = ? AND s.deleted_at IS NULL)`,
			v.ContentType, tagsText(v.Tags), v.Enabled, unixOrNull(v.NotBefore), unixOrNull(v.Expires), micros(v.Updated),
			vault.SealID(v.VaultKey, v.Name, v.Version), v.VaultKey, strings.ToLower(v.Name))
		if err != nil {
			return fail(err, "update secret version")
		}
		if !ok {
			return errs.E(errs.NotFound, "no secret %q version %q", v.Name, v.Version)
		}
		return nil
	})
}

// ListSecrets lists live or deleted secrets with their latest versions, without values.
func (db *DB) ListSecrets(ctx context.Context, vaultKey string, deleted bool, afterKey string, limit int) ([]vault.Secret, error) {
	if limit <= 0 {
		return nil, errs.E(errs.Invalid, "store: list limit must be positive")
	}
	cond := `s.deleted_at IS NULL`
	if deleted {
		cond = `s.deleted_at IS NOT NULL`
	}
	rows, err := db.pool().query(ctx, `SELECT `+versionColumns+`, s.deleted_at, s.purge_at FROM vault_secrets AS s
		JOIN vault_secret_versions AS v ON v.vault_key = s.vault_key AND v.name_key = s.name_key AND v.version = s.latest_version
		WHERE s.vault_key = ? AND `+cond+` AND s.name_key > ? ORDER BY s.name_key LIMIT ?`, vaultKey, afterKey, limit)
	if err != nil {
		return nil, fail(err, "list secrets")
	}
	defer rows.Close()
	var out []vault.Secret
	for rows.Next() {
		s, err := scanSecret(rows, vaultKey, false)
		if err != nil {
			return nil, fail(err, "list secrets")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list secrets")
	}
	return out, nil
}

// ListSecretVersions lists a live secret's versions in creation order, with their sealed values.
func (db *DB) ListSecretVersions(ctx context.Context, vaultKey, name, afterVersion string, limit int) ([]vault.Version, error) {
	c := db.pool()
	nameKey := strings.ToLower(name)
	var deleted sql.NullInt64
	err := c.queryRow(ctx, `SELECT deleted_at FROM vault_secrets WHERE vault_key = ? AND name_key = ?`, vaultKey, nameKey).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) || err == nil && deleted.Valid {
		return nil, errs.E(errs.NotFound, "no secret %q", name)
	}
	if err != nil {
		return nil, fail(err, "read secret")
	}
	var after int64
	if afterVersion != "" {
		err := c.queryRow(ctx, `SELECT seq FROM vault_secret_versions WHERE id = ?`, vault.SealID(vaultKey, name, afterVersion)).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errs.E(errs.Invalid, "no version %q to continue after", afterVersion)
		}
		if err != nil {
			return nil, fail(err, "read secret version")
		}
	}
	q := `SELECT ` + versionColumns + `, v.kek_id, v.sealed_value, s.deleted_at, s.purge_at FROM vault_secrets AS s
		JOIN vault_secret_versions AS v ON v.vault_key = s.vault_key AND v.name_key = s.name_key
		WHERE s.vault_key = ? AND s.name_key = ? AND v.seq > ? ORDER BY v.seq`
	args := []any{vaultKey, nameKey, after}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, fail(err, "list secret versions")
	}
	defer rows.Close()
	var out []vault.Version
	for rows.Next() {
		s, err := scanSecret(rows, vaultKey, true)
		if err != nil {
			return nil, fail(err, "list secret versions")
		}
		out = append(out, s.Latest)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list secret versions")
	}
	return out, nil
}

// secretState reads a secret's state (latest version without its value) in c.
func secretState(ctx context.Context, c conn, vaultKey, name string) (vault.Secret, error) {
	s, err := scanSecret(c.queryRow(ctx, `SELECT `+versionColumns+`, s.deleted_at, s.purge_at FROM vault_secrets AS s
		JOIN vault_secret_versions AS v ON v.vault_key = s.vault_key AND v.name_key = s.name_key AND v.version = s.latest_version
		WHERE s.vault_key = ? AND s.name_key = ?`, vaultKey, strings.ToLower(name)), vaultKey, false)
	if err != nil {
		return vault.Secret{}, fail(err, "read secret")
	}
	return s, nil
}

// DeleteSecret soft-deletes a live secret.
func (db *DB) DeleteSecret(ctx context.Context, vaultKey, name string, deletedAt, purgeAt time.Time) (vault.Secret, error) {
	var out vault.Secret
	err := db.inTx(ctx, "DeleteSecret", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE vault_secrets SET deleted_at = ?, purge_at = ? WHERE vault_key = ? AND name_key = ? AND deleted_at IS NULL`,
			micros(deletedAt), micros(purgeAt), vaultKey, strings.ToLower(name))
		if err != nil {
			return fail(err, "delete secret")
		}
		if !ok {
			return errs.E(errs.NotFound, "no secret %q", name)
		}
		out, err = secretState(ctx, c, vaultKey, name)
		return err
	})
	return out, err
}

// RecoverSecret makes a deleted secret live again.
func (db *DB) RecoverSecret(ctx context.Context, vaultKey, name string) (vault.Secret, error) {
	var out vault.Secret
	err := db.inTx(ctx, "RecoverSecret", "", func(c conn) error {
		ok, err := c.execOne(ctx, `UPDATE vault_secrets SET deleted_at = NULL, purge_at = NULL WHERE vault_key = ? AND name_key = ? AND deleted_at IS NOT NULL`,
			vaultKey, strings.ToLower(name))
		if err != nil {
			return fail(err, "recover secret")
		}
		if !ok {
			return errs.E(errs.NotFound, "no deleted secret %q", name)
		}
		out, err = secretState(ctx, c, vaultKey, name)
		return err
	})
	return out, err
}

// PurgeSecret deletes a deleted secret for good.
func (db *DB) PurgeSecret(ctx context.Context, vaultKey, name string) error {
	return db.inTx(ctx, "PurgeSecret", "", func(c conn) error {
		return purgeSecret(ctx, c, vaultKey, strings.ToLower(name))
	})
}

func purgeSecret(ctx context.Context, c conn, vaultKey, nameKey string) error {
	ok, err := c.execOne(ctx, `DELETE FROM vault_secrets WHERE vault_key = ? AND name_key = ? AND deleted_at IS NOT NULL`, vaultKey, nameKey)
	if err != nil {
		return fail(err, "purge secret")
	}
	if !ok {
		return errs.E(errs.NotFound, "no deleted secret %q", nameKey)
	}
	// The versions go by ON DELETE CASCADE; said again so that a database without foreign keys
	// enforced keeps no sealed value of a purged secret.
	if _, err := c.exec(ctx, `DELETE FROM vault_secret_versions WHERE vault_key = ? AND name_key = ?`, vaultKey, nameKey); err != nil {
		return fail(err, "purge secret versions")
	}
	return nil
}

// PurgeDueSecrets purges deleted secrets whose purge time has come.
func (db *DB) PurgeDueSecrets(ctx context.Context, now time.Time, limit int) ([]vault.Version, error) {
	if limit <= 0 {
		return nil, errs.E(errs.Invalid, "store: purge limit must be positive")
	}
	var out []vault.Version
	err := db.inTx(ctx, "PurgeDueSecrets", "", func(c conn) error {
		out = nil
		rows, err := c.query(ctx, `SELECT vault_key, name_key, name FROM vault_secrets WHERE purge_at IS NOT NULL AND purge_at <= ?
			ORDER BY purge_at, vault_key, name_key LIMIT ?`+c.d.forUpdate, now.UnixMicro(), limit)
		if err != nil {
			return fail(err, "list secrets to purge")
		}
		var keys []string
		for rows.Next() {
			var v vault.Version
			var key string
			if err := rows.Scan(&v.VaultKey, &key, &v.Name); err != nil {
				rows.Close()
				return fail(err, "list secrets to purge")
			}
			out = append(out, v)
			keys = append(keys, key)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fail(err, "list secrets to purge")
		}
		for i, v := range out {
			if err := purgeSecret(ctx, c, v.VaultKey, keys[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// RestoreSecret creates a secret from backed-up versions.
func (db *DB) RestoreSecret(ctx context.Context, versions []vault.Version) error {
	if len(versions) == 0 {
		return errs.E(errs.Invalid, "store: a restored secret needs a version")
	}
	first, last := versions[0], versions[len(versions)-1]
	return db.inTx(ctx, "RestoreSecret", "", func(c conn) error {
		nameKey := strings.ToLower(first.Name)
		var deleted sql.NullInt64
		err := c.queryRow(ctx, `SELECT deleted_at FROM vault_secrets WHERE vault_key = ? AND name_key = ?`, first.VaultKey, nameKey).Scan(&deleted)
		switch {
		case err == nil && deleted.Valid:
			return vault.ErrDeleted
		case err == nil:
			return vault.ErrExists
		case !errors.Is(err, sql.ErrNoRows):
			return fail(err, "read secret")
		}
		if _, err := c.exec(ctx, `INSERT INTO vault_secrets (vault_key, name_key, name, latest_version) VALUES (?, ?, ?, ?)`,
			first.VaultKey, nameKey, first.Name, last.Version); err != nil {
			if rbacForeignKeyViolation(err) {
				return errs.E(errs.NotFound, "no vault %s", first.VaultKey)
			}
			return fail(err, "create secret")
		}
		for _, v := range versions {
			if v.VaultKey != first.VaultKey || !strings.EqualFold(v.Name, first.Name) || len(v.Sealed) == 0 {
				return errs.E(errs.Invalid, "store: restored versions must be of one secret and sealed")
			}
			if err := insertVersion(ctx, c, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// VaultBackupKey returns the tenant's backup key, sealed (migration 0009). When the tenant has
// none, it stores the one create returns (KEK id, sealed bytes) and returns it; when two servers
// make one at once, both get the one stored first.
func (db *DB) VaultBackupKey(ctx context.Context, tenantID string, create func() (kekID string, sealed []byte, err error)) ([]byte, error) {
	id := strings.ToLower(tenantID)
	read := func() ([]byte, error) {
		var sealed []byte
		err := db.pool().queryRow(ctx, `SELECT sealed_key FROM vault_backup_keys WHERE id = ?`, id).Scan(&sealed)
		if err != nil {
			return nil, err
		}
		return sealed, nil
	}
	sealed, err := read()
	if err == nil {
		return sealed, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fail(err, "read the vault backup key")
	}
	kekID, made, err := create()
	if err != nil {
		return nil, err
	}
	if _, err := db.pool().exec(ctx, `INSERT INTO vault_backup_keys (id, kek_id, sealed_key, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, id, kekID, made, micros(time.Now())); err != nil {
		return nil, fail(err, "store the vault backup key")
	}
	if sealed, err = read(); err != nil {
		return nil, fail(err, "read the vault backup key")
	}
	return sealed, nil
}
