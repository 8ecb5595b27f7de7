-- 0013: signed checkpoints of the audit chain (issue 15, item 7).
--
-- The chain of audit_events is an unkeyed SHA-256 chain: whoever can write the database can
-- rebuild it, or cut off its newest rows. A checkpoint is the chain's head (seq and hash) at a
-- moment, signed with an Ed25519 key whose private half is sealed under the KEK (AD
-- audit_checkpoint_keys/{id}/private-key): the database alone does not give it. Operators keep
-- copies of checkpoints (the log line, `lanyard audit checkpoint`), and `lanyard audit verify`
-- checks the chain against them: a rewritten chain or removed newest rows no longer match.

CREATE TABLE audit_checkpoint_keys (
	id         TEXT    NOT NULL PRIMARY KEY, -- hex of the first 8 bytes of SHA-256(public key)
	public_key BLOB    NOT NULL,             -- the raw 32-byte Ed25519 public key
	kek_id     TEXT    NOT NULL,
	sealed_key BLOB    NOT NULL,             -- the 32-byte Ed25519 seed, sealed
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_checkpoints (
	seq       INTEGER NOT NULL,             -- the last event the checkpoint covers
	hash      TEXT    NOT NULL,             -- that event's hash (hex)
	at        INTEGER NOT NULL,             -- when it was signed (unix microseconds)
	key_id    TEXT    NOT NULL,
	signature BLOB    NOT NULL,             -- Ed25519 over audit.CheckpointMessage
	PRIMARY KEY (at, key_id)
) STRICT;

CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
