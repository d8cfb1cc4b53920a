-- Layered configs (issue 14, docs/layers.md): an assignment is a base (one wins per agent, as
-- before) or an overlay (every matching overlay is merged over the winning base, in ascending
-- priority). Existing assignments stay bases: today's behaviour.
ALTER TABLE agent_config_assignments ADD COLUMN layer text NOT NULL DEFAULT 'base'
  CHECK (layer IN ('base', 'overlay'));
-- A delivery of a merged config keeps the revisions of the overlays merged into it (revision_id
-- stays the base's): a rollout of an overlay's assignment judges its agents by these rows.
ALTER TABLE agent_config_deliveries ADD COLUMN overlay_revision_ids text[] NOT NULL DEFAULT '{}';
