import type { Insertable } from "kysely";
import type { TenantRow, TenantsTable } from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export async function insertTenant(trx: Queryable, row: Insertable<TenantsTable>): Promise<TenantRow> {
  return trx.insertInto("tenants").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findTenant(db: Queryable, id: string): Promise<TenantRow | undefined> {
  return db.selectFrom("tenants").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function lockTenant(trx: Tx, id: string): Promise<TenantRow | undefined> {
  return trx.selectFrom("tenants").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
}

/** Ascending by id; `after` is the last id of the previous page; `only` limits to one tenant. */
export async function listTenants(
  db: Queryable,
  filter: { after?: string; only?: string; limit: number },
): Promise<TenantRow[]> {
  let q = db.selectFrom("tenants").selectAll();
  if (filter.only !== undefined) q = q.where("id", "=", filter.only);
  if (filter.after) q = q.where("id", ">", filter.after);
  return q.orderBy("id").limit(filter.limit).execute();
}

export async function deleteTenant(trx: Tx, id: string): Promise<void> {
  await trx.deleteFrom("tenants").where("id", "=", id).execute();
}
