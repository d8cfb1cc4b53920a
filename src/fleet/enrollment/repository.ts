import type { Insertable } from "kysely";
import { anyHash } from "../../db/expressions.js";
import type { AgentEnrollmentTokensTable, EnrollmentTokenRow } from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export async function insertEnrollmentToken(
  trx: Queryable,
  row: Insertable<AgentEnrollmentTokensTable>,
): Promise<EnrollmentTokenRow> {
  return trx.insertInto("agent_enrollment_tokens").values(row).returningAll().executeTakeFirstOrThrow();
}

/** The tokens with these hashes (any order; unknown hashes have no row). */
export async function findEnrollmentTokensByHash(
  db: Queryable,
  hashes: readonly Uint8Array[],
): Promise<EnrollmentTokenRow[]> {
  if (hashes.length === 0) return [];
  return db
    .selectFrom("agent_enrollment_tokens")
    .selectAll()
    .where("token_hash", "=", anyHash(hashes))
    .execute();
}

export async function findEnrollmentToken(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<EnrollmentTokenRow | undefined> {
  return db
    .selectFrom("agent_enrollment_tokens")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .executeTakeFirst();
}

export async function lockEnrollmentToken(
  trx: Tx,
  tenantId: string,
  id: string,
): Promise<EnrollmentTokenRow | undefined> {
  return trx
    .selectFrom("agent_enrollment_tokens")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .forUpdate()
    .executeTakeFirst();
}

export async function listEnrollmentTokens(
  db: Queryable,
  filter: { tenantId: string; after?: string; limit: number },
): Promise<EnrollmentTokenRow[]> {
  let q = db.selectFrom("agent_enrollment_tokens").selectAll().where("tenant_id", "=", filter.tenantId);
  if (filter.after) q = q.where("id", ">", filter.after);
  return q.orderBy("id").limit(filter.limit).execute();
}

export async function revokeEnrollmentToken(trx: Tx, id: string, by: string): Promise<EnrollmentTokenRow> {
  return trx
    .updateTable("agent_enrollment_tokens")
    .set({ revoked_at: new Date(), revoked_by: by })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Adds counted uses to a token without max_uses (the session path counts them in memory and
 * writes them with the liveness flush: one statement per token per flush, no row lock per agent).
 */
export async function addEnrollmentTokenUses(
  db: Queryable,
  tokenId: string,
  uses: number,
  at: Date,
): Promise<void> {
  await db
    .updateTable("agent_enrollment_tokens")
    .set((eb) => ({ use_count: eb("use_count", "+", uses), last_used_at: at }))
    .where("id", "=", tokenId)
    .execute();
}
