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

/** SQL types a batch column can have (the element type of its array parameter). */
export type ColumnType = "text" | "uuid" | "bigint" | "int" | "boolean" | "timestamptz";

/**
 * Many rows as one array parameter per column: `unnest($1::text[], $2::uuid[], …) as alias(…)`.
 * The statement text is the same for any number of rows (a prepared statement), and the planner
 * estimates an array parameter at 10 rows, so joins probe primary keys; `jsonb_to_recordset`
 * would be estimated at 100 rows and joined by scanning the whole table.
 */
export function rowsOf<R extends object>(
  alias: string,
  columns: Readonly<Record<string, ColumnType>>,
  rows: readonly R[],
) {
  const names = Object.keys(columns);
  const arrays = names.map(
    (name) =>
      sql`${rows.map((r) => (r as Record<string, unknown>)[name] ?? null)}::${sql.raw(columns[name] ?? "text")}[]`,
  );
  return sql`unnest(${sql.join(arrays)}) as ${sql.ref(alias)}(${sql.join(names.map((n) => sql.ref(n)))})`;
}
