-- 0001: tenants, token signing keys, the CA, the audit chain and leases.
-- Times are unix microseconds; NULL (or 0 in a NOT NULL column) means "not set".
-- Columns holding a sealed value are named sealed_* and sit next to kek_id; each is listed in
-- sealedColumns (sealed.go) so that KEK rotation covers it.

CREATE TABLE tenants (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	is_default BOOLEAN NOT NULL DEFAULT FALSE,
	created_at BIGINT  NOT NULL
);

-- At most one default tenant.
CREATE UNIQUE INDEX tenants_one_default ON tenants (is_default) WHERE is_default;

CREATE TABLE signing_keys (
	id          TEXT   NOT NULL PRIMARY KEY,
	alg         TEXT   NOT NULL,
	cert_der    BYTEA  NOT NULL,
	sealed_key  BYTEA  NOT NULL,
	kek_id      TEXT   NOT NULL,
	created_at  BIGINT NOT NULL,
	activate_at BIGINT NOT NULL,
	retire_at   BIGINT,
	drop_at     BIGINT
);

CREATE INDEX signing_keys_kek_id ON signing_keys (kek_id);

-- The installation's root CA: one row, id 'root'.
CREATE TABLE ca (
	id         TEXT   NOT NULL PRIMARY KEY CHECK (id = 'root'),
	cert_der   BYTEA  NOT NULL,
	sealed_key BYTEA  NOT NULL,
	kek_id     TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE audit_events (
	seq        BIGINT NOT NULL PRIMARY KEY,
	time       BIGINT NOT NULL,
	actor      TEXT   NOT NULL,
	action     TEXT   NOT NULL,
	target     TEXT   NOT NULL,
	result     TEXT   NOT NULL,
	request_id TEXT   NOT NULL,
	detail     TEXT   NOT NULL,
	prev_hash  TEXT   NOT NULL,
	hash       TEXT   NOT NULL
);

-- The audit chain's head: the last event's seq and hash. Appending an event locks this row
-- (SELECT ... FOR UPDATE), which orders appends from every server.
CREATE TABLE audit_head (
	id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq  BIGINT  NOT NULL,
	hash TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- Leases: which server runs a background task (key rotation, clean-up) until expires_at.
CREATE TABLE leases (
	name       TEXT   NOT NULL PRIMARY KEY,
	holder     TEXT   NOT NULL,
	expires_at BIGINT NOT NULL
);
