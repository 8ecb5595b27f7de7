-- 0008: one generation number for what the vault data plane reads of vaults: the vault
-- resources (tenant, id, properties) and their access policies. Triggers raise it in the
-- transaction of every change, so that a server may keep a vault it has read and reuse it for a
-- request only after reading, at that request, that the number is unchanged: a removed access
-- policy still denies the very next request, on every server. Vault changes are rare next to
-- reads; one number for all vaults keeps the check to one row.

CREATE TABLE vault_generation (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
) STRICT;

INSERT INTO vault_generation (id, gen) VALUES (1, 1);

CREATE TRIGGER vault_generation_vault_added AFTER INSERT ON resources
	WHEN NEW.type_key = 'microsoft.keyvault/vaults'
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER vault_generation_vault_changed AFTER UPDATE ON resources
	WHEN OLD.type_key = 'microsoft.keyvault/vaults' OR NEW.type_key = 'microsoft.keyvault/vaults'
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER vault_generation_vault_removed AFTER DELETE ON resources
	WHEN OLD.type_key = 'microsoft.keyvault/vaults'
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER vault_generation_policy_added AFTER INSERT ON resources_vault_access_policies
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER vault_generation_policy_changed AFTER UPDATE ON resources_vault_access_policies
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER vault_generation_policy_removed AFTER DELETE ON resources_vault_access_policies
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
END;
