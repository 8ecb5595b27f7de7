package store

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// The audit chain's signed checkpoints and their keys (migration 0013).

var _ audit.CheckpointStore = (*DB)(nil)

// AuditHead returns the last audit event's seq and hash (0 and "" for an empty chain).
func (db *DB) AuditHead(ctx context.Context) (int64, string, error) {
	if err := db.syncAudit(ctx); err != nil {
		return 0, "", err
	}
	var seq int64
	var hash string
	if err := db.pool().queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fail(err, "read the audit head")
	}
	return seq, hash, nil
}

// PutAuditCheckpoint stores a signed checkpoint.
func (db *DB) PutAuditCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	if _, err := db.pool().exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, c.Seq, c.Hash, micros(c.Time), c.KeyID, c.Signature); err != nil {
		return fail(err, "store an audit checkpoint")
	}
	return nil
}

// ListAuditCheckpoints returns the stored checkpoints, newest first, at most limit.
func (db *DB) ListAuditCheckpoints(ctx context.Context, limit int) ([]audit.Checkpoint, error) {
	if limit <= 0 {
		return nil, errs.E(errs.Invalid, "store: checkpoint list limit must be positive, not %d", limit)
	}
	rows, err := db.pool().query(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY at DESC, key_id LIMIT ?`, limit)
	if err != nil {
		return nil, fail(err, "list audit checkpoints")
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var at sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
			return nil, fail(err, "list audit checkpoints")
		}
		c.Time = fromMicros(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list audit checkpoints")
	}
	return out, nil
}

// AuditCheckpointKeys returns the public halves of every checkpoint key.
func (db *DB) AuditCheckpointKeys(ctx context.Context) ([]audit.CheckpointKey, error) {
	rows, err := db.pool().query(ctx, `SELECT id, public_key FROM audit_checkpoint_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fail(err, "list audit checkpoint keys")
	}
	defer rows.Close()
	var out []audit.CheckpointKey
	for rows.Next() {
		var k audit.CheckpointKey
		var pub []byte
		if err := rows.Scan(&k.ID, &pub); err != nil {
			return nil, fail(err, "list audit checkpoint keys")
		}
		k.PublicKey = ed25519.PublicKey(pub)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err, "list audit checkpoint keys")
	}
	return out, nil
}

// AuditCheckpointKey returns the checkpoint signing key (its id, public half and sealed seed):
// the oldest one stored. When there is none, it stores the one create returns; when two servers
// make one at once, both get the one stored first.
func (db *DB) AuditCheckpointKey(ctx context.Context, create func() (id string, pub []byte, kekID string, sealed []byte, err error)) (string, []byte, []byte, error) {
	read := func() (id string, pub, sealed []byte, err error) {
		err = db.pool().queryRow(ctx, `SELECT id, public_key, sealed_key FROM audit_checkpoint_keys ORDER BY created_at, id LIMIT 1`).Scan(&id, &pub, &sealed)
		return
	}
	id, pub, sealed, err := read()
	if err == nil {
		return id, pub, sealed, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil, fail(err, "read the audit checkpoint key")
	}
	id, pub, kekID, made, err := create()
	if err != nil {
		return "", nil, nil, err
	}
	// created_at 0 for every key made this way: the lowest id wins a race, on every server.
	if _, err := db.pool().exec(ctx, `INSERT INTO audit_checkpoint_keys (id, public_key, kek_id, sealed_key, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, id, pub, kekID, made, int64(0)); err != nil {
		return "", nil, nil, fail(err, "store the audit checkpoint key")
	}
	if id, pub, sealed, err = read(); err != nil {
		return "", nil, nil, fail(err, "read the audit checkpoint key")
	}
	return id, pub, sealed, nil
}
