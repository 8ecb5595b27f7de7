-- 0018: one generation number for what a token's mint reads (issue 17): the node, the resource
-- whose identity it asks for and the user-assigned identities linked to it (nodes, resources,
-- resources_identity_links), the resource's and the principal's service principals, identifier
-- URIs and app role assignments (directory_service_principals, directory_identifier_uris,
-- directory_app_role_assignments). Triggers raise it in the transaction of every change to those
-- tables, so that a server may keep what a mint read and reuse it only after reading, at that
-- request, that the number is unchanged: a removed role assignment or identity still counts for
-- the very next token, on every server (as vault_generation, 0008, does for the vault).
-- The update locks the row until commit, so changes raise it one after the other and a statement
-- that sees generation N sees every change up to N. The triggers are deferred to the commit: the
-- row is the last lock a transaction takes, so a transaction holding it never waits for a row
-- that another one, waiting for it, holds (no deadlock between writers of these tables).

CREATE TABLE mint_generation (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	gen BIGINT  NOT NULL
);

INSERT INTO mint_generation (id, gen) VALUES (1, 1);

CREATE FUNCTION mint_generation_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
	RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER mint_generation_nodes AFTER INSERT OR UPDATE OR DELETE ON nodes
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mint_generation_raise();
CREATE CONSTRAINT TRIGGER mint_generation_resources AFTER INSERT OR UPDATE OR DELETE ON resources
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mint_generation_raise();
CREATE CONSTRAINT TRIGGER mint_generation_resources_identity_links AFTER INSERT OR UPDATE OR DELETE ON resources_identity_links
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mint_generation_raise();
CREATE CONSTRAINT TRIGGER mint_generation_directory_service_principals AFTER INSERT OR UPDATE OR DELETE ON directory_service_principals
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mint_generation_raise();
CREATE CONSTRAINT TRIGGER mint_generation_directory_identifier_uris AFTER INSERT OR UPDATE OR DELETE ON directory_identifier_uris
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mint_generation_raise();
CREATE CONSTRAINT TRIGGER mint_generation_directory_app_role_assignments AFTER INSERT OR UPDATE OR DELETE ON directory_app_role_assignments
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mint_generation_raise();
