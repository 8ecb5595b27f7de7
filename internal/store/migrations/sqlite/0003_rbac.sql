-- 0003: RBAC role assignments. Role definitions are built in (internal/rbac) and not stored.
-- scope is the canonical ARM id of the assignment's scope as the caller wrote it; scope_key is
-- its lower-cased form, which every comparison uses (ARM ids are case-insensitive).
-- Deleting a service principal deletes its role assignments in the same transaction.

CREATE TABLE rbac_role_assignments (
	tenant_id          TEXT    NOT NULL REFERENCES tenants (id),
	id                 TEXT    NOT NULL, -- the assignment's name, a GUID, lower case
	scope              TEXT    NOT NULL,
	scope_key          TEXT    NOT NULL,
	role_definition_id TEXT    NOT NULL, -- GUID, lower case
	principal_id       TEXT    NOT NULL REFERENCES directory_service_principals (id) ON DELETE CASCADE,
	principal_type     TEXT    NOT NULL,
	description        TEXT    NOT NULL,
	created_at         INTEGER NOT NULL,
	created_by         TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, id)
) STRICT;

-- At most one assignment of a role to a principal at a scope. It is also the index of the
-- authorization question: its leading (tenant_id, principal_id) finds one principal's
-- assignments, and it holds the scope and role the question reads, so the table is not touched.
CREATE UNIQUE INDEX rbac_role_assignments_principal ON rbac_role_assignments (tenant_id, principal_id, scope_key, role_definition_id);
-- Lists at, above and below a scope.
CREATE INDEX rbac_role_assignments_scope ON rbac_role_assignments (tenant_id, scope_key);
-- The cascade from directory_service_principals looks rows up by principal_id alone.
CREATE INDEX rbac_role_assignments_principal_id ON rbac_role_assignments (principal_id);
