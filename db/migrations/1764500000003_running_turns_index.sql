-- Up Migration

-- The gateway counts a tenant's running turns on every start (its per-tenant limit): keep that count to the few
-- rows it is about, however many finished turns a tenant has.
CREATE INDEX turns_running_by_tenant ON turns (tenant_id) WHERE status = 'running';

-- Down Migration
DROP INDEX turns_running_by_tenant;
