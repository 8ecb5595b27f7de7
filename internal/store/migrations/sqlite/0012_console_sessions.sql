-- 0010: the web console's sign-in: single-use login links and the sessions they open.
--
-- Both are kept only as the SHA-256 (hex) of their secret; the secret itself is in the link the
-- administrator was given, or in the browser's cookie. A session names who it acts for:
-- principal_kind 'admin' (an administrator, opened by a link from the admin socket) today; a
-- human user's kind and object id later. id is the session's public name, which audit records
-- carry as the actor (console:{id}); it is not a credential.

CREATE TABLE console_login_links (
	hash       TEXT    NOT NULL PRIMARY KEY, -- hex SHA-256 of the link's secret
	tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
	created_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER                       -- NULL until the link opens a session
) STRICT;

CREATE TABLE console_sessions (
	id             TEXT    NOT NULL PRIMARY KEY, -- a GUID: the session's public name
	secret_hash    TEXT    NOT NULL UNIQUE,      -- hex SHA-256 of the cookie's secret
	tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
	principal_kind TEXT    NOT NULL,             -- 'admin'
	principal_id   TEXT    NOT NULL,             -- '' for an administrator
	created_by     TEXT    NOT NULL,             -- the actor that made the login link
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_login_links_expiry ON console_login_links (expires_at);
