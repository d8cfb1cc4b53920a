/**
 * All SQL about delivery rows: the planner's records, the agents' status reports (batched), the
 * admin list, roll-ups and retries. Only `deliveries/` calls these (one owner per transition).
 */
import { type Selectable, type SqlBool, sql } from "kysely";
import { BatchStatement } from "../../db/expressions.js";
import type { AgentConfigDeliveriesTable, DeliveryStatus } from "../../db/schema.js";
import type { Queryable as Db, Tx } from "../../db/types.js";

export type DeliveryRow = Selectable<AgentConfigDeliveriesTable>;

/**
 * The delivery row `d` is of an agent that exists. Rows outlive their agent (history is kept when
 * an agent is deleted): listings show them all, roll-ups and retries only the current fleet's.
 */
const OF_CURRENT_AGENT = sql<SqlBool>`exists (select 1 from agents a
  where a.tenant_id = d.tenant_id and a.instance_uid = d.instance_uid)`;

export type DeliveryPlanRow = Pick<
  DeliveryRow,
  | "id"
  | "tenant_id"
  | "instance_uid"
  | "config_hash"
  | "template_id"
  | "revision_id"
  | "assignment_id"
  | "error_message"
> & {
  status: "pending" | "offered" | "failed" | "applied" | "applying";
  /** Revisions of the overlays merged into the config, if any (docs/layers.md). */
  overlay_revision_ids?: string[];
};

/**
 * Records many plans in one statement: a new (agent, hash) row, or an update of the existing
 * one. An offer counts an attempt; a failed row is only reopened by an explicit retry (which
 * sets it back to pending), never by a plain re-plan. An offer decided at `decidedAt` does not undo
 * an APPLIED or APPLYING the agent reported after that (the plan read an older status: re-sending
 * the same hash changes nothing at the agent, which would leave the row `offered` for good).
 */
export async function upsertDeliveries(
  db: Db,
  rows: readonly DeliveryPlanRow[],
  now: Date,
  decidedAt: Date = now,
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto("agent_config_deliveries")
    .values(
      rows.map((r) => ({
        ...r,
        attempts: r.status === "offered" ? 1 : 0,
        offered_at: r.status === "offered" ? now : null,
        failed_at: r.status === "failed" ? now : null,
        applied_at: r.status === "applied" ? now : null,
        applying_at: r.status === "applying" ? now : null,
        updated_at: now,
      })),
    )
    .onConflict((oc) =>
      oc.columns(["tenant_id", "instance_uid", "config_hash"]).doUpdateSet((eb) => ({
        status: sql<DeliveryStatus>`case
          when excluded.status = 'offered' and agent_config_deliveries.status in ('applied', 'applying')
            and agent_config_deliveries.updated_at >= ${decidedAt} then agent_config_deliveries.status
          when agent_config_deliveries.status = 'failed' and excluded.status in ('offered', 'pending') then 'failed'
          when excluded.status = 'pending' and agent_config_deliveries.status in ('offered','applying','applied') then agent_config_deliveries.status
          else excluded.status end`,
        attempts: sql<number>`agent_config_deliveries.attempts + case when excluded.status = 'offered'
          and agent_config_deliveries.status <> 'failed' then 1 else 0 end`,
        offered_at: sql<Date>`case when excluded.status = 'offered' and agent_config_deliveries.status <> 'failed'
          then excluded.offered_at else agent_config_deliveries.offered_at end`,
        failed_at: sql<Date>`coalesce(excluded.failed_at, agent_config_deliveries.failed_at)`,
        applied_at: sql<Date>`coalesce(excluded.applied_at, agent_config_deliveries.applied_at)`,
        applying_at: sql<Date>`coalesce(excluded.applying_at, agent_config_deliveries.applying_at)`,
        error_message: sql<string>`coalesce(excluded.error_message, agent_config_deliveries.error_message)`,
        template_id: eb.ref("excluded.template_id"),
        revision_id: eb.ref("excluded.revision_id"),
        assignment_id: eb.ref("excluded.assignment_id"),
        overlay_revision_ids: eb.ref("excluded.overlay_revision_ids"),
        superseded_at: null,
        updated_at: now,
      })),
    )
    .execute();
}

/**
 * Marks every other unfinished or applied row of each agent superseded by its current desired
 * hash. Failed rows stay failed: they are what stops a failed hash being pushed again.
 */
export async function supersedeOthers(
  db: Db,
  tenantId: string,
  current: readonly { instanceUid: string; hash: string }[],
  at: Date,
): Promise<void> {
  if (current.length === 0) return;
  const uids = current.map((c) => c.instanceUid);
  const hashes = current.map((c) => c.hash);
  await sql`
    update agent_config_deliveries d set status = 'superseded', superseded_at = ${at}, updated_at = ${at}
    from (select unnest(${uids}::uuid[]) as instance_uid, unnest(${hashes}::text[]) as keep) c
    where d.tenant_id = ${tenantId} and d.instance_uid = c.instance_uid and d.config_hash <> c.keep
      -- "not failed or superseded" rather than the list of the other four: a condition the status
      -- index cannot take keeps the plan on the (tenant, agent, hash) index, driven by the input.
      and d.status not in ('failed', 'superseded')`.execute(db);
}

/** Current rows (by hash) for many agents of one tenant. */
export async function findDeliveriesForAgents(
  db: Db,
  tenantId: string,
  pairs: readonly { instanceUid: string; hash: string }[],
): Promise<DeliveryRow[]> {
  if (pairs.length === 0) return [];
  const uids = pairs.map((p) => p.instanceUid);
  const hashes = pairs.map((p) => p.hash);
  const result = await sql<DeliveryRow>`
    select d.* from agent_config_deliveries d
    join (select unnest(${uids}::uuid[]) as instance_uid, unnest(${hashes}::text[]) as config_hash) p
      on d.instance_uid = p.instance_uid and d.config_hash = p.config_hash
    where d.tenant_id = ${tenantId}`.execute(db);
  return result.rows;
}

/** The agent's most recently updated delivery. */
export async function latestDelivery(
  db: Db,
  tenantId: string,
  instanceUid: string,
): Promise<DeliveryRow | undefined> {
  return db
    .selectFrom("agent_config_deliveries")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("instance_uid", "=", instanceUid)
    .orderBy("updated_at", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** One agent's remote-config status report, for a batch of them. */
export interface StatusReportWrite {
  tenantId: string;
  instanceUid: string;
  configHash: string;
  status: "APPLYING" | "APPLIED" | "FAILED";
  errorMessage: string;
  /** When the report was heard (the Clock's time). */
  at: Date;
}

/** A delivery row a status report changed. */
export interface ChangedDelivery {
  tenant_id: string;
  instance_uid: string;
  config_hash: string;
  status: DeliveryStatus;
  error_message: string | null;
  rolled_back_from: string | null;
}

const STATUS_REPORTS = new BatchStatement<object, ChangedDelivery>(
  "r",
  {
    tenant_id: "text",
    instance_uid: "uuid",
    config_hash: "text",
    status: "text",
    error_message: "text",
    at: "timestamptz",
  },
  (rows) => sql<ChangedDelivery>`
    with input as (
      select * from ${rows}
    ), changed as (
    update agent_config_deliveries d set
      status = case r.status when 'APPLYING' then 'applying' when 'FAILED' then 'failed' else 'applied' end,
      error_message = case r.status when 'FAILED' then r.error_message when 'APPLIED' then null
        else d.error_message end,
      applying_at = case when r.status = 'APPLYING' then r.at else d.applying_at end,
      failed_at = case when r.status = 'FAILED' then r.at else d.failed_at end,
      applied_at = case when r.status = 'APPLIED' then r.at else d.applied_at end,
      rolled_back_from = case when r.status = 'APPLIED' and d.status = 'superseded' then coalesce(
          (select case when l.id <> d.id and l.status = 'failed' then l.config_hash end
           from agent_config_deliveries l where l.tenant_id = d.tenant_id and l.instance_uid = d.instance_uid
           order by l.updated_at desc, l.id desc limit 1),
          d.rolled_back_from)
        else d.rolled_back_from end,
      updated_at = r.at
    from input r
    where d.tenant_id = r.tenant_id and d.instance_uid = r.instance_uid and d.config_hash = r.config_hash
      and case r.status
        when 'APPLYING' then d.status in ('offered', 'pending')
        when 'FAILED' then d.status <> 'failed' or d.error_message is distinct from r.error_message
        when 'APPLIED' then d.status <> 'applied'
        else false end
    returning d.id, d.tenant_id, d.instance_uid::text as instance_uid, d.config_hash, d.status,
      d.error_message, d.rolled_back_from, d.updated_at
    ), cleared as (
      -- The agent applied a config: it runs that one only, so a config it applied before is
      -- superseded (a report of the old one that crossed the push of the new one on its way had
      -- marked it applied again), and its older failures are history now, superseded, so they stop
      -- counting as failed. Except the failure it just rolled back from (rolled_back_from): that
      -- row is what stops the failed hash being pushed again.
      update agent_config_deliveries o set status = 'superseded', superseded_at = c.updated_at,
        updated_at = c.updated_at
      from changed c
      where c.status = 'applied'
        and o.tenant_id = c.tenant_id and o.instance_uid = c.instance_uid::uuid and o.id <> c.id
        and (o.status = 'applied'
          or (o.status = 'failed' and o.config_hash is distinct from c.rolled_back_from))
    )
    select tenant_id, instance_uid, config_hash, status, error_message, rolled_back_from from changed`,
);

/**
 * Applies many status reports to their delivery rows in one statement. A report that changes
 * nothing writes nothing (full-state reports repeat it): APPLYING moves only offered/pending rows,
 * FAILED rewrites only a different error, APPLIED only a row not applied yet. APPLIED for a row a
 * newer config superseded is a rollback when the agent's latest row failed: it is recorded as
 * `rolled_back_from`. APPLIED for the config the agent was sent supersedes its older failed rows.
 * A report for a config we never offered matches no row. Returns the rows that changed.
 */
export async function applyStatusReports(
  db: Db,
  reports: readonly StatusReportWrite[],
): Promise<ChangedDelivery[]> {
  if (reports.length === 0) return [];
  const rows = reports.map((r) => ({
    tenant_id: r.tenantId,
    instance_uid: r.instanceUid,
    config_hash: r.configHash,
    status: r.status,
    error_message: r.errorMessage || "failed",
    at: r.at.toISOString(),
  }));
  return STATUS_REPORTS.execute(db, rows);
}

export interface DeliveryFilter {
  tenantId: string;
  instanceUid?: string;
  status?: DeliveryStatus | "stalled";
  templateId?: string;
  assignmentId?: string;
  revisionId?: string;
  stalledBefore: Date;
  before?: { updatedAt: string; id: string };
  limit: number;
}

export type DeliveryListRow = DeliveryRow & {
  template_name: string | null;
  assignment_name: string | null;
  revision_version: number | null;
  /** The agent reports this config applied and has not applied another since: it runs it now. */
  running: boolean;
};

/** Newest first (by last change), keyset-paged. */
export async function listDeliveries(db: Db, f: DeliveryFilter): Promise<DeliveryListRow[]> {
  let q = db
    .selectFrom("agent_config_deliveries as d")
    .leftJoin("agent_config_templates as t", "t.id", "d.template_id")
    .leftJoin("agent_config_assignments as a", "a.id", "d.assignment_id")
    .leftJoin("agent_config_template_revisions as r", "r.id", "d.revision_id")
    .leftJoin("agents as ag", (join) =>
      join.onRef("ag.tenant_id", "=", "d.tenant_id").onRef("ag.instance_uid", "=", "d.instance_uid"),
    )
    .selectAll("d")
    .select(["t.name as template_name", "a.name as assignment_name", "r.version as revision_version"])
    .select(sql<boolean>`coalesce(ag.running_config_hash = d.config_hash, false)`.as("running"))
    .where("d.tenant_id", "=", f.tenantId);
  if (f.instanceUid) q = q.where("d.instance_uid", "=", f.instanceUid);
  if (f.status === "stalled") {
    q = q.where("d.status", "in", ["offered", "applying"]).where("d.updated_at", "<", f.stalledBefore);
  } else if (f.status) {
    q = q.where("d.status", "=", f.status);
  }
  if (f.templateId) q = q.where("d.template_id", "=", f.templateId);
  if (f.assignmentId) q = q.where("d.assignment_id", "=", f.assignmentId);
  if (f.revisionId) q = q.where("d.revision_id", "=", f.revisionId);
  if (f.before) {
    const b = f.before;
    q = q.where((eb) =>
      eb.or([
        eb("d.updated_at", "<", new Date(b.updatedAt)),
        eb.and([eb("d.updated_at", "=", new Date(b.updatedAt)), eb("d.id", "<", b.id)]),
      ]),
    );
  }
  return q.orderBy("d.updated_at", "desc").orderBy("d.id", "desc").limit(f.limit).execute() as Promise<
    DeliveryListRow[]
  >;
}

export interface RollupRow {
  key: string | null;
  status: DeliveryStatus;
  stalled: boolean;
  n: number;
}

/** Counts of the current agents' deliveries by status, grouped by revision or assignment. */
export async function rollup(
  db: Db,
  tenantId: string,
  by: "revision_id" | "assignment_id",
  stalledBefore: Date,
  only?: string,
): Promise<RollupRow[]> {
  const column = sql.ref(`d.${by}`);
  const result = await sql<RollupRow>`
    select ${column} as key, d.status,
      (d.status in ('offered','applying') and d.updated_at < ${stalledBefore}) as stalled,
      count(*)::int as n
    from agent_config_deliveries d
    where d.tenant_id = ${tenantId} and ${OF_CURRENT_AGENT} ${only ? sql`and ${column} = ${only}` : sql``}
    group by 1, 2, 3`.execute(db);
  return result.rows;
}

/**
 * Reopens current agents' failed rows (admin retry): they become pending and may be pushed again.
 * A deleted agent's failed row stays failed history.
 */
export async function reopenFailed(
  trx: Tx,
  tenantId: string,
  filter: { instanceUid?: string; revisionId?: string },
  at: Date,
): Promise<string[]> {
  let q = trx
    .updateTable("agent_config_deliveries as d")
    .set({ status: "pending", error_message: null, updated_at: at })
    .where("d.tenant_id", "=", tenantId)
    .where("d.status", "=", "failed")
    .where(OF_CURRENT_AGENT);
  if (filter.instanceUid) q = q.where("d.instance_uid", "=", filter.instanceUid);
  if (filter.revisionId) q = q.where("d.revision_id", "=", filter.revisionId);
  const rows = await q.returning("d.instance_uid").execute();
  return [...new Set(rows.map((r) => r.instance_uid))];
}
