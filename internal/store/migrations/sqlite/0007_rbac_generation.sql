-- 0007: a generation number per tenant that every change to the tenant's RBAC role assignments
-- raises, in the transaction of the change (triggers, so that no write path can forget it;
-- cascaded deletes fire them too). An authorization decision reads it from the store on every
-- request and reuses what it read before only while the number is unchanged, so the decision
-- is made from the store's current state on every server without reading every assignment again.
-- A tenant without a row is at generation 0.

CREATE TABLE rbac_generations (
	tenant_id TEXT    NOT NULL PRIMARY KEY,
	gen       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Tenants that already have assignments start at 1; a tenant without a row has never had one.
INSERT INTO rbac_generations (tenant_id, gen) SELECT DISTINCT tenant_id, 1 FROM rbac_role_assignments;

CREATE TRIGGER rbac_generation_added AFTER INSERT ON rbac_role_assignments
BEGIN
	INSERT INTO rbac_generations (tenant_id, gen) VALUES (NEW.tenant_id, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET gen = gen + 1;
END;

CREATE TRIGGER rbac_generation_removed AFTER DELETE ON rbac_role_assignments
BEGIN
	INSERT INTO rbac_generations (tenant_id, gen) VALUES (OLD.tenant_id, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET gen = gen + 1;
END;

CREATE TRIGGER rbac_generation_changed AFTER UPDATE ON rbac_role_assignments
BEGIN
	INSERT INTO rbac_generations (tenant_id, gen) VALUES (OLD.tenant_id, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET gen = gen + 1;
	INSERT INTO rbac_generations (tenant_id, gen) VALUES (NEW.tenant_id, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET gen = gen + 1;
END;
