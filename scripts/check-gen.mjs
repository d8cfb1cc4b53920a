#!/usr/bin/env node
// CI check: is the committed src/gen/ exactly what `buf generate` produces from proto/?
//
// Runs `buf generate` with the repository's own buf.gen.yaml into a temporary directory and
// compares every file byte-for-byte with src/gen/. Prints each stale, missing or extra file and
// exits 1 if there is any difference; exits 0 with one line otherwise. Exit 2 means the check
// itself could not run (buf missing or failing).
//
// Why `--output <tmp>` instead of a rewritten template: buf prepends --output to every `out` in
// the template, so the real buf.gen.yaml (plugins, options, clean) is used unchanged and the
// check cannot drift from what `npm run generate:proto` does.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The `out` of buf.gen.yaml, relative to the repository root. */
const GEN_DIR = "src/gen";
const binDir = path.join(repoRoot, "node_modules", ".bin");
const bufBin = path.join(binDir, process.platform === "win32" ? "buf.cmd" : "buf");

/**
 * Lists every file below `dir` as a POSIX-style path relative to `dir`, sorted.
 * @param {string} dir
 * @returns {string[]}
 */
function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .sort();
}

if (!existsSync(bufBin)) {
  console.error(`check-gen: ${path.relative(repoRoot, bufBin)} not found; run npm ci first`);
  process.exit(2);
}

const tmp = mkdtempSync(path.join(tmpdir(), "agent-api-gen-"));
let exitCode = 0;
try {
  const result = spawnSync(bufBin, ["generate", "--template", "buf.gen.yaml", "--output", tmp], {
    cwd: repoRoot,
    // protoc-gen-es is a `local` plugin: buf looks it up on PATH, so node_modules/.bin must be on it
    // even when this script is run with plain `node` rather than through npm.
    env: { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ""}` },
    encoding: "utf8",
  });
  if (result.error || result.status !== 0) {
    console.error(`check-gen: buf generate failed${result.error ? `: ${result.error.message}` : ""}`);
    if (result.stderr) console.error(result.stderr.trimEnd());
    exitCode = 2;
  } else {
    const problems = [];

    // Anything generated outside GEN_DIR means buf.gen.yaml changed and this script is out of date.
    for (const rel of listFiles(tmp)) {
      if (!rel.startsWith(`${GEN_DIR}/`)) problems.push(`unexpected output outside ${GEN_DIR}/: ${rel}`);
    }

    const freshDir = path.join(tmp, GEN_DIR);
    const committedDir = path.join(repoRoot, GEN_DIR);
    const fresh = listFiles(freshDir);
    const committed = new Set(listFiles(committedDir));

    for (const rel of fresh) {
      const shown = `${GEN_DIR}/${rel}`;
      if (!committed.has(rel)) {
        problems.push(`missing: ${shown}`);
        continue;
      }
      committed.delete(rel);
      const want = readFileSync(path.join(freshDir, rel));
      const have = readFileSync(path.join(committedDir, rel));
      if (!want.equals(have)) problems.push(`differs: ${shown}`);
    }
    // `clean: true` in buf.gen.yaml deletes files that no longer have a source, so leftovers are stale.
    for (const rel of committed) problems.push(`extra: ${GEN_DIR}/${rel}`);

    if (problems.length > 0) {
      console.error(`${GEN_DIR} is stale (${problems.length} file(s)); run \`npm run generate:proto\`:`);
      for (const problem of problems) console.error(`  ${problem}`);
      exitCode = 1;
    } else {
      console.log(`${GEN_DIR} is current (${fresh.length} files)`);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(exitCode);
