-- 0013: signed checkpoints of the audit chain. See the SQLite migration.

CREATE TABLE audit_checkpoint_keys (
	id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	public_key BYTEA  NOT NULL,
	kek_id     TEXT   NOT NULL,
	sealed_key BYTEA  NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE audit_checkpoints (
	seq       BIGINT NOT NULL,
	hash      TEXT   NOT NULL,
	at        BIGINT NOT NULL,
	key_id    TEXT COLLATE "C" NOT NULL,
	signature BYTEA  NOT NULL,
	PRIMARY KEY (at, key_id)
);

CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
