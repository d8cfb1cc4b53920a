-- Remote restart (issue 13): when an admin last asked an agent to restart, the health start time
-- the agent had reported then, and when it came back (a reported start time other than that one).
ALTER TABLE agents ADD COLUMN restart_requested_at timestamptz;
ALTER TABLE agents ADD COLUMN restart_start_time_unix_nano text;
ALTER TABLE agents ADD COLUMN restart_completed_at timestamptz;
-- The custom capabilities the agent last reported (AgentToServer.custom_capabilities), a JSON array.
ALTER TABLE agents ADD COLUMN custom_capabilities jsonb;
