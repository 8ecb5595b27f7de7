-- 0004: the resources domain: subscriptions, resource groups, resources (sites, machines,
-- user-assigned identities, vaults), the user-assigned identities attached to resources, and the
-- access policies of vaults. ARM ids are case-insensitive: every comparison uses a lower-cased key
-- column (*_key); the id or name as first written is kept beside it for display.
--
-- A resource's managed identity is a row of directory_service_principals (principal_id): its
-- system-assigned identity's, or, for a user-assigned identity, its own. The reference has no
-- ON DELETE action, so the service principal cannot go before the resource lets go of it; both
-- change in the same transaction. Deleting a resource detaches it from the user-assigned
-- identities it holds, and a user-assigned identity from every resource holding it (cascades on
-- resources_identity_links). Deleting a service principal deletes the access policies that name
-- it (trigger below), whichever way it is deleted.

CREATE TABLE resources_subscriptions (
	id           TEXT    NOT NULL PRIMARY KEY, -- a GUID, lower case
	tenant_id    TEXT    NOT NULL REFERENCES tenants (id),
	display_name TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	is_default   INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
	created_at   INTEGER NOT NULL
) STRICT;

-- At most one default subscription per tenant.
CREATE UNIQUE INDEX resources_subscriptions_default ON resources_subscriptions (tenant_id) WHERE is_default;
CREATE UNIQUE INDEX resources_subscriptions_tenant ON resources_subscriptions (tenant_id, id);

CREATE TABLE resources_groups (
	tenant_id       TEXT    NOT NULL,
	subscription_id TEXT    NOT NULL REFERENCES resources_subscriptions (id),
	name_key        TEXT    NOT NULL, -- the name in lower case
	name            TEXT    NOT NULL, -- as first written
	location        TEXT    NOT NULL,
	tags            TEXT    NOT NULL, -- JSON object
	managed_by      TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	PRIMARY KEY (subscription_id, name_key)
) STRICT;

CREATE TABLE resources (
	id_key          TEXT    NOT NULL PRIMARY KEY, -- the ARM id in lower case
	id              TEXT    NOT NULL,             -- the canonical ARM id
	tenant_id       TEXT    NOT NULL REFERENCES tenants (id),
	subscription_id TEXT    NOT NULL,
	group_key       TEXT    NOT NULL,
	type_key        TEXT    NOT NULL, -- "microsoft.web/sites"
	name_key        TEXT    NOT NULL,
	kind            TEXT    NOT NULL,
	location        TEXT    NOT NULL,
	tags            TEXT    NOT NULL, -- JSON object
	properties      TEXT    NOT NULL, -- JSON object, as the domain keeps it
	system_assigned INTEGER NOT NULL CHECK (system_assigned IN (0, 1)),
	principal_id    TEXT    REFERENCES directory_service_principals (id),
	client_id       TEXT    NOT NULL,
	version         INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	changed_at      INTEGER NOT NULL,
	FOREIGN KEY (subscription_id, group_key) REFERENCES resources_groups (subscription_id, name_key)
) STRICT;

-- Lists per group (and type), per subscription and type.
CREATE INDEX resources_group ON resources (subscription_id, group_key, type_key, id_key);
CREATE INDEX resources_type ON resources (subscription_id, type_key, id_key);
-- Vault names are host names: unique in the installation.
CREATE UNIQUE INDEX resources_vault_names ON resources (name_key) WHERE type_key = 'microsoft.keyvault/vaults';
-- The resource of a managed identity, and the foreign key check when its principal goes.
CREATE INDEX resources_principal ON resources (principal_id);

-- The user-assigned identities attached to a resource.
CREATE TABLE resources_identity_links (
	tenant_id    TEXT    NOT NULL,
	resource_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	identity_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	PRIMARY KEY (resource_key, identity_key)
) STRICT;

CREATE INDEX resources_identity_links_identity ON resources_identity_links (identity_key);

-- A vault's access policies, in their order. object_id is not a foreign key: a policy may name
-- any object id, as in Azure.
CREATE TABLE resources_vault_access_policies (
	tenant_id        TEXT    NOT NULL,
	vault_key        TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	position         INTEGER NOT NULL,
	policy_tenant_id TEXT    NOT NULL,
	object_id        TEXT    NOT NULL, -- lower case
	application_id   TEXT    NOT NULL, -- "" when none
	permissions      TEXT    NOT NULL, -- JSON object: keys, secrets, certificates, storage
	PRIMARY KEY (vault_key, position)
) STRICT;

CREATE INDEX resources_vault_access_policies_object ON resources_vault_access_policies (object_id);

CREATE TRIGGER resources_vault_access_policies_principal AFTER DELETE ON directory_service_principals
BEGIN
	DELETE FROM resources_vault_access_policies WHERE object_id = OLD.id;
END;
