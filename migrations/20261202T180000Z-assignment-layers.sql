-- Layered configs (issue 14, docs/layers.md): an assignment is a base (one wins per agent, as
-- before) or an overlay (every matching overlay is merged over the winning base, in ascending
-- priority). Existing assignments stay bases: today's behaviour.
ALTER TABLE agent_config_assignments ADD COLUMN layer text NOT NULL DEFAULT 'base'
  CHECK (layer IN ('base', 'overlay'));
