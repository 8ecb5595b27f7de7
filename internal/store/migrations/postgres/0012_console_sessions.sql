-- 0010: the web console's login links and sessions. See the SQLite migration.

CREATE TABLE console_login_links (
	hash       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id  TEXT   NOT NULL REFERENCES tenants (id),
	created_by TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT
);

CREATE TABLE console_sessions (
	id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	secret_hash    TEXT COLLATE "C" NOT NULL UNIQUE,
	tenant_id      TEXT   NOT NULL REFERENCES tenants (id),
	principal_kind TEXT   NOT NULL,
	principal_id   TEXT   NOT NULL,
	created_by     TEXT   NOT NULL,
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_login_links_expiry ON console_login_links (expires_at);
