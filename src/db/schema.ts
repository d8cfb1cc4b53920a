/**
 * Kysely table types for the SQL in `migrations/`. Hand-written: keep in step with the
 * migrations (test/integration/db.test.ts checks every column against the live catalog).
 */
import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

/** A timestamptz: read as Date, written as Date or ISO string. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A column with a database default. */
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb: read as parsed JSON, written as a JSON string (both drivers accept text for jsonb). */
type Json<T> = ColumnType<T, string, string>;
type DefaultedJson<T> = ColumnType<T, string | undefined, string>;
/** bytea: pg returns Buffer, PGlite Uint8Array. */
type Bytes = ColumnType<Uint8Array, Uint8Array, Uint8Array>;
/** int8: pg returns a string, PGlite a number or bigint; normalise with Number()/BigInt(). */
type Int8 = ColumnType<string | number | bigint, string | number | bigint, string | number | bigint>;

export type Labels = Record<string, string>;

export interface TenantsTable {
  id: string;
  org_id: string | null;
  display_name: string;
  created_at: DefaultedTimestamp;
  created_by: string;
}

export type AdminRole = "operator" | "admin" | "editor" | "viewer";

export interface AdminApiKeysTable {
  id: string;
  tenant_id: string | null;
  name: string;
  role: AdminRole;
  key_hash: Bytes;
  display_prefix: string;
  created_at: DefaultedTimestamp;
  created_by: string;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoked_by: string | null;
}

export interface AgentEnrollmentTokensTable {
  id: string;
  tenant_id: string;
  name: string;
  labels: DefaultedJson<Labels>;
  token_hash: Bytes;
  display_prefix: string;
  expires_at: Timestamp | null;
  max_uses: number | null;
  use_count: Generated<number>;
  allow_config_on_token: Generated<boolean>;
  created_at: DefaultedTimestamp;
  created_by: string;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoked_by: string | null;
}

export interface AgentsTable {
  tenant_id: string;
  instance_uid: string;
  enrollment_token_id: string | null;
  labels: DefaultedJson<Labels>;
  description: Json<unknown> | null;
  capabilities: ColumnType<
    string | number | bigint,
    string | number | bigint | undefined,
    string | number | bigint
  >;
  health: Json<unknown> | null;
  effective_config: string | null;
  effective_config_hash: string | null;
  remote_config_status: Json<unknown> | null;
  available_components_hash: string | null;
  /** The remote config hash the agent last reported APPLIED (what it runs now). */
  running_config_hash: string | null;
  running_since: Timestamp | null;
  /**
   * The hash of the config the planner last decided the agent should run (null: none to compare:
   * no assignment, a conflict, or a config that does not render or fit its build).
   */
  desired_config_hash: string | null;
  /**
   * Generated from the columns above (migration 20261202T170000Z-agent-drift): it runs another
   * config than it should; null when unknown (revoked, no remote config or effective-config
   * reporting, nothing desired). Never written.
   */
  drift: ColumnType<boolean | null, never, never>;
  sequence_num: Int8 | null;
  replica_id: string | null;
  connection_id: string | null;
  transport: "websocket" | "http" | null;
  connected_at: Timestamp | null;
  disconnected_at: Timestamp | null;
  last_seen_at: Timestamp | null;
  heartbeat_interval_s: Generated<number>;
  enrolled_at: DefaultedTimestamp;
  key_confirmed_at: Timestamp | null;
  key_rotation_requested_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoked_by: string | null;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
  /** When an admin last asked the agent to restart. */
  restart_requested_at: Timestamp | null;
  /** The health start time (unix nanos, decimal) the agent had reported when the restart was asked. */
  restart_start_time_unix_nano: string | null;
  /** When the agent reported another start time after that request: it came back. */
  restart_completed_at: Timestamp | null;
  /** The custom capabilities it reported last (reverse-DNS names). */
  custom_capabilities: Json<string[]> | null;
}

export interface AgentKeysTable {
  id: string;
  tenant_id: string;
  instance_uid: string;
  key_hash: Bytes;
  display_prefix: string;
  created_at: DefaultedTimestamp;
  first_used_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoke_reason: string | null;
}

export interface AgentConfigTemplatesTable {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  latest_version: Generated<number>;
  source: string | null;
  created_at: DefaultedTimestamp;
  created_by: string;
  updated_at: DefaultedTimestamp;
}

export interface AgentConfigTemplateRevisionsTable {
  id: string;
  tenant_id: string;
  template_id: string;
  version: number;
  content: string;
  content_sha256: string;
  message: string | null;
  author: string;
  created_at: DefaultedTimestamp;
}

export interface AgentConfigAssignmentsTable {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  selector: string;
  match_reported_attributes: Generated<boolean>;
  template_id: string;
  revision_version: number | null;
  priority: Generated<number>;
  /** "base" (one wins per agent) or "overlay" (merged over the base); docs/layers.md. */
  layer: ColumnType<"base" | "overlay", "base" | "overlay" | undefined, "base" | "overlay">;
  source: string | null;
  /** The default rollout strategy (issue 12); null: changes reach every agent at once. */
  rollout_strategy: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: DefaultedTimestamp;
  created_by: string;
  updated_at: DefaultedTimestamp;
}

export type DeliveryStatus = "pending" | "offered" | "applying" | "applied" | "failed" | "superseded";

export interface AgentConfigDeliveriesTable {
  id: string;
  tenant_id: string;
  instance_uid: string;
  config_hash: string;
  template_id: string | null;
  revision_id: string | null;
  assignment_id: string | null;
  status: DeliveryStatus;
  error_message: string | null;
  rolled_back_from: string | null;
  attempts: Generated<number>;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
  offered_at: Timestamp | null;
  applying_at: Timestamp | null;
  applied_at: Timestamp | null;
  failed_at: Timestamp | null;
  superseded_at: Timestamp | null;
  /** Revisions of the overlays merged into this config (revision_id is the base's). */
  overlay_revision_ids: ColumnType<string[], string[] | undefined, string[]>;
}

export interface AgentConfigSecretsTable {
  id: string;
  tenant_id: string;
  name: string;
  version: number;
  envelope: Json<unknown>;
  kms_key_id: string;
  created_at: DefaultedTimestamp;
  created_by: string;
}

export interface AuditEventsTable {
  id: string;
  tenant_id: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  target_type: string;
  target_id: string;
  request_id: string | null;
  details: DefaultedJson<Record<string, unknown>>;
  created_at: DefaultedTimestamp;
}

export interface FleetEventsTable {
  id: ColumnType<number, never, never>;
  tenant_id: string;
  kind: string;
  payload: DefaultedJson<Record<string, unknown>>;
  claimed_by: string | null;
  created_at: DefaultedTimestamp;
}

export interface ReplicasTable {
  id: string;
  hostname: string;
  started_at: DefaultedTimestamp;
  heartbeat_at: DefaultedTimestamp;
  stopped_at: Timestamp | null;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number;
  response: Json<unknown>;
  created_at: DefaultedTimestamp;
}

/**
 * A tenant's own-telemetry destinations (issue 13): endpoints, plain header values and secret
 * references only, never a secret value. `settings` NULL: deleted (agents are told to stop).
 */
export interface TenantOwnTelemetryTable {
  tenant_id: string;
  settings: ColumnType<unknown, string | null, string | null>;
  updated_at: Timestamp;
  updated_by: string;
}

/** The whole database as Kysely sees it. */
/** One collector build's available components per tenant (keyed by the hash the agent reports). */
export interface AgentComponentSetsTable {
  tenant_id: string;
  hash: string;
  /** `{ receivers: { otlp: { metadata, subComponents } }, … }`; null when the list was refused. */
  components: Json<unknown> | null;
  refusal: string | null;
  list_bytes: number;
  reported_by: string;
  reported_at: Timestamp;
}

export type RolloutStateColumn = "running" | "paused" | "completed" | "aborted" | "superseded";
export type RolloutAgentStateColumn = "pending" | "in_progress" | "succeeded" | "failed" | "rolled_back";

/** A rollout (issue 12): its state machine's state and the driving replica's lease. */
export interface RolloutsTable {
  id: string;
  tenant_id: string;
  assignment_id: string;
  from_revision_id: string;
  to_revision_id: string;
  state: RolloutStateColumn;
  reason: string | null;
  strategy: Json<unknown>;
  /** Cumulative admitted-agent targets: [canary, wave 1, …, population]. */
  waves: Json<number[]>;
  current_wave: Generated<number>;
  wave_started_at: Timestamp;
  failure_budget: number;
  acknowledged_failures: Generated<number>;
  population: number;
  superseded_by: string | null;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: Timestamp | null;
}

/** One agent of a rollout's population. */
export interface RolloutAgentsTable {
  rollout_id: string;
  tenant_id: string;
  instance_uid: string;
  position: number;
  canary: boolean;
  state: RolloutAgentStateColumn;
  reason: string | null;
  hold_revision_id: string | null;
  admitted_at: Timestamp | null;
  applied_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface Database {
  tenants: TenantsTable;
  admin_api_keys: AdminApiKeysTable;
  agent_enrollment_tokens: AgentEnrollmentTokensTable;
  agents: AgentsTable;
  agent_keys: AgentKeysTable;
  agent_config_templates: AgentConfigTemplatesTable;
  agent_config_template_revisions: AgentConfigTemplateRevisionsTable;
  agent_config_assignments: AgentConfigAssignmentsTable;
  agent_config_deliveries: AgentConfigDeliveriesTable;
  agent_config_secrets: AgentConfigSecretsTable;
  audit_events: AuditEventsTable;
  fleet_events: FleetEventsTable;
  replicas: ReplicasTable;
  idempotency_keys: IdempotencyKeysTable;
  tenant_own_telemetry: TenantOwnTelemetryTable;
  agent_component_sets: AgentComponentSetsTable;
  rollouts: RolloutsTable;
  rollout_agents: RolloutAgentsTable;
}

export type TenantRow = Selectable<TenantsTable>;
export type AdminApiKeyRow = Selectable<AdminApiKeysTable>;
export type EnrollmentTokenRow = Selectable<AgentEnrollmentTokensTable>;
export type AgentRow = Selectable<AgentsTable>;
export type AgentKeyRow = Selectable<AgentKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewAuditEvent = Insertable<AuditEventsTable>;
export type FleetEventRow = Selectable<FleetEventsTable>;
