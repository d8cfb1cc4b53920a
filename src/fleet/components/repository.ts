/** SQL about the component sets of collector builds (one row per tenant and hash). */
import { sql } from "kysely";
import type { Queryable as Db } from "../../db/types.js";

export interface ComponentSetRow {
  hash: string;
  components: unknown;
  refusal: string | null;
  list_bytes: number;
  reported_by: string;
  reported_at: Date;
}

/** The stored sets among `hashes` (any order; unknown hashes have no row). */
export async function findComponentSets(
  db: Db,
  tenantId: string,
  hashes: readonly string[],
): Promise<ComponentSetRow[]> {
  if (hashes.length === 0) return [];
  return db
    .selectFrom("agent_component_sets")
    .select(["hash", "components", "refusal", "list_bytes", "reported_by", "reported_at"])
    .where("tenant_id", "=", tenantId)
    .where("hash", "=", sql<string>`any(${[...hashes]}::text[])`)
    .execute();
}

export async function countComponentSets(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom("agent_component_sets")
    .select((eb) => eb.fn.countAll<string | number>().as("n"))
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Stores a set; a concurrent insert of the same hash wins (the hash names the list). */
export async function insertComponentSet(
  db: Db,
  row: {
    tenant_id: string;
    hash: string;
    components: string | null;
    refusal: string | null;
    list_bytes: number;
    reported_by: string;
    reported_at: Date;
  },
): Promise<void> {
  await db
    .insertInto("agent_component_sets")
    .values(row)
    .onConflict((oc) => oc.columns(["tenant_id", "hash"]).doNothing())
    .execute();
}
