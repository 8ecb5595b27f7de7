-- 0005: nodes (hosts running `lanyard agent`), the single-use join tokens that enroll them, and
-- the events that tell agents to drop cached tokens.
--
-- A join token is kept only as its SHA-256 (hex); used_at is set when it enrolls a node, and a
-- used token is never accepted again. A node is a Microsoft.HybridCompute/machines resource
-- (machine_key); deleting the machine deletes the node, which its agent's certificate then no
-- longer names.
--
-- node_events is written by triggers, in the transaction of the change: an app role granted or
-- revoked, an RBAC role assignment added or removed, a user-assigned identity detached from a
-- resource, a service principal disabled or deleted (a system-assigned identity turned off, an
-- identity deleted). seq is one increasing number for every server sharing the database.

CREATE TABLE nodes (
	id          TEXT    NOT NULL PRIMARY KEY, -- a GUID, lower case
	tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
	name_key    TEXT    NOT NULL,             -- the name in lower case
	name        TEXT    NOT NULL,
	machine_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	created_at  INTEGER NOT NULL,
	renewed_at  INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX nodes_name ON nodes (tenant_id, name_key);
CREATE INDEX nodes_machine ON nodes (machine_key);

CREATE TABLE node_join_tokens (
	hash       TEXT    NOT NULL PRIMARY KEY, -- hex SHA-256 of the token
	tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
	node_name  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,                      -- NULL until it enrolls a node
	created_by TEXT    NOT NULL
) STRICT;

CREATE TABLE node_events (
	seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	tenant_id    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	principal_id TEXT    NOT NULL,
	created_at   INTEGER NOT NULL -- unix seconds
) STRICT;

CREATE INDEX node_events_tenant ON node_events (tenant_id, seq);

-- The Seq through which node_events have been pruned: an agent that asks for events after an
-- older Seq has missed some, and is told to drop everything.
CREATE TABLE node_events_pruned (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq INTEGER  NOT NULL
) STRICT;

INSERT INTO node_events_pruned (id, seq) VALUES (1, 0);

CREATE TRIGGER node_events_grant_added AFTER INSERT ON directory_app_role_assignments
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (NEW.tenant_id, 'identity-changed', NEW.principal_id, unixepoch());
END;

CREATE TRIGGER node_events_grant_removed AFTER DELETE ON directory_app_role_assignments
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (OLD.tenant_id, 'identity-changed', OLD.principal_id, unixepoch());
END;

CREATE TRIGGER node_events_rbac_added AFTER INSERT ON rbac_role_assignments
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (NEW.tenant_id, 'identity-changed', NEW.principal_id, unixepoch());
END;

CREATE TRIGGER node_events_rbac_removed AFTER DELETE ON rbac_role_assignments
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (OLD.tenant_id, 'identity-changed', OLD.principal_id, unixepoch());
END;

CREATE TRIGGER node_events_detached AFTER DELETE ON resources_identity_links
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at)
	SELECT OLD.tenant_id, 'identity-changed', principal_id, unixepoch() FROM resources WHERE id_key = OLD.identity_key AND principal_id IS NOT NULL;
END;

CREATE TRIGGER node_events_sp_deleted AFTER DELETE ON directory_service_principals
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (OLD.tenant_id, 'identity-changed', OLD.id, unixepoch());
END;

CREATE TRIGGER node_events_sp_disabled AFTER UPDATE OF account_enabled ON directory_service_principals
	WHEN OLD.account_enabled <> NEW.account_enabled
BEGIN
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at) VALUES (NEW.tenant_id, 'identity-changed', NEW.id, unixepoch());
END;
