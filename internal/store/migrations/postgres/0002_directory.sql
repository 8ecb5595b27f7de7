-- 0002: the directory: applications, service principals, app role assignments, groups and
-- directory role assignments. Every row carries its tenant; every query is scoped by it.
-- Lists are keyset pages by id, so each table has an index on (tenant_id, id).
-- JSON arrays (identifier URIs, app roles, names) are stored as JSON text. Keys are COLLATE "C" so
-- that keyset pages follow byte order, as in SQLite.
-- Deleting a service principal cascades to everything that refers to it; deleting an
-- application cascades to its service principal and its identifier URIs.

CREATE TABLE directory_applications (
	id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id        TEXT    NOT NULL REFERENCES tenants (id),
	app_id           TEXT COLLATE "C" NOT NULL,
	display_name     TEXT    NOT NULL,
	identifier_uris  TEXT    NOT NULL, -- JSON array of strings, as given
	app_roles        TEXT    NOT NULL, -- JSON array of Graph appRole objects
	sign_in_audience TEXT    NOT NULL,
	builtin          BOOLEAN NOT NULL DEFAULT FALSE,
	created_at       BIGINT  NOT NULL
);

CREATE UNIQUE INDEX directory_applications_app_id ON directory_applications (tenant_id, app_id);
CREATE UNIQUE INDEX directory_applications_page ON directory_applications (tenant_id, id);

-- The identifier URIs of every application, by directory.NameKey (lower case, no trailing
-- slash): unique in the tenant, and how a token's resource finds its service principal.
CREATE TABLE directory_identifier_uris (
	tenant_id      TEXT    NOT NULL,
	name           TEXT COLLATE "C" NOT NULL,
	application_id TEXT COLLATE "C" NOT NULL REFERENCES directory_applications (id) ON DELETE CASCADE,
	PRIMARY KEY (tenant_id, name)
);

CREATE INDEX directory_identifier_uris_application ON directory_identifier_uris (application_id);

CREATE TABLE directory_service_principals (
	id                           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id                    TEXT    NOT NULL REFERENCES tenants (id),
	app_id                       TEXT COLLATE "C" NOT NULL,
	application_id               TEXT COLLATE "C" REFERENCES directory_applications (id) ON DELETE CASCADE, -- NULL: a managed identity
	sp_type                      TEXT    NOT NULL,
	display_name                 TEXT    NOT NULL,
	service_principal_names      TEXT    NOT NULL, -- JSON array
	alternative_names            TEXT    NOT NULL, -- JSON array
	app_roles                    TEXT    NOT NULL, -- JSON array, the application's
	account_enabled              BOOLEAN NOT NULL,
	app_role_assignment_required BOOLEAN NOT NULL,
	app_owner_organization_id    TEXT,
	builtin                      BOOLEAN NOT NULL DEFAULT FALSE,
	created_at                   BIGINT  NOT NULL
);

CREATE UNIQUE INDEX directory_service_principals_app_id ON directory_service_principals (tenant_id, app_id);
CREATE UNIQUE INDEX directory_service_principals_page ON directory_service_principals (tenant_id, id);
-- One service principal per application (NULLs, managed identities, are all distinct).
CREATE UNIQUE INDEX directory_service_principals_application ON directory_service_principals (application_id);

CREATE TABLE directory_app_role_assignments (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id    TEXT    NOT NULL REFERENCES tenants (id),
	principal_id TEXT COLLATE "C" NOT NULL REFERENCES directory_service_principals (id) ON DELETE CASCADE,
	resource_id  TEXT COLLATE "C" NOT NULL REFERENCES directory_service_principals (id) ON DELETE CASCADE,
	app_role_id  TEXT COLLATE "C" NOT NULL,
	created_at   BIGINT  NOT NULL
);

-- Also the (principal_id, resource_id) index that minting reads.
CREATE UNIQUE INDEX directory_app_role_assignments_grant ON directory_app_role_assignments (principal_id, resource_id, app_role_id);
CREATE INDEX directory_app_role_assignments_principal ON directory_app_role_assignments (principal_id, id);
CREATE INDEX directory_app_role_assignments_resource ON directory_app_role_assignments (resource_id, id);

CREATE TABLE directory_groups (
	id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id        TEXT    NOT NULL REFERENCES tenants (id),
	display_name     TEXT    NOT NULL,
	description      TEXT    NOT NULL,
	mail_nickname    TEXT    NOT NULL,
	security_enabled BOOLEAN NOT NULL,
	mail_enabled     BOOLEAN NOT NULL,
	group_types      TEXT    NOT NULL, -- JSON array
	created_at       BIGINT  NOT NULL
);

CREATE UNIQUE INDEX directory_groups_page ON directory_groups (tenant_id, id);

CREATE TABLE directory_group_members (
	tenant_id TEXT    NOT NULL,
	group_id  TEXT COLLATE "C" NOT NULL REFERENCES directory_groups (id) ON DELETE CASCADE,
	member_id TEXT COLLATE "C" NOT NULL REFERENCES directory_service_principals (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, member_id)
);

CREATE INDEX directory_group_members_member ON directory_group_members (member_id);

CREATE TABLE directory_role_assignments (
	id                 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id          TEXT    NOT NULL REFERENCES tenants (id),
	principal_id       TEXT COLLATE "C" NOT NULL REFERENCES directory_service_principals (id) ON DELETE CASCADE,
	role_definition_id TEXT COLLATE "C" NOT NULL,
	directory_scope_id TEXT    NOT NULL,
	created_at         BIGINT  NOT NULL
);

CREATE UNIQUE INDEX directory_role_assignments_grant ON directory_role_assignments (principal_id, role_definition_id, directory_scope_id);
CREATE UNIQUE INDEX directory_role_assignments_page ON directory_role_assignments (tenant_id, id);
