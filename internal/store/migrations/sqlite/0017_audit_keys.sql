-- 0017: the audit log's filter keys move out of audit_events (issue 16's cost on the vault read).
--
-- 0016's four indexes on audit_events made every audited operation (each vault read) insert into
-- five B-trees and write their pages to the WAL at commit. audit_events keeps only its own
-- B-tree; the filter columns are copied into audit_keys, which carries the indexes, by a
-- background fold (store.FoldAuditKeys, about once a second), never on the request path. The
-- events not yet folded (seq above MAX(audit_keys.seq)) are few, and QueryAudit reads them from
-- audit_events directly, so the filters stay exact.

DROP INDEX audit_events_actor;
DROP INDEX audit_events_action;
DROP INDEX audit_events_target;
DROP INDEX audit_events_time;

CREATE TABLE audit_keys (
	seq    INTEGER NOT NULL PRIMARY KEY,
	time   INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL,
	result TEXT    NOT NULL
) STRICT;

-- The audit log's filters (GET /admin/v1/audit?actor=&action=&target=&to=), as 0016 had them on
-- audit_events: newest first within one actor, or one action or target range, or a time window
-- that ends in the past, without reading the whole chain.
CREATE INDEX audit_keys_actor ON audit_keys (actor, seq);
CREATE INDEX audit_keys_action ON audit_keys (action, seq);
CREATE INDEX audit_keys_target ON audit_keys (target, seq);
CREATE INDEX audit_keys_time ON audit_keys (time, seq);

-- The events that exist when this migration runs are folded now.
INSERT INTO audit_keys (seq, time, actor, action, target, result)
	SELECT seq, time, actor, action, target, result FROM audit_events;
