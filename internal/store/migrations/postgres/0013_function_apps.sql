-- 0013: function apps' packages, deployments, keys and timer claims. See the SQLite migration.

CREATE TABLE site_packages (
	tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
	digest     TEXT COLLATE "C" NOT NULL,
	size       BIGINT NOT NULL,
	body       BYTEA  NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, digest)
);

CREATE TABLE site_deployments (
	resource_key TEXT COLLATE "C" NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	digest       TEXT COLLATE "C" NOT NULL,
	deployed_at  BIGINT NOT NULL,
	PRIMARY KEY (resource_key, digest)
);

CREATE INDEX site_deployments_digest ON site_deployments (digest);

CREATE TABLE site_function_keys (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	resource_key TEXT COLLATE "C" NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	scope        TEXT COLLATE "C" NOT NULL,
	name         TEXT COLLATE "C" NOT NULL,
	kek_id       TEXT   NOT NULL,
	sealed_value BYTEA  NOT NULL,
	created_at   BIGINT NOT NULL,
	UNIQUE (resource_key, scope, name)
);

CREATE TABLE site_timer_claims (
	resource_key TEXT COLLATE "C" NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	func_name    TEXT COLLATE "C" NOT NULL,
	tick         BIGINT NOT NULL,
	node_id      TEXT COLLATE "C" NOT NULL,
	claimed_at   BIGINT NOT NULL,
	PRIMARY KEY (resource_key, func_name, tick)
);

CREATE INDEX site_timer_claims_age ON site_timer_claims (claimed_at);
