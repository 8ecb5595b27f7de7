-- 0010: a site's configuration documents (authsettingsV2). See the SQLite migration.

CREATE TABLE resources_site_configs (
	resource_key TEXT COLLATE "C" NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	name         TEXT COLLATE "C" NOT NULL,
	body         TEXT   NOT NULL,
	changed_at   BIGINT NOT NULL,
	PRIMARY KEY (resource_key, name)
);
