-- 0009: a backup key per tenant. Secret backups are sealed under it rather than under the KEK,
-- so that a backup taken before a KEK rotation still restores after it: the key itself is
-- sealed under the KEK (AD vault_backup_keys/{tenant id}/key) and rewrapped by the rotation,
-- while its bytes stay the same. It is made on the tenant's first backup.

CREATE TABLE vault_backup_keys (
	id         TEXT    NOT NULL PRIMARY KEY, -- the tenant id, lower case
	kek_id     TEXT    NOT NULL,
	sealed_key BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
