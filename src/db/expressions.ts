/** SQL expressions shared by repositories. */
import { CompiledQuery, type Kysely, type RawBuilder, sql } from "kysely";
import type { Database } from "./schema.js";

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

/**
 * A batch statement whose only parameters are its rows' column arrays (`rowsOf`): its text is
 * compiled once and reused as the same string, so a call costs neither a query compilation nor
 * hashing a new multi-kilobyte text to find its prepared statement.
 */
export class BatchStatement<R extends object, O = unknown> {
  #text: string | undefined;
  readonly #names: string[];

  /** `body` builds the statement around `rows` (the `unnest(…) as alias(…)` source). */
  constructor(
    private readonly alias: string,
    private readonly columns: Readonly<Record<string, ColumnType>>,
    private readonly body: (rows: RawBuilder<unknown>) => RawBuilder<O>,
  ) {
    this.#names = Object.keys(columns);
  }

  /** Runs the statement over `rows` (through `db`, a Kysely instance or a transaction). */
  async execute(db: Kysely<Database>, rows: readonly R[]): Promise<O[]> {
    if (this.#text === undefined) {
      const compiled = this.body(rowsOf(this.alias, this.columns, rows)).compile(db);
      // Any parameter besides the column arrays would be frozen into the cached text.
      if (compiled.parameters.length !== this.#names.length) {
        throw new Error("a BatchStatement's body must not take parameters of its own");
      }
      this.#text = compiled.sql;
    }
    const params = this.#names.map((name) => rows.map((r) => (r as Record<string, unknown>)[name] ?? null));
    const result = await db.executeQuery<O>(CompiledQuery.raw(this.#text, params));
    return result.rows;
  }
}
