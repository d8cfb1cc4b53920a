/**
 * SQL about agents and their keys, for everything but the OpAMP hot path (session-repository.ts)
 * and drift (drift-repository.ts): the admin reads and writes, key lookups, the listing with
 * selectors and the liveness filter, the fleet summary counts, and the reads of the config planner.
 * One table's statements, grouped by caller; its length is the number of admin and planner reads.
 */
import { type Expression, type SqlBool, sql, type Updateable } from "kysely";
import { anyHash } from "../../db/expressions.js";
import type { AgentKeyRow, AgentRow, AgentsTable, DeliveryStatus } from "../../db/schema.js";
import type { Queryable as Db, Tx } from "../../db/types.js";
import type { Requirement } from "../selector.js";
import type { Liveness, LivenessColumns } from "./liveness.js";

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
  /** The template, version and delivery status of the config it should run (null when unknown). */
  desired_template: string | null;
  desired_version: number | null;
  desired_status: DeliveryStatus | null;
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
  "agents.restart_requested_at",
  "agents.restart_start_time_unix_nano",
  "agents.restart_completed_at",
  "agents.custom_capabilities",
  "agents.desired_config_hash",
  "agents.drift",
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
    .leftJoin("agent_config_deliveries as desired", (join) =>
      join
        .onRef("desired.tenant_id", "=", "agents.tenant_id")
        .onRef("desired.instance_uid", "=", "agents.instance_uid")
        .onRef("desired.config_hash", "=", "agents.desired_config_hash"),
    )
    .leftJoin("agent_config_templates as desired_t", "desired_t.id", "desired.template_id")
    .leftJoin("agent_config_template_revisions as desired_r", "desired_r.id", "desired.revision_id")
    .select([
      "replicas.heartbeat_at as replica_heartbeat_at",
      "replicas.stopped_at as replica_stopped_at",
      "running_t.name as running_template",
      "running_r.version as running_version",
      "desired_t.name as desired_template",
      "desired_r.version as desired_version",
      "desired.status as desired_status",
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

export async function deleteAgent(trx: Tx, ref: AgentRef): Promise<void> {
  await trx
    .deleteFrom("agents")
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .execute();
}

/** What duplicate detection reads about a connected agent: its liveness and its description. */
export type AgentPresenceRow = LivenessColumns & {
  tenant_id: string;
  instance_uid: string;
  description: unknown;
};

/**
 * The connected agents among `refs` (one statement for a batch of connection starts); an agent
 * no replica holds has no row here.
 */
export async function findAgentPresence(db: Db, refs: readonly AgentRef[]): Promise<AgentPresenceRow[]> {
  if (refs.length === 0) return [];
  const result = await sql<AgentPresenceRow>`
    select a.tenant_id, a.instance_uid::text as instance_uid, a.description, a.replica_id,
      a.last_seen_at, a.heartbeat_interval_s, r.heartbeat_at as replica_heartbeat_at,
      r.stopped_at as replica_stopped_at
    from agents a
    join (select unnest(${refs.map((x) => x.tenantId)}::text[]) as tenant_id,
                 unnest(${refs.map((x) => x.instanceUid)}::uuid[]) as instance_uid) as q
      on a.tenant_id = q.tenant_id and a.instance_uid = q.instance_uid
    join replicas r on r.id = a.replica_id`.execute(db);
  return result.rows;
}

/**
 * Records a restart request for these agents at `at`: the health start time each reported until
 * now is kept, so that a later report of another one says it came back.
 */
export async function markRestartRequested(
  trx: Tx,
  tenantId: string,
  instanceUids: readonly string[],
  at: Date,
): Promise<void> {
  if (instanceUids.length === 0) return;
  await sql`
    update agents set restart_requested_at = ${at}, restart_completed_at = null,
      restart_start_time_unix_nano = health ->> 'startTimeUnixNano'
    where tenant_id = ${tenantId} and instance_uid = any(${[...instanceUids]}::uuid[])`.execute(trx);
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
  /** true: drifted agents; false: agents known not to drift (unknown ones match neither). */
  drift?: boolean;
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
/**
 * A page of agents. The page is read first (with its replica only) and the revisions of its
 * agents' running and desired configs in a second statement for the page's rows: joined per row
 * inside the page query, they made the planner read whole tables before the limit (p50 4 → 8 ms at
 * 100,000 agents).
 */
export async function listAgents(db: Db, f: AgentListFilter): Promise<AgentListRow[]> {
  let q = db
    .selectFrom("agents")
    .leftJoin("replicas", "replicas.id", "agents.replica_id")
    .select(["replicas.heartbeat_at as replica_heartbeat_at", "replicas.stopped_at as replica_stopped_at"])
    .select(LIST_COLUMNS)
    .where("agents.tenant_id", "=", f.tenantId);
  for (const r of f.requirements) q = q.where(requirementSql(r));
  if (f.status === "online") q = q.where(f.liveness.onlineSql(f.now));
  if (f.status === "offline") q = q.where(f.liveness.offlineSql(f.now));
  // `drift` itself, not `drift = true`: the partial index agents_drifted_idx matches it.
  if (f.drift === true) q = q.where(sql<SqlBool>`agents.drift`);
  if (f.drift === false) q = q.where(sql<SqlBool>`agents.drift = false`);
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
  const page = await q.orderBy("agents.instance_uid").limit(f.limit).execute();
  const names = await configNamesOf(db, f.tenantId, page);
  return page.map((a) => {
    const running = a.running_config_hash
      ? names.get(`${a.instance_uid}/${a.running_config_hash}`)
      : undefined;
    const desired = a.desired_config_hash
      ? names.get(`${a.instance_uid}/${a.desired_config_hash}`)
      : undefined;
    return {
      ...a,
      running_template: running?.template ?? null,
      running_version: running?.version ?? null,
      desired_template: desired?.template ?? null,
      desired_version: desired?.version ?? null,
      desired_status: desired?.status ?? null,
    };
  });
}

/** Template, version and delivery status of the agents' running and desired configs, by "uid/hash". */
async function configNamesOf(
  db: Db,
  tenantId: string,
  agents: readonly {
    instance_uid: string;
    running_config_hash: string | null;
    desired_config_hash: string | null;
  }[],
): Promise<Map<string, { template: string | null; version: number | null; status: DeliveryStatus }>> {
  const uids: string[] = [];
  const hashes: string[] = [];
  for (const a of agents) {
    for (const h of [a.running_config_hash, a.desired_config_hash]) {
      if (h) {
        uids.push(a.instance_uid);
        hashes.push(h);
      }
    }
  }
  if (uids.length === 0) return new Map();
  const result = await sql<{
    instance_uid: string;
    config_hash: string;
    status: DeliveryStatus;
    template: string | null;
    version: number | null;
  }>`
    select d.instance_uid::text as instance_uid, d.config_hash, d.status, t.name as template, r.version
    from unnest(${uids}::uuid[], ${hashes}::text[]) as p(instance_uid, config_hash)
    join agent_config_deliveries d on d.tenant_id = ${tenantId} and d.instance_uid = p.instance_uid
      and d.config_hash = p.config_hash
    left join agent_config_templates t on t.id = d.template_id
    left join agent_config_template_revisions r on r.id = d.revision_id`.execute(db);
  return new Map(result.rows.map((r) => [`${r.instance_uid}/${r.config_hash}`, r]));
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
  /** The agent's build (its stored component list is checked before config is sent). */
  available_components_hash: string | null;
}

const PLANNING_COLUMNS = [
  "instance_uid",
  "labels",
  "description",
  "remote_config_status",
  "capabilities",
  "revoked_at",
  "available_components_hash",
] as const;

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
      .select(PLANNING_COLUMNS)
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
    .select(PLANNING_COLUMNS)
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
): Promise<
  Array<{
    instance_uid: string;
    labels: Record<string, string>;
    description: unknown;
    available_components_hash: string | null;
    capabilities: string | number | bigint;
  }>
> {
  return db
    .selectFrom("agents")
    .select(["instance_uid", "labels", "description", "available_components_hash", "capabilities"])
    .where("tenant_id", "=", tenantId)
    .where("revoked_at", "is", null)
    .execute();
}

/** Whether the tenant has this agent (one index probe; the guard of agent-scoped routes). */
/**
 * Whether the tenant knows this agent: it is enrolled, or it was (a deleted agent's delivery
 * history is kept, and read by its uid).
 */
export async function agentKnown(db: Db, ref: AgentRef): Promise<boolean> {
  const result = await sql<{ known: boolean }>`select
      exists (select 1 from agents where tenant_id = ${ref.tenantId} and instance_uid = ${ref.instanceUid})
      or exists (select 1 from agent_config_deliveries
        where tenant_id = ${ref.tenantId} and instance_uid = ${ref.instanceUid}) as known`.execute(db);
  return result.rows[0]?.known === true;
}

/** A tenant's agents counted at once, as the fleet summary shows them. */
export interface FleetSummaryRow {
  total: number;
  online: number;
  attention: number;
  drift: number;
}

/**
 * The tenant's agents counted by liveness (the rule's SQL form at `now`), attention (revoked, or
 * without its own key and unable to accept one) and drift, in one pass.
 */
export async function summarizeAgents(
  db: Db,
  tenantId: string,
  online: Expression<SqlBool>,
  settingsBit: bigint,
): Promise<FleetSummaryRow> {
  const { rows } = await sql<FleetSummaryRow>`select count(*)::int as total,
      count(*) filter (where ${online})::int as online,
      count(*) filter (where agents.revoked_at is not null
        or (agents.key_confirmed_at is null and agents.capabilities <> 0
          and agents.capabilities & ${settingsBit.toString()}::bigint = 0))::int as attention,
      count(*) filter (where agents.drift)::int as drift
    from agents where agents.tenant_id = ${tenantId}`.execute(db);
  return rows[0] ?? { total: 0, online: 0, attention: 0, drift: 0 };
}

/** The tenant's labels (`key=value`), most agents first, with how many of them are online. */
export async function countAgentLabels(
  db: Db,
  tenantId: string,
  online: Expression<SqlBool>,
  limit: number,
): Promise<Array<{ label: string; total: number; online: number }>> {
  const { rows } = await sql<{ label: string; total: number; online: number }>`select
      l.key || '=' || l.value as label, count(*)::int as total,
      count(*) filter (where ${online})::int as online
    from agents cross join lateral jsonb_each_text(agents.labels) l
    where agents.tenant_id = ${tenantId}
    group by 1 order by 2 desc, 1 limit ${limit}`.execute(db);
  return rows;
}
