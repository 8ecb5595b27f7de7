-- 0016: a search key for display names. See the SQLite migration. COLLATE "C" so that the range
-- scan of a prefix follows code point order, as in SQLite.

ALTER TABLE directory_applications ADD COLUMN display_name_key TEXT COLLATE "C";
ALTER TABLE directory_service_principals ADD COLUMN display_name_key TEXT COLLATE "C";

CREATE INDEX directory_applications_name ON directory_applications (tenant_id, display_name_key, id);
CREATE INDEX directory_service_principals_name ON directory_service_principals (tenant_id, display_name_key, id);
