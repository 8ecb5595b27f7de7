-- 0013: what a function app needs beyond its resource and config documents (issue 14).
--
-- site_packages: deployment packages (zips), content addressed and deduplicated per tenant by
-- their digest ("sha256:" + hex), kept in the store so that every server can hand them out.
-- site_deployments: which package each site was deployed with, the current one and a few
-- before it (a node that still runs an older one may fetch it); a package no row names is
-- garbage. They go with their site.
-- site_function_keys: a function app's keys (the master key, host function keys, system keys
-- and each function's keys), sealed under the KEK (AD site_function_keys/{id}/value).
-- site_timer_claims: one row per (site, timer function, tick): the node whose insert wins runs
-- the tick.

CREATE TABLE site_packages (
	tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
	digest     TEXT    NOT NULL, -- "sha256:" + 64 lower-case hex digits
	size       INTEGER NOT NULL,
	body       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, digest)
) STRICT;

CREATE TABLE site_deployments (
	resource_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	digest       TEXT    NOT NULL,
	deployed_at  INTEGER NOT NULL,
	PRIMARY KEY (resource_key, digest)
) STRICT;

CREATE INDEX site_deployments_digest ON site_deployments (digest);

CREATE TABLE site_function_keys (
	id           TEXT    NOT NULL PRIMARY KEY, -- a GUID: the sealed value's AD id
	resource_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	scope        TEXT    NOT NULL, -- 'master', 'host', 'system', or 'function:' + the function's name in lower case
	name         TEXT    NOT NULL,
	kek_id       TEXT    NOT NULL,
	sealed_value BLOB    NOT NULL,
	created_at   INTEGER NOT NULL,
	UNIQUE (resource_key, scope, name)
) STRICT;

CREATE TABLE site_timer_claims (
	resource_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	func_name    TEXT    NOT NULL, -- lower case
	tick         INTEGER NOT NULL, -- unix microseconds
	node_id      TEXT    NOT NULL,
	claimed_at   INTEGER NOT NULL,
	PRIMARY KEY (resource_key, func_name, tick)
) STRICT;

CREATE INDEX site_timer_claims_age ON site_timer_claims (claimed_at);
