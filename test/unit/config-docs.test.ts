/**
 * Every setting documented: the README's "## Configuration" table lists exactly the variables
 * the config schema reads (src/config.ts), no more, no fewer.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { envSchema } from "../../src/config.js";

/** The backticked names in the first column of the first table under `## Configuration`. */
function documentedVariables(readme: string): string[] {
  const section = readme.split(/^## Configuration\s*$/m)[1]?.split(/^## /m)[0] ?? "";
  const rows = section.split("\n").filter((l) => l.trimStart().startsWith("|"));
  const names = rows
    .slice(2) // header and separator
    .flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] ?? ""));
  return [...new Set(names)].sort();
}

describe("the README's configuration table", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const documented = documentedVariables(readme);
  const schema = Object.keys(envSchema.shape).sort();

  it("lists every variable the config schema reads", () => {
    expect(schema.filter((v) => !documented.includes(v))).toEqual([]);
  });

  it("lists no variable the config schema does not read", () => {
    expect(documented.filter((v) => !schema.includes(v))).toEqual([]);
  });
});
