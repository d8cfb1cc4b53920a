-- Which config an agent runs now (issue 11): the hash it last reported APPLIED, and since when.
-- A later FAILED report does not change it (the agent still runs the last good config), so the
-- agent view and its deliveries can say "v2 runs" after v3 failed.
ALTER TABLE agents ADD COLUMN running_config_hash text;
ALTER TABLE agents ADD COLUMN running_since timestamptz;
-- Existing agents: what they last reported as applied.
UPDATE agents SET running_config_hash = remote_config_status ->> 'lastRemoteConfigHash', running_since = updated_at
  WHERE remote_config_status ->> 'status' = 'APPLIED' AND remote_config_status ->> 'lastRemoteConfigHash' <> '';
