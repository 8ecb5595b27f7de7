-- 0016: indexes for the console's list pages (issue 16). A search key for display names. See the SQLite migration. COLLATE "C" so that the range
-- scan of a prefix follows code point order, as in SQLite.

ALTER TABLE directory_applications ADD COLUMN display_name_key TEXT COLLATE "C";
ALTER TABLE directory_service_principals ADD COLUMN display_name_key TEXT COLLATE "C";

CREATE INDEX directory_applications_name ON directory_applications (tenant_id, display_name_key, id);
CREATE INDEX directory_service_principals_name ON directory_service_principals (tenant_id, display_name_key, id);

-- The audit log's filters. action and target are matched by prefix ranges, which need code point
-- order: the indexes are COLLATE "C" and the queries compare with COLLATE "C".
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events ((action COLLATE "C"), seq);
CREATE INDEX audit_events_target ON audit_events ((target COLLATE "C"), seq);
CREATE INDEX audit_events_time ON audit_events (time, seq);
