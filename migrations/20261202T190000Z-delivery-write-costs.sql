-- Per-row costs of a fan-out that bought nothing (issue 17). Every delivery row written checked
-- three foreign keys (template, revision, assignment): three trigger queries and a row lock on
-- the parent per row, 30,000 per 10,000-agent fan-out. Their only work was ON DELETE SET NULL,
-- which the two delete statements now do themselves, in the same transaction
-- (src/fleet/configs/repository.ts: deleteTemplate, deleteAssignment). The tenant key stays:
-- it is how a tenant's deletion reaches its deliveries.
ALTER TABLE agent_config_deliveries
  DROP CONSTRAINT agent_config_deliveries_template_id_fkey,
  DROP CONSTRAINT agent_config_deliveries_revision_id_fkey,
  DROP CONSTRAINT agent_config_deliveries_assignment_id_fkey;
