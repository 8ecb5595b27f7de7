-- 0016: indexes for the console's list pages (issue 16).
--
-- A search key for display names, so that Graph's startswith(displayName,'…') is an
-- indexed range scan instead of a scan of every object. display_name_key is odata.FoldKey of
-- display_name (each rune replaced by the least rune of its case folding orbit), computed by
-- lanyard when it writes the row; the rows that exist when this migration runs get theirs when
-- the store is opened (store.backfillNameKeys), since SQL's lower() does not fold as Graph does.

ALTER TABLE directory_applications ADD COLUMN display_name_key TEXT;
ALTER TABLE directory_service_principals ADD COLUMN display_name_key TEXT;

CREATE INDEX directory_applications_name ON directory_applications (tenant_id, display_name_key, id);
CREATE INDEX directory_service_principals_name ON directory_service_principals (tenant_id, display_name_key, id);

-- The audit log's filters (GET /admin/v1/audit?actor=&action=&target=&to=): newest first within
-- one actor, or one action or target range, or a time window that ends in the past, without
-- reading the whole chain.
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_target ON audit_events (target, seq);
CREATE INDEX audit_events_time ON audit_events (time, seq);
