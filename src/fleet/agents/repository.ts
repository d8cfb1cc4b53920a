/**
 * All SQL about agents and their keys: the group-committed session statements of the OpAMP hot
 * path, the liveness writes, the admin reads and writes, and the reads of the config planner.
 * Timestamps of connection state come from the caller's Clock (`at`), so the liveness rule
 * compares like with like.
 */
import { type Expression, type SqlBool, sql, type Updateable } from "kysely";
import { anyHash, BatchStatement } from "../../db/expressions.js";
import type { AgentKeyRow, AgentRow, AgentsTable } from "../../db/schema.js";
import type { Queryable as Db, Tx } from "../../db/types.js";
import type { Requirement } from "../selector.js";
import type { Liveness } from "./liveness.js";

export interface AgentRef {
  tenantId: string;
  instanceUid: string;
}

/**
 * An agent row with its replica's presence (null when no replica holds it) and the revision of
 * the config it runs (null when unknown).
 */
export type AgentWithReplica = AgentRow & {
  replica_heartbeat_at: Date | null;
  replica_stopped_at: Date | null;
  running_template: string | null;
  running_version: number | null;
};

/** A row of the agent list: everything but the effective config (shown by the detail view only). */
export type AgentListRow = Omit<AgentWithReplica, "effective_config">;

/** The columns of a list row (the effective config is the largest column and the list omits it). */
const LIST_COLUMNS = [
  "agents.tenant_id",
  "agents.instance_uid",
  "agents.enrollment_token_id",
  "agents.labels",
  "agents.description",
  "agents.capabilities",
  "agents.health",
  "agents.effective_config_hash",
  "agents.remote_config_status",
  "agents.available_components_hash",
  "agents.running_config_hash",
  "agents.running_since",
  "agents.sequence_num",
  "agents.replica_id",
  "agents.connection_id",
  "agents.transport",
  "agents.connected_at",
  "agents.disconnected_at",
  "agents.last_seen_at",
  "agents.heartbeat_interval_s",
  "agents.enrolled_at",
  "agents.key_confirmed_at",
  "agents.key_rotation_requested_at",
  "agents.revoked_at",
  "agents.revoked_by",
  "agents.created_at",
  "agents.updated_at",
] as const satisfies readonly `agents.${Exclude<keyof AgentRow, "effective_config">}`[];

/** The agents table with its replica and the revision of its running config, for views. */
function agentsForView(db: Db) {
  return db
    .selectFrom("agents")
    .leftJoin("replicas", "replicas.id", "agents.replica_id")
    .leftJoin("agent_config_deliveries as running", (join) =>
      join
        .onRef("running.tenant_id", "=", "agents.tenant_id")
        .onRef("running.instance_uid", "=", "agents.instance_uid")
        .onRef("running.config_hash", "=", "agents.running_config_hash"),
    )
    .leftJoin("agent_config_templates as running_t", "running_t.id", "running.template_id")
    .leftJoin("agent_config_template_revisions as running_r", "running_r.id", "running.revision_id")
    .select([
      "replicas.heartbeat_at as replica_heartbeat_at",
      "replicas.stopped_at as replica_stopped_at",
      "running_t.name as running_template",
      "running_r.version as running_version",
    ]);
}

export async function findAgent(db: Db, ref: AgentRef): Promise<AgentWithReplica | undefined> {
  return agentsForView(db)
    .selectAll("agents")
    .where("agents.tenant_id", "=", ref.tenantId)
    .where("agents.instance_uid", "=", ref.instanceUid)
    .executeTakeFirst();
}

export async function lockAgent(trx: Tx, ref: AgentRef): Promise<AgentRow | undefined> {
  return trx
    .selectFrom("agents")
    .selectAll()
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .forUpdate()
    .executeTakeFirst();
}

export async function updateAgent(db: Db, ref: AgentRef, patch: Updateable<AgentsTable>): Promise<void> {
  await db
    .updateTable("agents")
    .set({ ...patch, updated_at: new Date() })
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .execute();
}

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
} as const;
/** Batch columns of the connection that holds the agent (ConnectionColumns). */
const CONNECTION_COLUMNS = {
  replica_id: "text",
  connection_id: "text",
  transport: "text",
  heartbeat_interval_s: "int",
} as const;

/** The reported status is APPLIED for a hash: the agent runs that config now. */
const REPORTS_APPLIED = sql`(r.remote_config_status::jsonb ->> 'status') = 'APPLIED'
  and (r.remote_config_status::jsonb ->> 'lastRemoteConfigHash') <> ''`;
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
  running_config_hash = case when ${REPORTS_APPLIED}
    then r.remote_config_status::jsonb ->> 'lastRemoteConfigHash' else a.running_config_hash end,
  running_since = case when ${REPORTS_APPLIED}
      and a.running_config_hash is distinct from (r.remote_config_status::jsonb ->> 'lastRemoteConfigHash')
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
        replica_id, connection_id, transport, connected_at, last_seen_at, heartbeat_interval_s,
        enrolled_at, created_at, updated_at)
      select r.tenant_id, r.instance_uid, r.token_id, r.labels::jsonb, r.capabilities, r.sequence_num,
        r.description::jsonb, r.health::jsonb, r.effective_config, r.remote_config_status::jsonb,
        r.available_components_hash, r.replica_id, r.connection_id, r.transport, r.seen_at, r.seen_at,
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
 * Clears the connection columns of many agents in one statement, each only if its closed
 * connection still holds it (a late close of a replaced connection changes nothing).
 */
export async function markAgentsDisconnected(
  db: Db,
  closed: readonly ClosedConnection[],
  at: Date,
): Promise<void> {
  if (closed.length === 0) return;
  await sql`
    update agents set replica_id = null, connection_id = null, disconnected_at = ${at}
    from (select unnest(${closed.map((c) => c.tenantId)}::text[]) as tenant_id,
                 unnest(${closed.map((c) => c.instanceUid)}::uuid[]) as instance_uid,
                 unnest(${closed.map((c) => c.connectionId)}::text[]) as connection_id) as c
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
  const rows = writes.map((w) => ({ tenant_id: w.tenantId, instance_uid: w.instanceUid, ...w.columns }));
  await REPORT_WRITES.execute(db, rows);
}

/** One statement for a whole batch of heartbeats (DESIGN.md §4: never one UPDATE per message). */
export async function touchAgents(db: Db, replicaId: string, refs: AgentRef[], at: Date): Promise<void> {
  if (refs.length === 0) return;
  const tenants = refs.map((r) => r.tenantId);
  const uids = refs.map((r) => r.instanceUid);
  await sql`
    update agents set last_seen_at = ${at}
    from (select unnest(${tenants}::text[]) as tenant_id, unnest(${uids}::uuid[]) as instance_uid) as seen
    where agents.tenant_id = seen.tenant_id and agents.instance_uid = seen.instance_uid
      and agents.replica_id = ${replicaId}`.execute(db);
}

export async function deleteAgent(trx: Tx, ref: AgentRef): Promise<void> {
  await trx
    .deleteFrom("agents")
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .execute();
}

// --- keys -------------------------------------------------------------------------------------

export async function insertAgentKey(
  trx: Db,
  row: { id: string; tenant_id: string; instance_uid: string; key_hash: Uint8Array; display_prefix: string },
): Promise<AgentKeyRow> {
  return trx.insertInto("agent_keys").values(row).returningAll().executeTakeFirstOrThrow();
}

/** The keys with these hashes (any order; unknown hashes have no row). */
export async function findAgentKeysByHash(db: Db, hashes: readonly Uint8Array[]): Promise<AgentKeyRow[]> {
  if (hashes.length === 0) return [];
  return db.selectFrom("agent_keys").selectAll().where("key_hash", "=", anyHash(hashes)).execute();
}

export async function listAgentKeys(db: Db, ref: AgentRef): Promise<AgentKeyRow[]> {
  return db
    .selectFrom("agent_keys")
    .selectAll()
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .orderBy("created_at", "desc")
    .execute();
}

/** Revokes the agent's live keys matching `which`, with a reason for the key history. */
export async function revokeAgentKeys(
  trx: Tx,
  ref: AgentRef,
  reason: string,
  which: { unusedOnly?: boolean; createdBefore?: Date; exceptId?: string } = {},
): Promise<number> {
  let q = trx
    .updateTable("agent_keys")
    .set({ revoked_at: new Date(), revoke_reason: reason })
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .where("revoked_at", "is", null);
  if (which.unusedOnly) q = q.where("first_used_at", "is", null);
  if (which.createdBefore) q = q.where("created_at", "<", which.createdBefore);
  if (which.exceptId) q = q.where("id", "!=", which.exceptId);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

// --- listing ----------------------------------------------------------------------------------

export interface AgentListFilter {
  tenantId: string;
  requirements: Requirement[];
  status?: "online" | "offline";
  text?: string;
  afterUid?: string;
  limit: number;
  /** The liveness rule and the time to apply it at (the same the item view uses). */
  liveness: Liveness;
  now: number;
}

/** SQL for one selector requirement over the `labels` jsonb column. */
function requirementSql(r: Requirement): Expression<SqlBool> {
  const has = sql<SqlBool>`jsonb_exists(agents.labels, ${r.key})`;
  switch (r.op) {
    case "exists":
      return has;
    case "notexists":
      return sql<SqlBool>`not ${has}`;
    case "eq":
      // Containment uses the GIN index on labels.
      return sql<SqlBool>`agents.labels @> ${JSON.stringify({ [r.key]: r.value })}::jsonb`;
    case "neq":
      return sql<SqlBool>`not (agents.labels @> ${JSON.stringify({ [r.key]: r.value })}::jsonb)`;
    case "in":
      return sql<SqlBool>`(agents.labels ->> ${r.key}) = any(${r.values}::text[])`;
    case "notin":
      return sql<SqlBool>`not coalesce((agents.labels ->> ${r.key}) = any(${r.values}::text[]), false)`;
  }
  return sql<SqlBool>`false`;
}

/** Keyset page by instance_uid: one index range scan however deep the page. */
export async function listAgents(db: Db, f: AgentListFilter): Promise<AgentListRow[]> {
  let q = agentsForView(db).select(LIST_COLUMNS).where("agents.tenant_id", "=", f.tenantId);
  for (const r of f.requirements) q = q.where(requirementSql(r));
  if (f.status === "online") q = q.where(f.liveness.onlineSql(f.now));
  if (f.status === "offline") q = q.where(f.liveness.offlineSql(f.now));
  if (f.text) {
    const pattern = `%${f.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where((eb) =>
      eb.or([
        sql<SqlBool>`agents.instance_uid::text ilike ${pattern}`,
        sql<SqlBool>`agents.description::text ilike ${pattern}`,
        sql<SqlBool>`agents.labels::text ilike ${pattern}`,
      ]),
    );
  }
  if (f.afterUid) q = q.where("agents.instance_uid", ">", f.afterUid);
  return q.orderBy("agents.instance_uid").limit(f.limit).execute();
}

// --- reads of the config planner ----------------------------------------------------------------

/** What the config planner reads about an agent. */
export interface AgentForPlanning {
  instance_uid: string;
  labels: Record<string, string>;
  description: unknown;
  remote_config_status: unknown;
  capabilities: string | number | bigint;
  revoked_at: Date | null;
}

/** The named agents of a tenant (connected ones being planned), one statement per call. */
export async function findAgentsForPlanning(
  db: Db,
  tenantId: string,
  instanceUids: readonly string[],
): Promise<AgentForPlanning[]> {
  if (instanceUids.length === 0) return [];
  return (
    db
      .selectFrom("agents")
      .select(["instance_uid", "labels", "description", "remote_config_status", "capabilities", "revoked_at"])
      .where("tenant_id", "=", tenantId)
      // any(array): one statement text for every chunk size (a prepared statement).
      .where("instance_uid", "=", sql<string>`any(${[...instanceUids]}::uuid[])`)
      .execute()
  );
}

/**
 * A keyset page of a tenant's offline, unrevoked agents (all, or only `instanceUids`), by the
 * liveness rule at `now`.
 */
export async function findOfflineAgentsPage(
  db: Db,
  f: {
    tenantId: string;
    instanceUids?: readonly string[];
    afterUid?: string;
    limit: number;
    liveness: Liveness;
    now: number;
  },
): Promise<AgentForPlanning[]> {
  let q = db
    .selectFrom("agents")
    .select(["instance_uid", "labels", "description", "remote_config_status", "capabilities", "revoked_at"])
    .where("tenant_id", "=", f.tenantId)
    .where("revoked_at", "is", null)
    .where(f.liveness.offlineSql(f.now));
  if (f.instanceUids) q = q.where("instance_uid", "in", [...f.instanceUids]);
  if (f.afterUid) q = q.where("instance_uid", ">", f.afterUid);
  return q.orderBy("instance_uid").limit(f.limit).execute();
}

/** A tenant's unrevoked agents with what assignments match on (the fleet-wide assignment view). */
export async function listAgentsForMatching(
  db: Db,
  tenantId: string,
): Promise<Array<{ instance_uid: string; labels: Record<string, string>; description: unknown }>> {
  return db
    .selectFrom("agents")
    .select(["instance_uid", "labels", "description"])
    .where("tenant_id", "=", tenantId)
    .where("revoked_at", "is", null)
    .execute();
}
