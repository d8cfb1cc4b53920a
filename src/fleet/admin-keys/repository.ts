import type { Insertable } from "kysely";
import type { AdminApiKeyRow, AdminApiKeysTable } from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export async function insertAdminKey(
  trx: Queryable,
  row: Insertable<AdminApiKeysTable>,
): Promise<AdminApiKeyRow> {
  return trx.insertInto("admin_api_keys").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findAdminKeyByHash(
  db: Queryable,
  hash: Uint8Array,
): Promise<AdminApiKeyRow | undefined> {
  return db.selectFrom("admin_api_keys").selectAll().where("key_hash", "=", hash).executeTakeFirst();
}

export async function findAdminKey(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<AdminApiKeyRow | undefined> {
  return db
    .selectFrom("admin_api_keys")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .executeTakeFirst();
}

export async function lockAdminKey(
  trx: Tx,
  tenantId: string,
  id: string,
): Promise<AdminApiKeyRow | undefined> {
  return trx
    .selectFrom("admin_api_keys")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .forUpdate()
    .executeTakeFirst();
}

export async function listAdminKeys(
  db: Queryable,
  filter: { tenantId: string; after?: string; limit: number },
): Promise<AdminApiKeyRow[]> {
  let q = db.selectFrom("admin_api_keys").selectAll().where("tenant_id", "=", filter.tenantId);
  if (filter.after) q = q.where("id", ">", filter.after);
  return q.orderBy("id").limit(filter.limit).execute();
}

export async function countLiveOperatorKeys(db: Queryable): Promise<number> {
  const row = await db
    .selectFrom("admin_api_keys")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("role", "=", "operator")
    .where("revoked_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function revokeAdminKey(trx: Tx, id: string, by: string): Promise<AdminApiKeyRow> {
  return trx
    .updateTable("admin_api_keys")
    .set({ revoked_at: new Date(), revoked_by: by })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Touches last_used_at at most once a minute per key, so reads do not become writes. */
export async function touchAdminKey(db: Queryable, id: string): Promise<void> {
  await db
    .updateTable("admin_api_keys")
    .set({ last_used_at: new Date() })
    .where("id", "=", id)
    .where((eb) =>
      eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", new Date(Date.now() - 60_000))]),
    )
    .execute();
}
