-- Drift (issue 12): an agent drifts when the config it runs is not the one it should run.
-- `desired_config_hash` is the hash of the config the planner last decided the agent should run
-- (null: nothing to run or compare: no assignment matches, a conflict, or the config does not
-- render or fit the agent's build). It is written when a plan is made (session start, a config
-- or label change, the offline planner), never on a heartbeat.
ALTER TABLE agents ADD COLUMN desired_config_hash text;
-- The rule, in one home: compared where the two hashes live, so a report of APPLIED (which sets
-- running_config_hash) or a new plan updates it with no code of its own and no YAML parsing.
-- Null = not known: revoked (held without config), not accepting remote config (0x2), not
-- reporting its effective config (0x4), or no desired config.
ALTER TABLE agents ADD COLUMN drift boolean GENERATED ALWAYS AS (
  CASE
    WHEN desired_config_hash IS NULL OR revoked_at IS NOT NULL
      OR (capabilities & 2) = 0 OR (capabilities & 4) = 0 THEN NULL
    ELSE running_config_hash IS DISTINCT FROM desired_config_hash
  END
) STORED;
-- GET /agents?drift=true and the drifted counts of roll-ups: one range of a small index.
CREATE INDEX agents_drifted_idx ON agents (tenant_id, instance_uid) WHERE drift;
