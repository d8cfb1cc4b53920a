import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
} from "kysely";
import { describe, expect, it } from "vitest";
import { BatchStatement } from "../../src/db/expressions.js";
import type { Database } from "../../src/db/schema.js";

/** A Kysely that compiles PostgreSQL and records what it would send. */
function recordingDb() {
  const sent: { sql: string; parameters: readonly unknown[] }[] = [];
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (e) => {
      if (e.level === "query") sent.push({ sql: e.query.sql, parameters: e.query.parameters });
    },
  });
  return { db, sent };
}

describe("BatchStatement", () => {
  it("sends one array per column, with the same text for any number of rows", async () => {
    const { db, sent } = recordingDb();
    const statement = new BatchStatement<{ a: string; b?: number }>(
      "r",
      { a: "text", b: "int" },
      (rows) => sql`select * from ${rows}`,
    );
    await statement.execute(db, [{ a: "x", b: 1 }]);
    await statement.execute(db, [{ a: "y" }, { a: "z", b: 3 }]);
    expect(sent[0]?.sql).toBe('select * from unnest($1::text[], $2::int[]) as "r"("a", "b")');
    expect(sent[1]?.sql).toBe(sent[0]?.sql);
    expect(sent[1]?.parameters).toEqual([
      ["y", "z"],
      [null, 3],
    ]);
  });

  it("refuses a body with a parameter of its own (it would be frozen into the cached text)", async () => {
    const { db } = recordingDb();
    const statement = new BatchStatement<{ a: string }>(
      "r",
      { a: "text" },
      (rows) => sql`select * from ${rows} where r.a = ${"frozen"}`,
    );
    await expect(statement.execute(db, [{ a: "x" }])).rejects.toThrow(/must not take parameters/);
  });
});
