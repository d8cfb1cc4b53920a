/**
 * Every statement about rollouts: the rollout rows (with the driving replica's lease), the
 * per-agent rows, what the driver observes of the agents (liveness columns, health, the delivery
 * of the target revision) and the overlay the config planner reads (who gets which revision).
 */
import {
  type Expression,
  type Insertable,
  type Selectable,
  type SqlBool,
  sql,
  type Updateable,
} from "kysely";
import { rowsOf } from "../../db/expressions.js";
import type {
  RolloutAgentStateColumn,
  RolloutAgentsTable,
  RolloutStateColumn,
  RolloutsTable,
} from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export type RolloutRow = Selectable<RolloutsTable>;
export type RolloutAgentRow = Selectable<RolloutAgentsTable>;
/** A rollout with the names a view shows. */
export type RolloutDetailRow = RolloutRow & {
  assignment_name: string;
  template_name: string;
  from_version: number;
  to_version: number;
};

const ACTIVE: RolloutStateColumn[] = ["running", "paused"];

function detailQuery(db: Queryable) {
  return db
    .selectFrom("rollouts as r")
    .innerJoin("agent_config_assignments as a", "a.id", "r.assignment_id")
    .innerJoin("agent_config_template_revisions as f", "f.id", "r.from_revision_id")
    .innerJoin("agent_config_template_revisions as t", "t.id", "r.to_revision_id")
    .innerJoin("agent_config_templates as tpl", "tpl.id", "t.template_id")
    .selectAll("r")
    .select([
      "a.name as assignment_name",
      "tpl.name as template_name",
      "f.version as from_version",
      "t.version as to_version",
    ]);
}

export async function insertRollout(trx: Tx, row: Insertable<RolloutsTable>): Promise<void> {
  await trx.insertInto("rollouts").values(row).execute();
}

/** The population's rows, in one statement per call. */
export async function insertRolloutAgents(
  trx: Tx,
  rows: readonly Insertable<RolloutAgentsTable>[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = {
    rollout_id: "text",
    tenant_id: "text",
    instance_uid: "uuid",
    position: "int",
    canary: "boolean",
    hold_revision_id: "text",
    updated_at: "timestamptz",
  } as const;
  await sql`insert into rollout_agents (rollout_id, tenant_id, instance_uid, position, canary, state, hold_revision_id, updated_at)
    select n.rollout_id, n.tenant_id, n.instance_uid, n.position, n.canary, 'pending', n.hold_revision_id, n.updated_at
    from ${rowsOf("n", columns, rows)}`.execute(trx);
}

export async function findRollout(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<RolloutDetailRow | undefined> {
  return detailQuery(db).where("r.tenant_id", "=", tenantId).where("r.id", "=", id).executeTakeFirst();
}

/** Locks a rollout row (admin verbs and the driver's step serialize on it). */
export async function lockRollout(trx: Tx, id: string): Promise<RolloutRow | undefined> {
  return trx.selectFrom("rollouts").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
}

/** The running or paused rollout of an assignment, locked. */
export async function lockActiveRollout(trx: Tx, assignmentId: string): Promise<RolloutRow | undefined> {
  return trx
    .selectFrom("rollouts")
    .selectAll()
    .where("assignment_id", "=", assignmentId)
    .where("state", "in", ACTIVE)
    .forUpdate()
    .executeTakeFirst();
}

export async function updateRollout(trx: Tx, id: string, patch: Updateable<RolloutsTable>): Promise<void> {
  await trx.updateTable("rollouts").set(patch).where("id", "=", id).execute();
}

export async function listRollouts(
  db: Queryable,
  f: {
    tenantId: string;
    state?: RolloutStateColumn | undefined;
    assignmentId?: string | undefined;
    before?: { createdAt: string; id: string } | undefined;
    limit: number;
  },
): Promise<RolloutDetailRow[]> {
  let q = detailQuery(db).where("r.tenant_id", "=", f.tenantId);
  if (f.state) q = q.where("r.state", "=", f.state);
  if (f.assignmentId) q = q.where("r.assignment_id", "=", f.assignmentId);
  if (f.before) {
    const b = f.before;
    q = q.where(sql<boolean>`(r.created_at, r.id) < (${new Date(b.createdAt)}::timestamptz, ${b.id})`);
  }
  return q.orderBy("r.created_at", "desc").orderBy("r.id", "desc").limit(f.limit).execute();
}

/** Agent counts by state, per rollout. */
export async function countRolloutAgents(
  db: Queryable,
  rolloutIds: readonly string[],
): Promise<Array<{ rollout_id: string; state: RolloutAgentStateColumn; n: number }>> {
  if (rolloutIds.length === 0) return [];
  const rows = await db
    .selectFrom("rollout_agents")
    .select(["rollout_id", "state", sql<number>`count(*)::int`.as("n")])
    .where("rollout_id", "=", sql<string>`any(${[...rolloutIds]}::text[])`)
    .groupBy(["rollout_id", "state"])
    .execute();
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/**
 * Drifted agents of each rollout's population (agents.drift, see docs/drift.md), by a join over
 * the population. Not from the drifted side (the partial index): that cost ~0.1 ms at rest but
 * up to half a second per view while a wave was being pushed, when every agent in flight drifts
 * for a moment and the index churns; nor as a filter of the by-state count (one statement, but
 * ~45 ms against 26 + 5 ms for the two under the same load).
 */
export async function countDriftedRolloutAgents(
  db: Queryable,
  rolloutIds: readonly string[],
): Promise<Array<{ rollout_id: string; n: number }>> {
  if (rolloutIds.length === 0) return [];
  const result = await sql<{ rollout_id: string; n: number }>`
    select ra.rollout_id, count(*)::int as n
    from rollout_agents ra
    join agents a on a.tenant_id = ra.tenant_id and a.instance_uid = ra.instance_uid
    where ra.rollout_id = any(${[...rolloutIds]}::text[]) and a.drift
    group by ra.rollout_id`.execute(db);
  return result.rows.map((r) => ({ rollout_id: r.rollout_id, n: Number(r.n) }));
}

/** A page of a rollout's agents in admission order. */
export async function listRolloutAgents(
  db: Queryable,
  f: {
    rolloutId: string;
    state?: RolloutAgentStateColumn | undefined;
    afterPosition?: number | undefined;
    limit?: number;
  },
): Promise<RolloutAgentRow[]> {
  let q = db.selectFrom("rollout_agents").selectAll().where("rollout_id", "=", f.rolloutId);
  if (f.state) q = q.where("state", "=", f.state);
  if (f.afterPosition !== undefined) q = q.where("position", ">", f.afterPosition);
  q = q.orderBy("position");
  if (f.limit !== undefined) q = q.limit(f.limit);
  return q.execute();
}

/** Writes the agents a step changed, in one statement. */
export async function updateRolloutAgents(
  trx: Tx,
  rolloutId: string,
  rows: readonly {
    instance_uid: string;
    state: RolloutAgentStateColumn;
    reason: string | null;
    admitted_at: Date | null;
    applied_at: Date | null;
    finished_at: Date | null;
    updated_at: Date;
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = {
    instance_uid: "uuid",
    state: "text",
    reason: "text",
    admitted_at: "timestamptz",
    applied_at: "timestamptz",
    finished_at: "timestamptz",
    updated_at: "timestamptz",
  } as const;
  await sql`update rollout_agents ra set state = c.state, reason = c.reason, admitted_at = c.admitted_at,
      applied_at = c.applied_at, finished_at = c.finished_at, updated_at = c.updated_at
    from ${rowsOf("c", columns, rows)}
    where ra.rollout_id = ${rolloutId} and ra.instance_uid = c.instance_uid`.execute(trx);
}

/**
 * Takes (or renews) the lease of active rollouts nobody else drives: rows another replica holds
 * with a live lease are skipped without waiting (`FOR UPDATE SKIP LOCKED`). Returns their ids.
 */
export async function claimRolloutLeases(
  trx: Tx,
  owner: string,
  now: Date,
  expiresAt: Date,
  limit: number,
): Promise<string[]> {
  const rows = await trx
    .selectFrom("rollouts")
    .select("id")
    .where("state", "in", ACTIVE)
    .where((eb) =>
      eb.or([eb("lease_owner", "=", owner), eb("lease_owner", "is", null), eb("lease_expires_at", "<", now)]),
    )
    .orderBy("created_at")
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
  const ids = rows.map((r) => r.id);
  if (ids.length > 0)
    await trx
      .updateTable("rollouts")
      .set({ lease_owner: owner, lease_expires_at: expiresAt })
      .where("id", "=", sql<string>`any(${ids}::text[])`)
      .execute();
  return ids;
}

/** Gives up this replica's leases (a clean stop: another replica takes over at once). */
export async function releaseRolloutLeases(db: Queryable, owner: string): Promise<void> {
  await db
    .updateTable("rollouts")
    .set({ lease_owner: null, lease_expires_at: null })
    .where("lease_owner", "=", owner)
    .execute();
}

/**
 * What the driver sees of one agent of a rollout, judged in the statement: whether it is online
 * (the liveness rule's SQL form, at the driver's `now`) and healthy, and its delivery of the
 * target. Times are epoch milliseconds: a step reads every pending and in-progress agent, and
 * booleans and numbers cost a fraction of what timestamps and health documents cost to decode.
 */
export interface ObservedAgentRow {
  instance_uid: string;
  online: boolean;
  healthy: boolean | null;
  delivery_status: string | null;
  delivery_error: string | null;
  delivery_applied_ms: number | null;
}

/**
 * The agents of a rollout in the given states (in progress; pending too when a step may admit),
 * as the driver sees them at `now`; for those in progress and not yet seen applying the target,
 * the newest delivery of the target revision too (its status is what the agent reported for it;
 * for an overlay's rollout, the newest delivery that merged the target in). An agent already seen
 * APPLIED stays applied (its bake runs on liveness and health), and a pending agent's deliveries
 * are not read: only whether it is online decides its admission. Each look at 10,000 in-flight
 * agents cost ~150 ms of PostgreSQL in per-agent delivery lookups before that.
 */
export async function observeRolloutAgents(
  trx: Tx,
  rollout: { id: string; tenant_id: string; to_revision_id: string },
  online: Expression<SqlBool>,
  states: readonly ("pending" | "in_progress")[],
): Promise<ObservedAgentRow[]> {
  const result = await sql<ObservedAgentRow>`
    select ra.instance_uid,
      coalesce(agents.revoked_at is null and ${online}, false) as online,
      (agents.health ->> 'healthy')::boolean as healthy,
      case when ra.applied_at is not null then 'applied' else d.status end as delivery_status,
      d.error_message as delivery_error,
      floor(extract(epoch from coalesce(ra.applied_at, d.applied_at)) * 1000)::float8 as delivery_applied_ms
    from rollout_agents ra
    left join agents on agents.tenant_id = ra.tenant_id and agents.instance_uid = ra.instance_uid
    left join lateral (
      select status, error_message, applied_at from agent_config_deliveries dd
      where ra.state = 'in_progress' and ra.applied_at is null
        and dd.tenant_id = ra.tenant_id and dd.instance_uid = ra.instance_uid
        and (dd.revision_id = ${rollout.to_revision_id} or ${rollout.to_revision_id} = any(dd.overlay_revision_ids))
        and dd.status <> 'superseded'
      order by dd.updated_at desc limit 1
    ) d on true
    where ra.rollout_id = ${rollout.id} and ra.state = any(${[...states]}::text[])`.execute(trx);
  return result.rows;
}

/** A rollout's agents as a step needs them (times in epoch milliseconds), in admission order. */
export interface StepAgentRow {
  instance_uid: string;
  position: number;
  canary: boolean;
  state: RolloutAgentStateColumn;
  reason: string | null;
  admitted_ms: number | null;
  applied_ms: number | null;
  finished_ms: number | null;
}

export async function listStepAgents(trx: Tx, rolloutId: string): Promise<StepAgentRow[]> {
  const result = await sql<StepAgentRow>`
    select instance_uid, position, canary, state, reason,
      floor(extract(epoch from admitted_at) * 1000)::float8 as admitted_ms,
      floor(extract(epoch from applied_at) * 1000)::float8 as applied_ms,
      floor(extract(epoch from finished_at) * 1000)::float8 as finished_ms
    from rollout_agents where rollout_id = ${rolloutId} order by position`.execute(trx);
  return result.rows;
}

/** An active rollout as the config planner sees it: who gets the target, who keeps what. */
export interface RolloutOverlayRow {
  assignment_id: string;
  from_revision_id: string;
  to_revision_id: string;
  instance_uid: string | null;
  state: RolloutAgentStateColumn | null;
  hold_revision_id: string | null;
}

/**
 * A tenant's active rollouts with their admitted agents and the pending agents that hold another
 * revision (one row per such agent; a rollout with neither yields one row with null agent).
 */
export async function findRolloutOverlays(db: Queryable, tenantId: string): Promise<RolloutOverlayRow[]> {
  const result = await sql<RolloutOverlayRow>`
    select r.assignment_id, r.from_revision_id, r.to_revision_id, ra.instance_uid, ra.state, ra.hold_revision_id
    from rollouts r
    left join rollout_agents ra on ra.rollout_id = r.id
      and (ra.state in ('in_progress', 'succeeded', 'failed') or ra.hold_revision_id is not null)
    where r.tenant_id = ${tenantId} and r.state in ('running', 'paused')`.execute(db);
  return result.rows;
}

/** The revisions rows by id (the planner's overlay). */
export async function findRevisionsById(db: Queryable, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return db
    .selectFrom("agent_config_template_revisions")
    .selectAll()
    .where("id", "=", sql<string>`any(${[...ids]}::text[])`)
    .execute();
}
