-- 0009: a backup key per tenant, sealed under the KEK. See the SQLite migration.

CREATE TABLE vault_backup_keys (
	id         TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- the tenant id, lower case
	kek_id     TEXT   NOT NULL,
	sealed_key BYTEA  NOT NULL,
	created_at BIGINT NOT NULL
);
