-- Available components (issue 13): the component list a collector build reports, stored once per
-- distinct hash per tenant (thousands of agents share a few builds; each agent row keeps only
-- agents.available_components_hash). Immutable once written: the hash names the list.
-- `components` is null when the list was refused (`refusal` says why, e.g. too large): the hash is
-- then known, so the server does not ask for it again, and agents of that build are not blocked.
CREATE TABLE agent_component_sets (
  tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  hash         text NOT NULL,
  components   jsonb,
  refusal      text,
  list_bytes   integer NOT NULL,
  reported_by  uuid NOT NULL,
  reported_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, hash),
  CHECK ((components IS NULL) <> (refusal IS NULL))
);
