-- 0005: nodes (hosts running `lanyard agent`), the single-use join tokens that enroll them, and
-- the events that tell agents to drop cached tokens. See the SQLite migration for the model.
--
-- node_events rows are written by triggers in the transaction of the change. Each trigger first
-- takes a transaction-scoped advisory lock, so that transactions writing events commit in the
-- order of their sequence numbers: a reader that has seen seq N never later finds a smaller one.

CREATE TABLE nodes (
	id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
	name_key    TEXT COLLATE "C" NOT NULL,
	name        TEXT    NOT NULL,
	machine_key TEXT COLLATE "C" NOT NULL REFERENCES resources (id_key) ON DELETE CASCADE,
	created_at  BIGINT  NOT NULL,
	renewed_at  BIGINT  NOT NULL
);

CREATE UNIQUE INDEX nodes_name ON nodes (tenant_id, name_key);
CREATE INDEX nodes_machine ON nodes (machine_key);

CREATE TABLE node_join_tokens (
	hash       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
	node_name  TEXT    NOT NULL,
	created_at BIGINT  NOT NULL,
	expires_at BIGINT  NOT NULL,
	used_at    BIGINT,
	created_by TEXT    NOT NULL
);

CREATE TABLE node_events (
	seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id    TEXT   NOT NULL,
	kind         TEXT   NOT NULL,
	principal_id TEXT   NOT NULL,
	created_at   BIGINT NOT NULL
);

CREATE INDEX node_events_tenant ON node_events (tenant_id, seq);

-- The Seq through which node_events have been pruned: an agent that asks for events after an
-- older Seq has missed some, and is told to drop everything.
CREATE TABLE node_events_pruned (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq BIGINT  NOT NULL
);

INSERT INTO node_events_pruned (id, seq) VALUES (1, 0);

CREATE FUNCTION node_events_add(tenant TEXT, principal TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF principal IS NULL THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended('lanyard.node-events.' || coalesce(current_schema(), ''), 0));
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at)
	VALUES (tenant, 'identity-changed', principal, extract(epoch FROM now())::BIGINT);
END
$$;

CREATE FUNCTION node_events_principal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM node_events_add(OLD.tenant_id, OLD.principal_id);
		RETURN OLD;
	END IF;
	PERFORM node_events_add(NEW.tenant_id, NEW.principal_id);
	RETURN NEW;
END
$$;

CREATE TRIGGER node_events_grant AFTER INSERT OR DELETE ON directory_app_role_assignments
	FOR EACH ROW EXECUTE FUNCTION node_events_principal();
CREATE TRIGGER node_events_rbac AFTER INSERT OR DELETE ON rbac_role_assignments
	FOR EACH ROW EXECUTE FUNCTION node_events_principal();

CREATE FUNCTION node_events_detached() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM node_events_add(OLD.tenant_id, (SELECT principal_id FROM resources WHERE id_key = OLD.identity_key));
	RETURN OLD;
END
$$;

CREATE TRIGGER node_events_detached AFTER DELETE ON resources_identity_links
	FOR EACH ROW EXECUTE FUNCTION node_events_detached();

CREATE FUNCTION node_events_sp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM node_events_add(OLD.tenant_id, OLD.id);
		RETURN OLD;
	END IF;
	IF OLD.account_enabled IS DISTINCT FROM NEW.account_enabled THEN
		PERFORM node_events_add(NEW.tenant_id, NEW.id);
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER node_events_sp AFTER DELETE OR UPDATE OF account_enabled ON directory_service_principals
	FOR EACH ROW EXECUTE FUNCTION node_events_sp();
