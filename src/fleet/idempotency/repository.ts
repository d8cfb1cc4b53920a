import { type Insertable, type Selectable, sql } from "kysely";
import type { IdempotencyKeysTable } from "../../db/schema.js";
import type { Queryable } from "../../db/types.js";

export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>;

/** One answer to keep; `created_at` is always the time of the write. */
export type NewIdempotencyKey = Omit<Insertable<IdempotencyKeysTable>, "created_at">;

/** The oldest `created_at` a key still counts with, computed by the database clock. */
function retentionCutoff(retentionHours: number) {
  return sql<Date>`now() - make_interval(hours => ${retentionHours})`;
}

/** The row for (scope, key) if it was stored within the last `retentionHours`. */
export async function findRetainedIdempotencyKey(
  db: Queryable,
  scope: string,
  key: string,
  retentionHours: number,
): Promise<IdempotencyKeyRow | undefined> {
  return db
    .selectFrom("idempotency_keys")
    .selectAll()
    .where("scope", "=", scope)
    .where("key", "=", key)
    .where("created_at", ">", retentionCutoff(retentionHours))
    .executeTakeFirst();
}

/**
 * Stores an answer for (scope, key). A row still within `retentionHours` is kept (the first
 * writer wins a race); an expired one is replaced as if it were new.
 */
export async function insertIdempotencyKey(
  db: Queryable,
  row: NewIdempotencyKey,
  retentionHours: number,
): Promise<void> {
  await db
    .insertInto("idempotency_keys")
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(["scope", "key"])
        .doUpdateSet({
          request_hash: row.request_hash,
          status_code: row.status_code,
          response: row.response,
          created_at: new Date(),
        })
        .where("idempotency_keys.created_at", "<=", retentionCutoff(retentionHours)),
    )
    .execute();
}
