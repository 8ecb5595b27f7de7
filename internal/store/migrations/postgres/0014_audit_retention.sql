-- 0014: audit retention. See the SQLite migration.

CREATE TABLE audit_base (
	id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq  BIGINT  NOT NULL,
	hash TEXT    NOT NULL
);

INSERT INTO audit_base (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE audit_segments (
	last_seq    BIGINT NOT NULL PRIMARY KEY,
	first_seq   BIGINT NOT NULL,
	last_hash   TEXT   NOT NULL,
	file        TEXT   NOT NULL,
	sha256      TEXT   NOT NULL,
	server      TEXT   NOT NULL,
	exported_at BIGINT NOT NULL
);
