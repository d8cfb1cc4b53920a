/** SQL expressions shared by repositories. */
import { sql } from "kysely";

/**
 * `any(…)` of credential hashes (bytea), passed as one text array: the statement text is the
 * same for any number of hashes, so it stays one prepared statement.
 */
export function anyHash(hashes: readonly Uint8Array[]) {
  const hex = hashes.map((h) => Buffer.from(h).toString("hex"));
  return sql<Uint8Array>`any(select decode(h, 'hex') from unnest(${hex}::text[]) as h)`;
}
