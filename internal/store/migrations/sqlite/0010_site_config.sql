-- 0010: a site's configuration documents that are resources of their own in ARM
-- (.../sites/{name}/config/{config}); today only authsettingsV2 (App Service Authentication).
-- The body is the document's properties as the resources domain validated them (JSON). They go
-- with their site.

CREATE TABLE resources_site_configs (
	resource_key TEXT    NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	name         TEXT    NOT NULL, -- "authsettingsv2"
	body         TEXT    NOT NULL, -- JSON object
	changed_at   INTEGER NOT NULL,
	PRIMARY KEY (resource_key, name)
) STRICT;
