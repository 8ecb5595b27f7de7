-- 0011: changes announced with NOTIFY, so that servers learn of them at once instead of polling.
-- Every node event (a role assignment, an identity or an account change: see 0005) notifies the
-- channel lanyard_changes with the payload '{schema}:node-events'; UpdateSigningKeys notifies
-- '{schema}:signing-keys' (in Go). A notification is delivered when its transaction commits, and
-- identical ones of one transaction are delivered once. The schema in the payload keeps
-- installations that share a database (one schema each) apart: channels are database-wide.

CREATE OR REPLACE FUNCTION node_events_add(tenant TEXT, principal TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF principal IS NULL THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended('lanyard.node-events.' || coalesce(current_schema(), ''), 0));
	INSERT INTO node_events (tenant_id, kind, principal_id, created_at)
	VALUES (tenant, 'identity-changed', principal, extract(epoch FROM now())::BIGINT);
	PERFORM pg_notify('lanyard_changes', coalesce(current_schema(), '') || ':node-events');
END
$$;
