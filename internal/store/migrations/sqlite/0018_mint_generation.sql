-- 0018: one generation number for what a token's mint reads (issue 17): the node, the resource
-- whose identity it asks for and the user-assigned identities linked to it (nodes, resources,
-- resources_identity_links), the resource's and the principal's service principals, identifier
-- URIs and app role assignments (directory_service_principals, directory_identifier_uris,
-- directory_app_role_assignments). Triggers raise it in the transaction of every change to those
-- tables, so that a server may keep what a mint read and reuse it only after reading, at that
-- request, that the number is unchanged: a removed role assignment or identity still counts for
-- the very next token, on every server (as vault_generation, 0008, does for the vault).

CREATE TABLE mint_generation (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
) STRICT;

INSERT INTO mint_generation (id, gen) VALUES (1, 1);

CREATE TRIGGER mint_generation_nodes_added AFTER INSERT ON nodes
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_nodes_changed AFTER UPDATE ON nodes
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_nodes_removed AFTER DELETE ON nodes
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_resources_added AFTER INSERT ON resources
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_resources_changed AFTER UPDATE ON resources
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_resources_removed AFTER DELETE ON resources
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_resources_identity_links_added AFTER INSERT ON resources_identity_links
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_resources_identity_links_changed AFTER UPDATE ON resources_identity_links
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_resources_identity_links_removed AFTER DELETE ON resources_identity_links
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_service_principals_added AFTER INSERT ON directory_service_principals
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_service_principals_changed AFTER UPDATE ON directory_service_principals
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_service_principals_removed AFTER DELETE ON directory_service_principals
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_identifier_uris_added AFTER INSERT ON directory_identifier_uris
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_identifier_uris_changed AFTER UPDATE ON directory_identifier_uris
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_identifier_uris_removed AFTER DELETE ON directory_identifier_uris
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_app_role_assignments_added AFTER INSERT ON directory_app_role_assignments
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_app_role_assignments_changed AFTER UPDATE ON directory_app_role_assignments
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER mint_generation_directory_app_role_assignments_removed AFTER DELETE ON directory_app_role_assignments
BEGIN
	UPDATE mint_generation SET gen = gen + 1 WHERE id = 1;
END;
