-- 0008: one generation number for what the vault data plane reads of vaults (the vault
-- resources and their access policies), raised by triggers in the transaction of every change.
-- See the SQLite migration for the model. The update locks the row until commit, so changes
-- raise it one after the other and a statement that sees generation N sees every change up to N.

CREATE TABLE vault_generation (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	gen BIGINT  NOT NULL
);

INSERT INTO vault_generation (id, gen) VALUES (1, 1);

CREATE FUNCTION vault_generation_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE vault_generation SET gen = gen + 1 WHERE id = 1;
	RETURN NULL;
END
$$;

CREATE TRIGGER vault_generation_vault_added AFTER INSERT ON resources
	FOR EACH ROW WHEN (NEW.type_key = 'microsoft.keyvault/vaults') EXECUTE FUNCTION vault_generation_raise();
CREATE TRIGGER vault_generation_vault_changed AFTER UPDATE ON resources
	FOR EACH ROW WHEN (OLD.type_key = 'microsoft.keyvault/vaults' OR NEW.type_key = 'microsoft.keyvault/vaults')
	EXECUTE FUNCTION vault_generation_raise();
CREATE TRIGGER vault_generation_vault_removed AFTER DELETE ON resources
	FOR EACH ROW WHEN (OLD.type_key = 'microsoft.keyvault/vaults') EXECUTE FUNCTION vault_generation_raise();
CREATE TRIGGER vault_generation_policy AFTER INSERT OR UPDATE OR DELETE ON resources_vault_access_policies
	FOR EACH ROW EXECUTE FUNCTION vault_generation_raise();
