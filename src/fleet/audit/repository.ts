import type { AuditEventRow, NewAuditEvent } from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

/** Appends one audit row; called inside the transaction of the mutation it records. */
export async function insertAuditEvent(trx: Tx, event: NewAuditEvent): Promise<void> {
  await trx.insertInto("audit_events").values(event).execute();
}

/** Newest first; `before` is the id of the last row of the previous page. */
export async function listAuditEvents(
  db: Queryable,
  filter: { tenantId: string | null; before?: string; action?: string; limit: number },
): Promise<AuditEventRow[]> {
  let q = db.selectFrom("audit_events").selectAll();
  q =
    filter.tenantId === null ? q.where("tenant_id", "is", null) : q.where("tenant_id", "=", filter.tenantId);
  if (filter.before) q = q.where("id", "<", filter.before);
  if (filter.action) q = q.where("action", "=", filter.action);
  return q.orderBy("id", "desc").limit(filter.limit).execute();
}
