-- 0017: the audit log's filter keys move out of audit_events into audit_keys, which a background
-- fold fills (issue 16's cost on the vault read). See the SQLite migration. COLLATE "C" as in
-- 0016, so that the range scan of a prefix follows code point order, as in SQLite.

DROP INDEX audit_events_actor;
DROP INDEX audit_events_action;
DROP INDEX audit_events_target;
DROP INDEX audit_events_time;

CREATE TABLE audit_keys (
	seq    BIGINT NOT NULL PRIMARY KEY,
	time   BIGINT NOT NULL,
	actor  TEXT   NOT NULL,
	action TEXT   NOT NULL,
	target TEXT   NOT NULL,
	result TEXT   NOT NULL
);

-- The audit log's filters. action and target are matched by prefix ranges, which need code point
-- order: the indexes are COLLATE "C" and the queries compare with COLLATE "C".
CREATE INDEX audit_keys_actor ON audit_keys (actor, seq);
CREATE INDEX audit_keys_action ON audit_keys ((action COLLATE "C"), seq);
CREATE INDEX audit_keys_target ON audit_keys ((target COLLATE "C"), seq);
CREATE INDEX audit_keys_time ON audit_keys (time, seq);

-- The events that exist when this migration runs are folded now.
INSERT INTO audit_keys (seq, time, actor, action, target, result)
	SELECT seq, time, actor, action, target, result FROM audit_events;
