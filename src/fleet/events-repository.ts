/** All SQL of the fleet events outbox (events.ts holds the rules: typing, ordering, claiming). */
import { sql } from "kysely";
import type { FleetEventRow } from "../db/schema.js";
import type { Queryable, Tx } from "../db/types.js";

/** Inserts an event and NOTIFYs `channel` with its id; both take effect when `trx` commits. */
export async function insertFleetEvent(
  trx: Tx,
  channel: string,
  event: { tenantId: string; kind: string; payload: string },
): Promise<void> {
  const row = await trx
    .insertInto("fleet_events")
    .values({ tenant_id: event.tenantId, kind: event.kind, payload: event.payload })
    .returning("id")
    .executeTakeFirstOrThrow();
  // NOTIFY is transactional: delivered at commit, dropped on rollback.
  await sql`select pg_notify(${channel}, ${String(row.id)})`.execute(trx);
}

/** The newest event id (0 when there is none). */
export async function newestFleetEventId(db: Queryable): Promise<number> {
  const row = await db
    .selectFrom("fleet_events")
    .select((eb) => eb.fn.max("id").as("max"))
    .executeTakeFirst();
  return Number(row?.max ?? 0);
}

/** Claims an event for `replicaId` unless another replica has; true when this call claimed it. */
export async function claimFleetEvent(db: Queryable, id: number, replicaId: string): Promise<boolean> {
  const row = await db
    .updateTable("fleet_events")
    .set({ claimed_by: replicaId })
    .where("id", "=", id)
    .where("claimed_by", "is", null)
    .returning("id")
    .executeTakeFirst();
  return row !== undefined;
}

/** Events after `afterId`, or created since `since` (late commits), in id order. */
export async function readFleetEvents(
  db: Queryable,
  afterId: number,
  since: Date,
  limit: number,
): Promise<FleetEventRow[]> {
  return db
    .selectFrom("fleet_events")
    .selectAll()
    .where((eb) => eb.or([eb("id", ">", afterId), eb("created_at", ">=", since)]))
    .orderBy("id")
    .limit(limit)
    .execute();
}

/** Deletes events created before `before`. */
export async function pruneFleetEvents(db: Queryable, before: Date): Promise<void> {
  await db.deleteFrom("fleet_events").where("created_at", "<", before).execute();
}
