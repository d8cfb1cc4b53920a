-- Rollouts (issue 12): one assignment moved from one revision to another, agent by agent.
-- The rollout row carries the state machine's own state and the driving replica's lease; one row
-- per agent of the population carries that agent's state. Nothing of a rollout lives in memory
-- only: a replica that dies loses its lease when it expires and another resumes from these rows.
CREATE TABLE rollouts (
  id                    text PRIMARY KEY,
  tenant_id             text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  assignment_id         text NOT NULL REFERENCES agent_config_assignments (id) ON DELETE CASCADE,
  from_revision_id      text NOT NULL REFERENCES agent_config_template_revisions (id) ON DELETE CASCADE,
  to_revision_id        text NOT NULL REFERENCES agent_config_template_revisions (id) ON DELETE CASCADE,
  state                 text NOT NULL CHECK (state IN ('running', 'paused', 'completed', 'aborted', 'superseded')),
  reason                text,
  strategy              jsonb NOT NULL,
  -- Cumulative admitted-agent targets: [canary, wave 1, …, population].
  waves                 jsonb NOT NULL,
  current_wave          integer NOT NULL DEFAULT 0,
  wave_started_at       timestamptz NOT NULL,
  failure_budget        integer NOT NULL,
  acknowledged_failures integer NOT NULL DEFAULT 0,
  population            integer NOT NULL,
  superseded_by         text,
  -- The replica driving the rollout, until the lease expires (renewed while it drives).
  lease_owner           text,
  lease_expires_at      timestamptz,
  created_by            text NOT NULL,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  finished_at           timestamptz
);
-- At most one running or paused rollout per assignment.
CREATE UNIQUE INDEX rollouts_active_assignment_idx ON rollouts (assignment_id) WHERE state IN ('running', 'paused');
CREATE INDEX rollouts_tenant_idx ON rollouts (tenant_id, created_at DESC, id DESC);

CREATE TABLE rollout_agents (
  rollout_id        text NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
  tenant_id         text NOT NULL,
  instance_uid      uuid NOT NULL,
  -- Admission order (canary first, then by instance-uid hash).
  position          integer NOT NULL,
  canary            boolean NOT NULL,
  state             text NOT NULL CHECK (state IN ('pending', 'in_progress', 'succeeded', 'failed', 'rolled_back')),
  reason            text,
  -- While pending, the agent keeps this revision instead of the rollout's `from` (the target of a
  -- rollout this one superseded, which it had already been given): never an older one after a newer.
  hold_revision_id  text,
  admitted_at       timestamptz,
  applied_at        timestamptz,
  finished_at       timestamptz,
  updated_at        timestamptz NOT NULL,
  PRIMARY KEY (rollout_id, instance_uid)
);
CREATE INDEX rollout_agents_state_idx ON rollout_agents (rollout_id, state, position);

-- An assignment's default strategy: with one, a new revision of a `latest` assignment (or a new
-- pinned revision) starts a rollout instead of reaching every agent at once.
ALTER TABLE agent_config_assignments ADD COLUMN rollout_strategy jsonb;
