-- 0006: the vault domain's secrets. A secret is a name in a vault (compared without case:
-- name_key) with versions; the latest version is the one created last. A deleted secret keeps its
-- row and versions (deleted_at, purge_at set) until it is recovered or purged. A vault's
-- secrets go with it (ON DELETE CASCADE from resources).
--
-- Each version's value is sealed (sealed_value, under the KEK kek_id) with the associated data
-- vault_secret_versions/{id}/value, where id is "{vault key}/secrets/{name key}/{version}".

CREATE TABLE vault_secrets (
	vault_key      TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	name_key       TEXT    NOT NULL, -- the name in lower case
	name           TEXT    NOT NULL, -- as first written
	latest_version TEXT    NOT NULL, -- 32 hex digits
	deleted_at     INTEGER,          -- unix microseconds; NULL while the secret is live
	purge_at       INTEGER,          -- when a deleted secret is purged
	PRIMARY KEY (vault_key, name_key)
) STRICT;

CREATE INDEX vault_secrets_purge ON vault_secrets (purge_at) WHERE purge_at IS NOT NULL;

CREATE TABLE vault_secret_versions (
	id           TEXT    NOT NULL PRIMARY KEY, -- vault key/secrets/name key/version: the seal's AD
	vault_key    TEXT    NOT NULL,
	name_key     TEXT    NOT NULL,
	version      TEXT    NOT NULL,
	seq          INTEGER NOT NULL, -- creation order within the secret
	content_type TEXT    NOT NULL,
	tags         TEXT    NOT NULL, -- JSON object
	enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	not_before   INTEGER,          -- unix seconds; NULL for none
	expires      INTEGER,          -- unix seconds; NULL for none
	created_at   INTEGER NOT NULL, -- unix microseconds
	updated_at   INTEGER NOT NULL,
	kek_id       TEXT    NOT NULL,
	sealed_value BLOB    NOT NULL,
	FOREIGN KEY (vault_key, name_key) REFERENCES vault_secrets (vault_key, name_key) ON DELETE CASCADE
) STRICT;

CREATE UNIQUE INDEX vault_secret_versions_order ON vault_secret_versions (vault_key, name_key, seq);
