/**
 * SQL of drift (docs/drift.md): what the planner decided each agent should run
 * (`desired_config_hash`; the generated `drift` column follows), and the drifted agents counted
 * and listed for roll-ups, assignments and rollouts.
 */
import { sql } from "kysely";
import { retryingDeadlocks } from "../../db/errors.js";
import type { Queryable as Db } from "../../db/types.js";

/** The config an agent should run, as the planner decided it (null: nothing to compare with). */
export interface DesiredConfigHash {
  instanceUid: string;
  hash: string | null;
}

/**
 * Records what the planner decided each agent should run, in one statement; an agent whose
 * desired hash did not change is not written (a fan-out re-plan of an unchanged fleet writes
 * nothing here). The generated `drift` column follows.
 */
export async function recordDesiredConfigs(
  db: Db,
  tenantId: string,
  desired: readonly DesiredConfigHash[],
): Promise<void> {
  if (desired.length === 0) return;
  const sorted = [...desired].sort((x, y) => (x.instanceUid < y.instanceUid ? -1 : 1));
  const statement = sql`
    update agents a set desired_config_hash = c.hash
    from (select unnest(${sorted.map((d) => d.instanceUid)}::uuid[]) as instance_uid,
                 unnest(${sorted.map((d) => d.hash)}::text[]) as hash) c
    where a.tenant_id = ${tenantId} and a.instance_uid = c.instance_uid
      and a.desired_config_hash is distinct from c.hash`;
  // It locks many agent rows while the hot path's report batches lock some of them too.
  await retryingDeadlocks(() => statement.execute(db));
}

/** Drifted agents counted by the assignment or revision of the config they should run. */
export async function countDriftedAgents(
  db: Db,
  tenantId: string,
  by: "assignment_id" | "revision_id",
  only?: string,
): Promise<Array<{ key: string | null; n: number }>> {
  const column = sql.ref(`d.${by}`);
  const result = await sql<{ key: string | null; n: number }>`
    select ${column} as key, count(*)::int as n
    from agents a
    join agent_config_deliveries d on d.tenant_id = a.tenant_id and d.instance_uid = a.instance_uid
      and d.config_hash = a.desired_config_hash
    where a.tenant_id = ${tenantId} and a.drift ${only ? sql`and ${column} = ${only}` : sql``}
    group by 1`.execute(db);
  return result.rows;
}

/** What drift says about one agent (for views that list agents of their own, e.g. a rollout's). */
export interface AgentDriftRow {
  instance_uid: string;
  drift: boolean | null;
  running_config_hash: string | null;
  desired_config_hash: string | null;
}

/** The drift of these agents of a tenant (one statement; unknown uids have no row). */
export async function findAgentDrift(
  db: Db,
  tenantId: string,
  instanceUids: readonly string[],
): Promise<AgentDriftRow[]> {
  if (instanceUids.length === 0) return [];
  return db
    .selectFrom("agents")
    .select(["instance_uid", "drift", "running_config_hash", "desired_config_hash"])
    .where("tenant_id", "=", tenantId)
    .where("instance_uid", "=", sql<string>`any(${[...instanceUids]}::uuid[])`)
    .execute();
}

/**
 * A keyset page of the drifted agents whose desired config comes from one assignment (a
 * rollout's drifted agents, the assignment's drill-down).
 */
export async function listDriftedAgentsOfAssignment(
  db: Db,
  tenantId: string,
  assignmentId: string,
  page: { afterUid?: string; limit: number },
): Promise<AgentDriftRow[]> {
  const result = await sql<AgentDriftRow>`
    select a.instance_uid::text as instance_uid, a.drift, a.running_config_hash, a.desired_config_hash
    from agents a
    join agent_config_deliveries d on d.tenant_id = a.tenant_id and d.instance_uid = a.instance_uid
      and d.config_hash = a.desired_config_hash
    where a.tenant_id = ${tenantId} and a.drift and d.assignment_id = ${assignmentId}
      ${page.afterUid ? sql`and a.instance_uid > ${page.afterUid}::uuid` : sql``}
    order by a.instance_uid limit ${page.limit}`.execute(db);
  return result.rows;
}
