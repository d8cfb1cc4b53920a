-- Own telemetry (issue 13): where a tenant's collectors send their own metrics, logs and traces,
-- offered to agents as OpAMP connection settings (own_metrics / own_logs / own_traces).
-- One row per tenant. `settings` holds endpoints, plain header values and secret REFERENCES only
-- ({"secret": "<name>"}): secret values are resolved when offered and never stored here.
-- DELETE keeps the row with settings NULL, so that an agent that reconnects later is still told
-- to stop; a tenant that never set own telemetry has no row and its agents are offered nothing.
CREATE TABLE tenant_own_telemetry (
  tenant_id   text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  settings    jsonb,
  updated_at  timestamptz NOT NULL,
  updated_by  text NOT NULL
);
