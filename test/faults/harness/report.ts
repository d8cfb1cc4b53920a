/**
 * The faults report: each test records what it did, its pass criterion and the figures it saw
 * (`recordFault`, one JSON file per fault under .tmp/faults/); the suite's global teardown joins
 * them into .tmp/faults-report.md and, with FAULTS_UPDATE_DOCS=1, the table of
 * docs/reliability.md (between its `faults:begin` and `faults:end` markers).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("../../..", import.meta.url).pathname;
export const FRAGMENTS = join(ROOT, ".tmp", "faults");
export const REPORT = join(ROOT, ".tmp", "faults-report.md");
const DOCS = join(ROOT, "docs", "reliability.md");

export interface FaultRecord {
  /** Its number in issue 16 ("1"…"8"), for ordering. */
  id: string;
  fault: string;
  /** What the test did, in a sentence. */
  done: string;
  criterion: string;
  /** What was seen, with the figures, in a sentence. */
  seen: string;
  figures: Record<string, number | string | boolean>;
  pass: boolean;
}

/** Stores one fault's outcome for the report (call it before the assertions, so a failure shows). */
export function recordFault(record: FaultRecord): void {
  mkdirSync(FRAGMENTS, { recursive: true });
  writeFileSync(join(FRAGMENTS, `${record.id}.json`), `${JSON.stringify(record, null, 2)}\n`);
}

/** Faults proven by the integration suite (`npm test`), listed in the report with their tests. */
const PROVEN_ELSEWHERE: FaultRecord[] = [
  {
    id: "3",
    fault: "KMS down or throttled",
    done: "test/integration/secrets.test.ts, own-telemetry.test.ts, agent-state.test.ts, kms.test.ts (npm test, both KMS providers in CI)",
    criterion:
      "secret writes 503 + Retry-After, metadata reads and /readyz still work; deliveries fail closed and arrive once the KMS is back",
    seen: "covered by `npm test` (not re-run here)",
    figures: {},
    pass: true,
  },
];

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

function table(records: FaultRecord[]): string {
  const rows = records.map(
    (r) =>
      `| ${r.id} | ${cell(r.fault)} | ${cell(r.done)} | ${cell(r.criterion)} | ${cell(r.seen)} | ${r.pass ? "pass" : "**FAIL**"} |`,
  );
  return [
    "| # | fault | what was done | pass criterion | seen | result |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

export function clearFragments(): void {
  rmSync(FRAGMENTS, { recursive: true, force: true });
}

/** Joins the fragments into the markdown report (and the docs table when asked). */
export function writeReport(): void {
  const recorded = existsSync(FRAGMENTS)
    ? readdirSync(FRAGMENTS)
        .filter((f) => f.endsWith(".json"))
        .map((f) => JSON.parse(readFileSync(join(FRAGMENTS, f), "utf8")) as FaultRecord)
    : [];
  const byId = new Map([...PROVEN_ELSEWHERE, ...recorded].map((r) => [r.id, r]));
  const records = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  const figures = records
    .filter((r) => Object.keys(r.figures).length > 0)
    .map(
      (r) =>
        `### ${r.id}. ${r.fault}\n\n${Object.entries(r.figures)
          .map(([k, v]) => `- ${k}: ${v}`)
          .join("\n")}`,
    )
    .join("\n\n");
  const stamp = `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}.`;
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  writeFileSync(REPORT, `# Faults report\n\n${stamp}\n\n${table(records)}\n\n## Figures\n\n${figures}\n`);
  if (process.env.FAULTS_UPDATE_DOCS === "1" && existsSync(DOCS)) {
    const docs = readFileSync(DOCS, "utf8");
    const begin = "<!-- faults:begin -->";
    const end = "<!-- faults:end -->";
    const a = docs.indexOf(begin);
    const b = docs.indexOf(end);
    if (a >= 0 && b > a)
      writeFileSync(
        DOCS,
        `${docs.slice(0, a + begin.length)}\n${stamp}\n\n${table(records)}\n${docs.slice(b)}`,
      );
  }
}

/** A directory for one server's data and log, kept after the run (.tmp/faults-run/<name>). */
export function runDir(name: string): string {
  const dir = join(ROOT, ".tmp", "faults-run", name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}
