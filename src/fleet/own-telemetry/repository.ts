import type { Selectable } from "kysely";
import type { TenantOwnTelemetryTable } from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export type OwnTelemetryRow = Selectable<TenantOwnTelemetryTable>;

export async function findOwnTelemetry(
  db: Queryable,
  tenantId: string,
): Promise<OwnTelemetryRow | undefined> {
  return db
    .selectFrom("tenant_own_telemetry")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
}

/** The tenant's row, locked for the transaction (undefined when the tenant never set any). */
export async function lockOwnTelemetry(trx: Tx, tenantId: string): Promise<OwnTelemetryRow | undefined> {
  return trx
    .selectFrom("tenant_own_telemetry")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .forUpdate()
    .executeTakeFirst();
}

export async function tenantExists(db: Queryable, tenantId: string): Promise<boolean> {
  const row = await db.selectFrom("tenants").select("id").where("id", "=", tenantId).executeTakeFirst();
  return row !== undefined;
}

/** Writes the tenant's settings (JSON text, or null after a delete). */
export async function upsertOwnTelemetry(
  trx: Tx,
  row: { tenant_id: string; settings: string | null; updated_at: Date; updated_by: string },
): Promise<OwnTelemetryRow> {
  return trx
    .insertInto("tenant_own_telemetry")
    .values(row)
    .onConflict((oc) =>
      oc.column("tenant_id").doUpdateSet({
        settings: row.settings,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Which of `names` the tenant has as secrets (any version). */
export async function existingSecretNames(
  db: Queryable,
  tenantId: string,
  names: string[],
): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await db
    .selectFrom("agent_config_secrets")
    .select("name")
    .distinct()
    .where("tenant_id", "=", tenantId)
    .where("name", "in", names)
    .execute();
  return rows.map((r) => r.name);
}
