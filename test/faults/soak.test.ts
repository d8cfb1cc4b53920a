/**
 * Fault 8 of issue 16, the CI version of the soak: `bench/soak.ts` with 500 agents for 2 minutes
 * (heartbeats, a template change every 30 s, a sample every 10 s) against this suite's own
 * cluster. The release figure is the same script with --agents 10000 --minutes 60.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgCluster } from "./harness/cluster.js";
import { freePort } from "./harness/fleet.js";
import { recordFault } from "./harness/report.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const AGENTS = 500;
const MINUTES = 2;

interface SoakReport {
  enrolled: number;
  samples: {
    t: number;
    rssMb: number;
    heapUsedMb: number;
    fds: number;
    lagP99Ms: number;
    connected: number;
  }[];
  changes: { t: number; reached: number; lastMs: number }[];
  rssSlopePercentPerHour: number | null;
  slopeJudged: boolean;
  fdGrowth: number;
  fdAllowance: number;
  unhandled: number;
  serverAlive: boolean;
  pass: boolean;
  failures: string[];
}

let cluster: PgCluster;

beforeAll(async () => {
  cluster = await PgCluster.create(await freePort());
});

afterAll(async () => {
  await cluster?.destroy();
});

describe("fault 8: soak", () => {
  it(`${AGENTS} agents for ${MINUTES} minutes: no fd growth, no unhandled rejection, every change delivered`, async () => {
    const out = join(ROOT, ".tmp", "soak-faults.json");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "bench/soak.ts",
        ...["--agents", String(AGENTS), "--minutes", String(MINUTES)],
        ...["--sample-seconds", "10", "--change-seconds", "30", "--warmup-seconds", "30"],
        ...["--pg", cluster.url("postgres"), "--out", out],
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d) => {
      output += String(d);
    });
    child.stderr.on("data", (d) => {
      output += String(d);
    });
    const [code] = await once(child, "exit");
    const report = JSON.parse(readFileSync(out, "utf8")) as SoakReport;
    const first = report.samples[0];
    const last = report.samples.at(-1);
    const maxLag = Math.max(...report.samples.map((s) => s.lagP99Ms));
    recordFault({
      id: "8",
      fault: "Soak (CI version)",
      done: `npm run soak -- --agents ${AGENTS} --minutes ${MINUTES} (heartbeats every 30 s, a change every 30 s, a sample every 10 s after a forced GC); the release run is --agents 10000 --minutes 60`,
      criterion:
        "RSS slope ≤ 1 %/h after warm-up (judged on runs with ≥ 20 min after it), no fd growth, zero unhandled rejections, every change to every agent",
      seen: `RSS ${first?.rssMb} → ${last?.rssMb} MB (slope ${report.rssSlopePercentPerHour} %/h, ${report.slopeJudged ? "judged" : "not judged on 2 min"}), heap ${first?.heapUsedMb} → ${last?.heapUsedMb} MB, fds ${first?.fds} → ${last?.fds} (growth after warm-up ${report.fdGrowth}), event-loop lag p99 ≤ ${maxLag} ms, ${report.changes.length} changes each to ${report.changes.map((c) => c.reached).join("/")} of ${report.enrolled} agents, ${report.unhandled} unhandled`,
      figures: {
        "agents enrolled": report.enrolled,
        "RSS first / last (MB)": `${first?.rssMb} / ${last?.rssMb}`,
        "RSS slope after warm-up (%/h)": `${report.rssSlopePercentPerHour}${report.slopeJudged ? "" : " (not judged: under 20 min)"}`,
        "heap used first / last (MB)": `${first?.heapUsedMb} / ${last?.heapUsedMb}`,
        "fds first / last": `${first?.fds} / ${last?.fds}`,
        "event-loop lag p99, worst sample (ms)": maxLag,
        "changes: agents reached, slowest (ms)": report.changes
          .map((c) => `${c.reached} in ${c.lastMs}`)
          .join("; "),
        "unhandled rejections": report.unhandled,
      },
      pass: report.pass && code === 0,
    });
    expect(report.failures).toEqual([]);
    expect(code).toBe(0);
    expect(report.changes.length).toBeGreaterThanOrEqual(3);
    expect(output).toContain("PASS");
  }, 300_000);
});
