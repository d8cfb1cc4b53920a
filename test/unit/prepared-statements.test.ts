import { describe, expect, it } from "vitest";
import { StatementNames } from "../../src/db/prepared-statements.js";

describe("prepared statement names", () => {
  it("names a statement text once it has run three times, and keeps that name", () => {
    const names = new StatementNames();
    const text = "select * from agents where tenant_id = $1";
    expect(names.nameFor(text)).toBeUndefined();
    expect(names.nameFor(text)).toBeUndefined();
    const name = names.nameFor(text);
    expect(name).toMatch(/^agentapi_\d+$/);
    expect(names.nameFor(text)).toBe(name);
    expect(names.nameFor("select 1")).toBeUndefined();
  });

  it("gives distinct texts distinct names and stops naming at 200 texts", () => {
    const names = new StatementNames();
    const seen = new Set<string>();
    for (let i = 0; i < 250; i++) {
      const text = `select ${i}`;
      names.nameFor(text);
      names.nameFor(text);
      const name = names.nameFor(text);
      if (i < 200) {
        expect(name).toBeDefined();
        seen.add(name as string);
      } else {
        expect(name).toBeUndefined();
      }
    }
    expect(seen.size).toBe(200);
    expect(names.size).toBe(200);
  });
});
