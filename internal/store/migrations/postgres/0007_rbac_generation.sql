-- 0007: a generation number per tenant that every change to the tenant's RBAC role assignments
-- raises in the transaction of the change. See the SQLite migration for the model. The upsert
-- locks the tenant's row until commit, so concurrent changes raise it one after the other and a
-- statement that sees generation N sees every change up to N and none after it.

CREATE TABLE rbac_generations (
	tenant_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	gen       BIGINT NOT NULL
);

INSERT INTO rbac_generations (tenant_id, gen) SELECT DISTINCT tenant_id, 1 FROM rbac_role_assignments;

CREATE FUNCTION rbac_generation_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		INSERT INTO rbac_generations AS g (tenant_id, gen) VALUES (OLD.tenant_id, 1)
			ON CONFLICT (tenant_id) DO UPDATE SET gen = g.gen + 1;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		INSERT INTO rbac_generations AS g (tenant_id, gen) VALUES (NEW.tenant_id, 1)
			ON CONFLICT (tenant_id) DO UPDATE SET gen = g.gen + 1;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER rbac_generation AFTER INSERT OR UPDATE OR DELETE ON rbac_role_assignments
	FOR EACH ROW EXECUTE FUNCTION rbac_generation_raise();
