/**
 * The statements of the OpAMP hot path, each one statement for a whole batch of agents (see
 * BatchQueue): both enrollment phases (session starts), report writes, heartbeats, disconnects.
 * One cohesive pipeline: the columns a report sets, the columns a connection sets, and the
 * statements that combine them. Timestamps come from the caller's Clock (`seen_at`, `at`), so the
 * liveness rule compares like with like.
 */
import { sql } from "kysely";
import { retryingDeadlocks } from "../../db/errors.js";
import { BatchStatement } from "../../db/expressions.js";
import type { Queryable as Db } from "../../db/types.js";
import type { AgentRef } from "./repository.js";

/** The agent-reported columns of one message; an absent facet leaves its column unchanged. */
export interface ReportColumns {
  /** When the message was heard (ISO, from the Clock): last_seen_at. */
  seen_at: string;
  capabilities: string;
  sequence_num: string;
  /** JSON texts of the facets the message carried. */
  description?: string;
  health?: string;
  effective_config?: string;
  remote_config_status?: string;
  available_components_hash?: string;
  /** The hash the message reports APPLIED (the agent runs it now); absent otherwise. */
  running_config_hash?: string;
  /** JSON array of the custom capabilities the message carried. */
  custom_capabilities?: string;
}

/** The connection that now holds the agent. */
export interface ConnectionColumns {
  replicaId: string;
  connectionId: string;
  transport: "websocket" | "http";
  heartbeatIntervalSeconds: number;
}

/** A key minted in the same statement (its plaintext stays with the caller). */
export interface MintedKey {
  id: string;
  hash: Uint8Array;
  displayPrefix: string;
}

/**
 * What a session start found: `created`/`existing` (the agent now held by this connection),
 * `revoked` (held without config), `exhausted` (a new agent on a token at max_uses).
 */
export interface SessionStartRow {
  outcome: "created" | "existing" | "revoked" | "exhausted";
  has_description: boolean;
  has_health: boolean;
  has_effective_config: boolean;
  has_remote_config_status: boolean;
  key_rotation_requested_at: Date | null;
}

/** Columns every session start returns about the agent's row (alias `a`) after the statement. */
const SESSION_FACTS = sql`a.tenant_id, a.instance_uid::text as instance_uid,
  a.description is not null as has_description, a.health is not null as has_health,
  a.effective_config is not null as has_effective_config,
  a.remote_config_status is not null as has_remote_config_status, a.key_rotation_requested_at`;
const NO_FACTS = sql`false, false, false, false, null::timestamptz`;

/** Batch columns of an agent. */
const AGENT_COLUMNS = { tenant_id: "text", instance_uid: "uuid" } as const;
/** Batch columns of a reported message (ReportColumns; facet JSON as text). */
const REPORT_COLUMNS = {
  seen_at: "timestamptz",
  capabilities: "bigint",
  sequence_num: "bigint",
  description: "text",
  health: "text",
  effective_config: "text",
  remote_config_status: "text",
  available_components_hash: "text",
  running_config_hash: "text",
  custom_capabilities: "text",
} as const;
/** Batch columns of the connection that holds the agent (ConnectionColumns). */
const CONNECTION_COLUMNS = {
  replica_id: "text",
  connection_id: "text",
  transport: "text",
  heartbeat_interval_s: "int",
} as const;

/**
 * A restart the agent was asked for is complete when it reports a health start time other than
 * the one it had reported when asked (0 is what a supervisor reports while the collector is not
 * running: not a start).
 */
const RESTART_COMPLETED = sql`a.restart_requested_at is not null and a.restart_completed_at is null
  and (r.health::jsonb ->> 'startTimeUnixNano') not in ('0', '')
  and (r.health::jsonb ->> 'startTimeUnixNano') is distinct from a.restart_start_time_unix_nano`;
/**
 * Agent columns (alias `a`) set from a report record (alias `r`); an absent facet keeps its
 * column. The running config changes only on APPLIED: after a FAILED report the agent still runs
 * the config it applied last.
 */
const REPORT_SET = sql`capabilities = r.capabilities, sequence_num = r.sequence_num,
  description = coalesce(r.description::jsonb, a.description),
  health = coalesce(r.health::jsonb, a.health),
  effective_config = coalesce(r.effective_config, a.effective_config),
  remote_config_status = coalesce(r.remote_config_status::jsonb, a.remote_config_status),
  available_components_hash = coalesce(r.available_components_hash, a.available_components_hash),
  custom_capabilities = coalesce(r.custom_capabilities::jsonb, a.custom_capabilities),
  restart_completed_at = case when ${RESTART_COMPLETED} then r.seen_at else a.restart_completed_at end,
  running_config_hash = coalesce(r.running_config_hash, a.running_config_hash),
  running_since = case when r.running_config_hash is not null
      and a.running_config_hash is distinct from r.running_config_hash
    then r.seen_at else a.running_since end,
  last_seen_at = r.seen_at, updated_at = r.seen_at`;
/**
 * Agent columns set from a connection record: this connection holds the agent now (the end of
 * an earlier connection is history: disconnected_at is cleared while connected).
 */
const CONNECTION_SET = sql`replica_id = r.replica_id, connection_id = r.connection_id,
  transport = r.transport, connected_at = r.seen_at, disconnected_at = null,
  heartbeat_interval_s = r.heartbeat_interval_s`;

function connectionRecord(c: ConnectionColumns) {
  return {
    replica_id: c.replicaId,
    connection_id: c.connectionId,
    transport: c.transport,
    heartbeat_interval_s: c.heartbeatIntervalSeconds,
  };
}

type StartedRow = SessionStartRow & { tenant_id: string; instance_uid: string };

function byAgent(rows: StartedRow[]): Map<string, SessionStartRow> {
  return new Map(rows.map((r) => [`${r.tenant_id}/${r.instance_uid}`, r]));
}

/** Phase 1 of one agent, as a batch item. */
export interface EnrollmentSessionStart {
  ref: AgentRef;
  tokenId: string;
  /** JSON of the token's labels (a new agent's labels). */
  labels: string;
  /** The token has max_uses: count new agents on its row (and refuse beyond the limit). */
  limited: boolean;
  report: ReportColumns;
  conn: ConnectionColumns;
  /** A key to mint for the agent (it can switch to it), replacing its never-used ones. */
  key: MintedKey | undefined;
}

const ENROLLMENT_STARTS = new BatchStatement<object, StartedRow>(
  "r",
  {
    ord: "int",
    ...AGENT_COLUMNS,
    token_id: "text",
    labels: "text",
    limited: "boolean",
    ...REPORT_COLUMNS,
    ...CONNECTION_COLUMNS,
    key_id: "text",
    key_hash: "text",
    key_prefix: "text",
  },
  (rows) => sql<StartedRow>`
    with input as (
      select * from ${rows}
    ), existing as (
      select a.tenant_id, a.instance_uid, a.revoked_at from agents a
      join input r on a.tenant_id = r.tenant_id and a.instance_uid = r.instance_uid
    ), fresh as (
      select r.*, row_number() over (partition by r.token_id order by r.ord) as nth from input r
      where not exists (select 1 from existing e where e.tenant_id = r.tenant_id and e.instance_uid = r.instance_uid)
    ), room as (
      select t.id, t.max_uses - t.use_count as room from agent_enrollment_tokens t
      where t.id in (select token_id from fresh where limited) for update
    ), admitted as (
      select f.* from fresh f left join room t on t.id = f.token_id where not f.limited or f.nth <= t.room
    ), counted as (
      update agent_enrollment_tokens t set use_count = t.use_count + c.n, last_used_at = now()
      from (select token_id, count(*) as n from admitted where limited group by token_id) c
      where t.id = c.token_id
    ), created as (
      insert into agents as a (tenant_id, instance_uid, enrollment_token_id, labels, capabilities,
        sequence_num, description, health, effective_config, remote_config_status, available_components_hash,
        running_config_hash, running_since, custom_capabilities,
        replica_id, connection_id, transport, connected_at, last_seen_at, heartbeat_interval_s,
        enrolled_at, created_at, updated_at)
      select r.tenant_id, r.instance_uid, r.token_id, r.labels::jsonb, r.capabilities, r.sequence_num,
        r.description::jsonb, r.health::jsonb, r.effective_config, r.remote_config_status::jsonb,
        r.available_components_hash, r.running_config_hash,
        case when r.running_config_hash is not null then r.seen_at end, r.custom_capabilities::jsonb,
        r.replica_id, r.connection_id, r.transport, r.seen_at, r.seen_at,
        r.heartbeat_interval_s, r.seen_at, r.seen_at, r.seen_at
      from admitted r
      on conflict (tenant_id, instance_uid) do nothing
      returning 'created'::text as outcome, ${SESSION_FACTS}
    ), updated as (
      update agents a set ${REPORT_SET}, ${CONNECTION_SET}
      from input r
      where a.tenant_id = r.tenant_id and a.instance_uid = r.instance_uid and a.revoked_at is null
      returning 'existing'::text as outcome, ${SESSION_FACTS}
    ), held_revoked as (
      -- A revoked agent is held without config, but it is connected: the row says so.
      update agents a set ${CONNECTION_SET}, last_seen_at = r.seen_at
      from input r
      where a.tenant_id = r.tenant_id and a.instance_uid = r.instance_uid and a.revoked_at is not null
    ), held as (
      select * from created union all select * from updated
    ), unused_revoked as (
      update agent_keys k set revoked_at = now(), revoke_reason = 'superseded by re-enrollment'
      from input r join held h on h.tenant_id = r.tenant_id and h.instance_uid = r.instance_uid::text
      where r.key_id is not null and k.tenant_id = r.tenant_id and k.instance_uid = r.instance_uid
        and k.revoked_at is null and k.first_used_at is null
    ), minted as (
      insert into agent_keys (id, tenant_id, instance_uid, key_hash, display_prefix)
      select r.key_id, r.tenant_id, r.instance_uid, decode(r.key_hash, 'hex'), r.key_prefix
      from input r join held h on h.tenant_id = r.tenant_id and h.instance_uid = r.instance_uid::text
      where r.key_id is not null
    )
    select * from held
    union all select 'revoked', e.tenant_id, e.instance_uid::text, ${NO_FACTS}
      from existing e where e.revoked_at is not null
    union all select 'exhausted', f.tenant_id, f.instance_uid::text, ${NO_FACTS}
      from fresh f where f.limited and not exists (select 1 from admitted x where x.ord = f.ord)
  `,
);

/**
 * Phase 1 (xse_ tokens) of many agents in one statement: registers each agent or takes over its
 * row, counts new agents against limited tokens (those beyond a token's max_uses are
 * `exhausted`), and mints each agent's offered key in place of its never-used ones. Each agent
 * must appear once per call. An agent missing from the result was inserted by a concurrent
 * first connection after this statement's snapshot (the caller runs it again).
 */
export async function startEnrollmentSessions(
  db: Db,
  starts: readonly EnrollmentSessionStart[],
): Promise<(SessionStartRow | undefined)[]> {
  if (starts.length === 0) return [];
  const input = starts.map((s, ord) => ({
    ord,
    tenant_id: s.ref.tenantId,
    instance_uid: s.ref.instanceUid,
    token_id: s.tokenId,
    labels: s.labels,
    limited: s.limited,
    ...s.report,
    ...connectionRecord(s.conn),
    key_id: s.key?.id,
    key_hash: s.key && Buffer.from(s.key.hash).toString("hex"),
    key_prefix: s.key?.displayPrefix,
  }));
  const rows = byAgent(await ENROLLMENT_STARTS.execute(db, input));
  return starts.map((s) => rows.get(`${s.ref.tenantId}/${s.ref.instanceUid}`));
}

/** Phase 2 of one agent, as a batch item. */
export interface KeyedSessionStart {
  ref: AgentRef;
  keyId: string;
  keyCreatedAt: Date;
  firstUse: boolean;
  report: ReportColumns;
  conn: ConnectionColumns;
}

const KEYED_STARTS = new BatchStatement<object, StartedRow>(
  "r",
  {
    ...AGENT_COLUMNS,
    key_id: "text",
    key_created_at: "timestamptz",
    first_use: "boolean",
    ...REPORT_COLUMNS,
    ...CONNECTION_COLUMNS,
  },
  (rows) => sql<StartedRow>`
    with input as (
      select * from ${rows}
    ), held as (
      update agents a set ${REPORT_SET}, ${CONNECTION_SET},
        -- When the agent switched to the key it uses now (each new key's first use).
        key_confirmed_at = case when r.first_use then r.seen_at else coalesce(a.key_confirmed_at, r.seen_at) end,
        key_rotation_requested_at = case
          when r.first_use and a.key_rotation_requested_at <= r.key_created_at then null
          else a.key_rotation_requested_at end
      from input r
      where a.tenant_id = r.tenant_id and a.instance_uid = r.instance_uid and a.revoked_at is null
      returning 'existing'::text as outcome, ${SESSION_FACTS}
    ), used as (
      update agent_keys k set first_used_at = coalesce(k.first_used_at, r.seen_at), last_used_at = r.seen_at
      from input r join held h on h.tenant_id = r.tenant_id and h.instance_uid = r.instance_uid::text
      where k.id = r.key_id
    ), older_revoked as (
      update agent_keys k set revoked_at = now(), revoke_reason = 'superseded by a newer key'
      from input r join held h on h.tenant_id = r.tenant_id and h.instance_uid = r.instance_uid::text
      where r.first_use and k.tenant_id = r.tenant_id and k.instance_uid = r.instance_uid
        and k.revoked_at is null and k.created_at < r.key_created_at and k.id <> r.key_id
    )
    select * from held
    union all select 'revoked', a.tenant_id, a.instance_uid::text, ${NO_FACTS}
      from agents a join input r on a.tenant_id = r.tenant_id and a.instance_uid = r.instance_uid
      where a.revoked_at is not null
  `,
);

/**
 * Phase 2 (agents' own xag_ keys) of many agents in one statement: takes over each agent's row,
 * marks its key used and, on the key's first use, revokes every older key (rotation overlap
 * ends). Each agent must appear once per call; one missing from the result no longer exists.
 */
export async function startKeyedSessions(
  db: Db,
  starts: readonly KeyedSessionStart[],
): Promise<(SessionStartRow | undefined)[]> {
  if (starts.length === 0) return [];
  const input = starts.map((s) => ({
    tenant_id: s.ref.tenantId,
    instance_uid: s.ref.instanceUid,
    key_id: s.keyId,
    key_created_at: s.keyCreatedAt.toISOString(),
    first_use: s.firstUse,
    ...s.report,
    ...connectionRecord(s.conn),
  }));
  const rows = byAgent(await KEYED_STARTS.execute(db, input));
  return starts.map((s) => rows.get(`${s.ref.tenantId}/${s.ref.instanceUid}`));
}

/** A connection that closed; the agent goes offline unless a newer connection holds it. */
export interface ClosedConnection extends AgentRef {
  connectionId: string;
}

/**
 * Agent rows a batch writes, in key order: concurrent batches over agent rows (this replica's
 * reports, heartbeats and session ends, other replicas' flushes) then take the row locks they
 * share in the same order instead of deadlocking.
 */
function inKeyOrder<T extends AgentRef>(items: readonly T[]): T[] {
  return [...items].sort((x, y) =>
    x.tenantId === y.tenantId ? (x.instanceUid < y.instanceUid ? -1 : 1) : x.tenantId < y.tenantId ? -1 : 1,
  );
}

/**
 * Clears the connection columns of many agents in one statement, each only if its closed
 * connection still holds it (a late close of a replaced connection changes nothing).
 */
export async function markAgentsDisconnected(
  db: Db,
  closed: readonly ClosedConnection[],
  at: Date,
): Promise<void> {
  if (closed.length === 0) return;
  const rows = inKeyOrder(closed);
  await sql`
    update agents set replica_id = null, connection_id = null, disconnected_at = ${at}
    from (select unnest(${rows.map((c) => c.tenantId)}::text[]) as tenant_id,
                 unnest(${rows.map((c) => c.instanceUid)}::uuid[]) as instance_uid,
                 unnest(${rows.map((c) => c.connectionId)}::text[]) as connection_id) as c
    where agents.tenant_id = c.tenant_id and agents.instance_uid = c.instance_uid
      and agents.connection_id = c.connection_id`.execute(db);
}

/** The reported columns of one agent's message, for a batch of report writes. */
export interface ReportWrite extends AgentRef {
  columns: ReportColumns;
}

const REPORT_WRITES = new BatchStatement<object>(
  "r",
  { ...AGENT_COLUMNS, ...REPORT_COLUMNS },
  (rows) => sql`
    update agents a set ${REPORT_SET}
    from ${rows}
    where a.tenant_id = r.tenant_id and a.instance_uid = r.instance_uid`,
);

/**
 * Stores many agents' reported facets in one statement; a facet a message did not carry keeps
 * its column (coalesce), and each agent counts as seen now.
 */
export async function storeReports(db: Db, writes: readonly ReportWrite[]): Promise<void> {
  if (writes.length === 0) return;
  const rows = inKeyOrder(writes).map((w) => ({
    tenant_id: w.tenantId,
    instance_uid: w.instanceUid,
    ...w.columns,
  }));
  await REPORT_WRITES.execute(db, rows);
}

/** One statement for a whole batch of heartbeats (DESIGN.md §4: never one UPDATE per message). */
export async function touchAgents(db: Db, replicaId: string, refs: AgentRef[], at: Date): Promise<void> {
  if (refs.length === 0) return;
  const sorted = inKeyOrder(refs);
  const tenants = sorted.map((r) => r.tenantId);
  const uids = sorted.map((r) => r.instanceUid);
  await retryingDeadlocks(() =>
    sql`
    update agents set last_seen_at = ${at}
    from (select unnest(${tenants}::text[]) as tenant_id, unnest(${uids}::uuid[]) as instance_uid) as seen
    where agents.tenant_id = seen.tenant_id and agents.instance_uid = seen.instance_uid
      and agents.replica_id = ${replicaId}`.execute(db),
  );
}
