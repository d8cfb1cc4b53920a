/**
 * The fleet-wide counts behind the operator's gauges (agents online/offline, stalled deliveries,
 * rollouts by state). Read at scrape time, across every tenant: the figures carry no tenant label.
 */
import { type Expression, type SqlBool, sql } from "kysely";
import type { Queryable } from "../../db/types.js";
import { MANUAL_PAUSE_PREFIX } from "../rollouts/state-machine.js";

export interface FleetCountsRow {
  agents_online: number;
  agents_offline: number;
  deliveries_stalled: number;
}

/**
 * Agents by liveness and stalled deliveries, in one statement: one pass over `agents`, and the
 * stalled rows per tenant, where the deliveries status index answers (across tenants at once, the
 * same count is a sequential scan of the whole delivery history: 14 ms instead of 0.1 ms with
 * 76,000 rows).
 */
export async function countFleet(
  db: Queryable,
  online: Expression<SqlBool>,
  stalledBefore: Date,
): Promise<FleetCountsRow> {
  const { rows } = await sql<FleetCountsRow>`select a.online as agents_online,
      a.total - a.online as agents_offline, s.stalled as deliveries_stalled
    from (select count(*) filter (where ${online})::int as online, count(*)::int as total from agents) a,
      (select coalesce(sum(n), 0)::int as stalled from tenants t cross join lateral (
        select count(*) as n from agent_config_deliveries d
        where d.tenant_id = t.id and d.status in ('offered', 'applying') and d.updated_at < ${stalledBefore}
          and exists (select 1 from agents x where x.tenant_id = d.tenant_id
            and x.instance_uid = d.instance_uid)) c) s`.execute(db);
  return rows[0] ?? { agents_online: 0, agents_offline: 0, deliveries_stalled: 0 };
}

/**
 * Rollouts by state, with the paused ones that paused themselves (failure budget exceeded)
 * apart from those an operator paused (their reason starts with MANUAL_PAUSE_PREFIX).
 */
export async function countRollouts(
  db: Queryable,
): Promise<Array<{ state: string; self_paused: boolean; n: number }>> {
  const { rows } = await sql<{ state: string; self_paused: boolean; n: number }>`select state,
      (state = 'paused' and coalesce(reason, '') not like ${`${MANUAL_PAUSE_PREFIX}%`}) as self_paused,
      count(*)::int as n
    from rollouts group by 1, 2`.execute(db);
  return rows;
}
