-- agent-api initial schema: the whole data model of DESIGN.md §4.
-- Rules that hold across it:
--   * every row carries tenant_id and every query filters by it;
--   * credentials are stored only as SHA-256 (unique) plus a non-secret display prefix;
--   * template revisions are immutable (trigger below);
--   * audit_events.tenant_id is not a foreign key, so history outlives a deleted tenant.

CREATE TABLE tenants (
  id            text PRIMARY KEY,
  org_id        text,
  display_name  text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL
);
CREATE INDEX tenants_org_idx ON tenants (org_id);

-- REST credentials. tenant_id NULL = operator key (all tenants).
CREATE TABLE admin_api_keys (
  id              text PRIMARY KEY,
  tenant_id       text REFERENCES tenants (id) ON DELETE CASCADE,
  name            text NOT NULL,
  role            text NOT NULL CHECK (role IN ('operator', 'admin', 'editor', 'viewer')),
  key_hash        bytea NOT NULL UNIQUE,
  display_prefix  text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text NOT NULL,
  expires_at      timestamptz,
  last_used_at    timestamptz,
  revoked_at      timestamptz,
  revoked_by      text,
  CHECK ((tenant_id IS NULL) = (role = 'operator'))
);
CREATE INDEX admin_api_keys_tenant_idx ON admin_api_keys (tenant_id, id);

CREATE TABLE agent_enrollment_tokens (
  id                  text PRIMARY KEY,
  tenant_id           text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name                text NOT NULL,
  labels              jsonb NOT NULL DEFAULT '{}'::jsonb,
  token_hash          bytea NOT NULL UNIQUE,
  display_prefix      text NOT NULL,
  expires_at          timestamptz,
  max_uses            integer CHECK (max_uses IS NULL OR max_uses > 0),
  use_count           integer NOT NULL DEFAULT 0,
  -- Collectors that only run the opamp extension cannot switch to a per-agent key
  -- (contrib #46001); an admin may let them receive config on this token.
  allow_config_on_token boolean NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL DEFAULT now(),
  created_by          text NOT NULL,
  last_used_at        timestamptz,
  revoked_at          timestamptz,
  revoked_by          text
);
CREATE INDEX agent_enrollment_tokens_tenant_idx ON agent_enrollment_tokens (tenant_id, id);

CREATE TABLE agents (
  tenant_id             text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  instance_uid          uuid NOT NULL,
  enrollment_token_id   text REFERENCES agent_enrollment_tokens (id) ON DELETE SET NULL,
  -- Server-assigned labels (enrollment token + admin edits): the only input to targeting.
  labels                jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Agent-reported state, merged per facet (an omitted facet means "unchanged").
  description           jsonb,
  capabilities          bigint NOT NULL DEFAULT 0,
  health                jsonb,
  effective_config      text,
  effective_config_hash text,
  remote_config_status  jsonb,
  available_components_hash text,
  sequence_num          bigint,
  -- Connection state, written by the replica holding the socket.
  replica_id            text,
  -- The connection the replica holds; a late close of a replaced connection must not mark
  -- the agent offline (the supervisor's reconnect races its own close).
  connection_id         text,
  transport             text CHECK (transport IS NULL OR transport IN ('websocket', 'http')),
  connected_at          timestamptz,
  disconnected_at       timestamptz,
  last_seen_at          timestamptz,
  heartbeat_interval_s  integer NOT NULL DEFAULT 30,
  enrolled_at           timestamptz NOT NULL DEFAULT now(),
  key_confirmed_at      timestamptz,
  -- An admin asked for a new key; the replica holding the agent offers it on the live
  -- connection (or on its next connection).
  key_rotation_requested_at timestamptz,
  revoked_at            timestamptz,
  revoked_by            text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, instance_uid)
)
-- Room on each page for a new version of the row: reports and heartbeats change no indexed
-- column, so they can be HOT updates (no index writes) when the page has space.
WITH (fillfactor = 70);
CREATE INDEX agents_labels_idx ON agents USING gin (labels jsonb_path_ops);
-- The connected agents of a tenant in page order (GET /agents?status=online); also what a
-- stopping replica scans to mark its agents offline (no index of replica_id itself: every
-- connect and disconnect would write it).
CREATE INDEX agents_connected_idx ON agents (tenant_id, instance_uid) WHERE replica_id IS NOT NULL;

-- Per-agent OpAMP credentials (xag_). A rotation leaves two rows live until the new key's first use.
CREATE TABLE agent_keys (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL,
  instance_uid    uuid NOT NULL,
  key_hash        bytea NOT NULL UNIQUE,
  display_prefix  text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  first_used_at   timestamptz,
  last_used_at    timestamptz,
  revoked_at      timestamptz,
  revoke_reason   text,
  FOREIGN KEY (tenant_id, instance_uid) REFERENCES agents (tenant_id, instance_uid) ON DELETE CASCADE
);
CREATE INDEX agent_keys_agent_idx ON agent_keys (tenant_id, instance_uid);

CREATE TABLE agent_config_templates (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name            text NOT NULL,
  description     text,
  latest_version  integer NOT NULL DEFAULT 0,
  -- GitOps: objects applied from a bundle carry its source marker; prune touches only those.
  source          text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE agent_config_template_revisions (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL,
  template_id     text NOT NULL REFERENCES agent_config_templates (id) ON DELETE CASCADE,
  version         integer NOT NULL CHECK (version > 0),
  content         text NOT NULL,
  content_sha256  text NOT NULL,
  message         text,
  author          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (template_id, version)
);
CREATE INDEX agent_config_template_revisions_tenant_idx ON agent_config_template_revisions (tenant_id, template_id, version DESC);

-- Revisions are immutable: content and its hash never change once written.
CREATE FUNCTION agent_config_revision_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'template revisions are immutable' USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER agent_config_revision_no_update
  BEFORE UPDATE ON agent_config_template_revisions
  FOR EACH ROW EXECUTE FUNCTION agent_config_revision_immutable();

CREATE TABLE agent_config_assignments (
  id                text PRIMARY KEY,
  tenant_id         text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name              text NOT NULL,
  description       text,
  selector          text NOT NULL,
  -- Opt-in: also match agent-reported attributes (never by default, so an agent cannot claim
  -- another fleet's config and secrets).
  match_reported_attributes boolean NOT NULL DEFAULT false,
  -- RESTRICT: a template used by an assignment cannot be deleted (API answers 409).
  template_id       text NOT NULL REFERENCES agent_config_templates (id) ON DELETE RESTRICT,
  revision_version  integer CHECK (revision_version IS NULL OR revision_version > 0), -- NULL = latest
  priority          integer NOT NULL DEFAULT 0,
  source            text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  created_by        text NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

-- One row per (agent, desired config hash).
CREATE TABLE agent_config_deliveries (
  id                text PRIMARY KEY,
  tenant_id         text NOT NULL,
  instance_uid      uuid NOT NULL,
  config_hash       text NOT NULL,
  template_id       text REFERENCES agent_config_templates (id) ON DELETE SET NULL,
  revision_id       text REFERENCES agent_config_template_revisions (id) ON DELETE SET NULL,
  assignment_id     text REFERENCES agent_config_assignments (id) ON DELETE SET NULL,
  status            text NOT NULL CHECK (status IN ('pending', 'offered', 'applying', 'applied', 'failed', 'superseded')),
  error_message     text,
  -- Set when the agent reported this hash APPLIED right after FAILED for a newer one
  -- (the supervisor's automatic rollback).
  rolled_back_from  text,
  attempts          integer NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  offered_at        timestamptz,
  applying_at       timestamptz,
  applied_at        timestamptz,
  failed_at         timestamptz,
  superseded_at     timestamptz,
  UNIQUE (tenant_id, instance_uid, config_hash),
  FOREIGN KEY (tenant_id, instance_uid) REFERENCES agents (tenant_id, instance_uid) ON DELETE CASCADE
);
-- One agent's deliveries are found through the unique (tenant_id, instance_uid, config_hash)
-- index; no index of its own (every status change would write one more index).
CREATE INDEX agent_config_deliveries_status_idx ON agent_config_deliveries (tenant_id, status, updated_at DESC, id DESC);
-- The tenant-wide list, newest first (keyset pages on (updated_at, id)).
CREATE INDEX agent_config_deliveries_recent_idx ON agent_config_deliveries (tenant_id, updated_at DESC, id DESC);
CREATE INDEX agent_config_deliveries_revision_idx ON agent_config_deliveries (revision_id);
CREATE INDEX agent_config_deliveries_assignment_idx ON agent_config_deliveries (assignment_id);

-- Envelope-encrypted secret values, one row per version (DESIGN.md §9). No plaintext column exists.
CREATE TABLE agent_config_secrets (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name            text NOT NULL,
  version         integer NOT NULL CHECK (version > 0),
  envelope        jsonb NOT NULL,
  kms_key_id      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text NOT NULL,
  UNIQUE (tenant_id, name, version)
);

CREATE TABLE audit_events (
  id            text PRIMARY KEY,
  tenant_id     text,
  actor_type    text NOT NULL,
  actor_id      text NOT NULL,
  action        text NOT NULL,
  target_type   text NOT NULL,
  target_id     text NOT NULL,
  request_id    text,
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, id DESC);

-- Cross-replica outbox: the table is the truth, NOTIFY only wakes replicas up.
CREATE TABLE fleet_events (
  id          bigserial PRIMARY KEY,
  tenant_id   text NOT NULL,
  kind        text NOT NULL,
  payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Work done once for the whole fleet (planning offline agents' deliveries) is claimed by
  -- the first replica that sets this; every replica still handles its own connected agents.
  claimed_by  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE replicas (
  id            text PRIMARY KEY,
  hostname      text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  stopped_at    timestamptz
);

-- Idempotency-Key on POST: the stored answer is replayed for the same key and body.
-- One-time secrets (tokens, keys) are never stored here; a replay omits them.
CREATE TABLE idempotency_keys (
  scope         text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  status_code   integer NOT NULL,
  response      jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
