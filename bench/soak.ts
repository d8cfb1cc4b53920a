/**
 * Soak: the server under a steady fleet for a long time, watched for leaks (issue 16, fault 8).
 *
 *   npm run soak -- --agents 10000 --minutes 60          # the release figure
 *   npm run soak -- --agents 500 --minutes 2 --sample-seconds 10 --change-seconds 30 --warmup-seconds 30
 *
 * The server runs as a child process (`node --import tsx src/main.ts`, inspector on loopback so
 * a full GC can run before every memory figure) on a fresh database; the bench's load-generator
 * workers (bench/agent-worker.ts) enroll the agents, which then heartbeat every 30 s; the
 * template changes every `--change-seconds` (default 300) and every agent must get the change.
 * Every `--sample-seconds` (default 60): RSS (after a forced GC), V8 heap used, open fds
 * (/proc/<pid>/fd), event-loop lag p99 since the previous sample, connected agents.
 *
 * Pass: RSS slope after the warm-up ≤ 1 %/h (judged when at least 20 minutes of samples follow
 * the warm-up; reported otherwise), no fd growth after the warm-up (≤ max(10, 0.5 % of agents)),
 * no unhandled rejection or uncaught exception in the server's log, the server alive, every
 * change delivered to every agent. Writes a JSON report (--out, default .tmp/soak-report.json)
 * and exits 1 when a criterion fails.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { issueToken } from "../src/credentials/index.js";
import { split } from "./lib/context.js";
import { createDatabase, dropDatabase } from "./lib/database.js";
import type { EnrollResult } from "./lib/ipc.js";
import { InspectorProfiler } from "./lib/profiler.js";
import { RestClient } from "./lib/rest.js";
import { ServerProcess } from "./lib/server-process.js";
import { WorkerPool } from "./lib/workers.js";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const PER_WORKER = 4_000;

const USAGE = `usage: npm run soak -- [--agents N] [--minutes M] [options]

  --agents N             agents (default 10000)
  --minutes M            length of the soak after enrollment (default 60)
  --change-seconds S     a template change every S seconds (default 300)
  --sample-seconds S     a sample every S seconds (default 60)
  --warmup-seconds S     samples before this are not judged (default: a sixth of the run, ≤ 10 min)
  --heartbeat-seconds S  agents' heartbeat interval (default 30)
  --pg URL               PostgreSQL role that may create databases (default $SOAK_PG_URL,
                         $BENCH_PG_URL, postgres://postgres:postgres@127.0.0.1:5432/postgres)
  --out FILE             JSON report (default .tmp/soak-report.json)`;

interface Sample {
  /** Seconds since the soak started (after enrollment). */
  t: number;
  rssMb: number;
  heapUsedMb: number;
  fds: number;
  lagP99Ms: number;
  connected: number;
}

interface Change {
  t: number;
  /** Agents that got the change, and how long the last one took. */
  reached: number;
  lastMs: number;
}

interface SoakReport {
  agents: number;
  minutes: number;
  enrolled: number;
  samples: Sample[];
  changes: Change[];
  warmupSeconds: number;
  /** Least-squares slope of RSS after the warm-up, in % of its mean per hour. */
  rssSlopePercentPerHour: number | null;
  slopeJudged: boolean;
  fdGrowth: number;
  fdAllowance: number;
  unhandled: number;
  serverAlive: boolean;
  pass: boolean;
  failures: string[];
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => ok(typeof a === "object" && a ? a.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

const template = (generation: number) => `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
processors:
  attributes/soak:
    actions:
      - key: soak.generation
        value: "${generation}"
        action: upsert
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [attributes/soak]
      exporters: [debug]
`;

/** Judges the samples: the figures and the criteria of the header. */
function judge(
  r: Omit<
    SoakReport,
    "rssSlopePercentPerHour" | "slopeJudged" | "fdGrowth" | "fdAllowance" | "pass" | "failures"
  >,
): SoakReport {
  const after = r.samples.filter((s) => s.t >= r.warmupSeconds);
  const failures: string[] = [];
  let rssSlope: number | null = null;
  let judged = false;
  if (after.length >= 3) {
    const meanRss = after.reduce((s, x) => s + x.rssMb, 0) / after.length;
    rssSlope = round(((slope(after.map((s) => [s.t / 3600, s.rssMb])) / meanRss) * 100) as number, 2);
    judged = (after.at(-1)?.t ?? 0) - (after[0]?.t ?? 0) >= 20 * 60;
    if (judged && rssSlope > 1) failures.push(`RSS slope ${rssSlope} %/h after warm-up (> 1 %/h)`);
  }
  const fdAllowance = Math.max(10, Math.ceil(r.agents * 0.005));
  const fdGrowth = after.length >= 2 ? (after.at(-1)?.fds ?? 0) - (after[0]?.fds ?? 0) : 0;
  if (fdGrowth > fdAllowance) failures.push(`fds grew by ${fdGrowth} after warm-up (> ${fdAllowance})`);
  if (r.unhandled > 0) failures.push(`${r.unhandled} unhandled rejections or uncaught exceptions`);
  if (!r.serverAlive) failures.push("the server died");
  if (r.enrolled < r.agents) failures.push(`${r.agents - r.enrolled} agents did not enroll`);
  for (const c of r.changes)
    if (c.reached < r.enrolled) failures.push(`change at ${c.t} s reached ${c.reached}/${r.enrolled} agents`);
  return {
    ...r,
    rssSlopePercentPerHour: rssSlope,
    slopeJudged: judged,
    fdGrowth,
    fdAllowance,
    pass: failures.length === 0,
    failures,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      agents: { type: "string", default: "10000" },
      minutes: { type: "string", default: "60" },
      "change-seconds": { type: "string", default: "300" },
      "sample-seconds": { type: "string", default: "60" },
      "warmup-seconds": { type: "string" },
      "heartbeat-seconds": { type: "string", default: "30" },
      pg: { type: "string" },
      out: { type: "string", default: ".tmp/soak-report.json" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const agents = Number(values.agents);
  const minutes = Number(values.minutes);
  const changeMs = Number(values["change-seconds"]) * 1000;
  const sampleMs = Number(values["sample-seconds"]) * 1000;
  const heartbeatS = Number(values["heartbeat-seconds"]);
  const warmupSeconds = values["warmup-seconds"]
    ? Number(values["warmup-seconds"])
    : Math.min(600, Math.round((minutes * 60) / 6));
  for (const [name, v] of Object.entries({ agents, minutes, changeMs, sampleMs, heartbeatS, warmupSeconds }))
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: a positive number, please\n${USAGE}`);
  const adminUrl =
    values.pg ??
    process.env.SOAK_PG_URL ??
    process.env.BENCH_PG_URL ??
    "postgres://postgres:postgres@127.0.0.1:5432/postgres";
  const out = resolve(ROOT, values.out);
  await mkdir(dirname(out), { recursive: true });
  const log = (line: string) => process.stdout.write(`[soak] ${line}\n`);

  const dbName = `soak_${Date.now()}`;
  const databaseUrl = await createDatabase(adminUrl, dbName);
  const logFile = join(dirname(out), "soak-server.log");
  writeFileSync(logFile, "");
  const operatorKey = issueToken("admin").plaintext;
  const port = await freePort();
  const inspectPort = await freePort();
  let server: ServerProcess | undefined;
  let pool: WorkerPool | undefined;
  let inspector: InspectorProfiler | undefined;
  try {
    ({ server } = await ServerProcess.start({
      entry: "src/main.ts",
      nodeArgs: ["--import", "tsx", `--inspect=127.0.0.1:${inspectPort}`],
      cwd: ROOT,
      port,
      logFile,
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        DATABASE_URL: databaseUrl,
        DATA_DIR: join(dirname(out), "soak-data"),
        ADMIN_TOKEN: operatorKey,
        LOG_LEVEL: "warn",
        HEARTBEAT_INTERVAL_SECONDS: String(heartbeatS),
        OPAMP_MAX_CONCURRENT_HANDSHAKES: "20000",
      },
    }));
    const srv = server;
    inspector = await InspectorProfiler.attach(inspectPort);
    const rest = new RestClient(srv.url, operatorKey);
    const tenant = await rest.call("POST", "/api/v1/tenants", { displayName: "Soak" });
    const t = `/api/v1/tenants/${tenant.body.id}`;
    const token = await rest.call("POST", `${t}/enrollment-tokens`, {
      name: "soak",
      labels: { env: "soak" },
    });
    let generation = 1;
    await rest.call("PUT", `${t}/config-templates/soak`, { content: template(generation) });
    await rest.call("PUT", `${t}/assignments/soak`, { selector: "env=soak", template: "soak" });

    const workers = Math.max(1, Math.ceil(agents / PER_WORKER));
    pool = await WorkerPool.start({
      workers,
      firstAddressOctet: 40,
      hardDeadlineMs: (minutes + 15) * 60_000,
    });
    const counts = split(agents, workers);
    log(`enrolling ${agents} agents in ${workers} workers`);
    const enrolledResults = await pool.all<EnrollResult>((w) => ({
      type: "enroll",
      url: `ws://127.0.0.1:${port}/v1/opamp`,
      token: token.body.token,
      count: counts[w.index] ?? 0,
      concurrency: 100,
      sendApplying: false,
      timeoutMs: 120_000,
      deadlineAt: Date.now() + 600_000,
    }));
    const enrolled = enrolledResults.reduce((s, r) => s + r.appliedMs.filter((ms) => ms >= 0).length, 0);
    log(`${enrolled} agents enrolled; heartbeats every ${heartbeatS} s; soaking ${minutes} min`);
    await pool.all({ type: "heartbeat", intervalMs: heartbeatS * 1000 });

    const samples: Sample[] = [];
    const changes: Change[] = [];
    const started = Date.now();
    const elapsed = () => round((Date.now() - started) / 1000, 0);
    const sample = async () => {
      await inspector?.collectGarbage();
      const metrics = await srv.metrics();
      const stats = await pool?.stats();
      const s: Sample = {
        t: elapsed(),
        rssMb: round(srv.rss() / 1e6),
        heapUsedMb: round((metrics.get("agentapi_nodejs_heap_size_used_bytes") ?? Number.NaN) / 1e6),
        fds: readdirSync(`/proc/${srv.pid}/fd`).length,
        lagP99Ms: round((metrics.get("agentapi_nodejs_eventloop_lag_p99_seconds") ?? Number.NaN) * 1000),
        connected: stats?.reduce((n, w) => n + w.connected, 0) ?? 0,
      };
      samples.push(s);
      log(
        `t=${s.t}s rss=${s.rssMb}MB heap=${s.heapUsedMb}MB fds=${s.fds} lag.p99=${s.lagP99Ms}ms connected=${s.connected}`,
      );
    };
    await sample();
    let nextSample = started + sampleMs;
    let nextChange = started + changeMs;
    const end = started + minutes * 60_000;
    while (Date.now() < end && srv.running) {
      const now = Date.now();
      if (now >= nextChange) {
        generation++;
        const at = elapsed();
        let triggeredAt = 0;
        await pool.armAndWait(
          "config",
          async () => {
            triggeredAt = Date.now();
            await rest.call("PUT", `${t}/config-templates/soak`, { content: template(generation) });
          },
          60_000,
        );
        const marks = await pool.all<{ at: number[] }>({ type: "collect", what: "config" });
        const times = marks.flatMap((m) => m.at).filter((x) => x > 0);
        const lastMs = times.length ? Math.max(...times) - triggeredAt : -1;
        changes.push({ t: at, reached: times.length, lastMs });
        log(`change ${generation}: ${times.length}/${enrolled} agents, the last after ${lastMs} ms`);
        nextChange += changeMs;
      } else if (now >= nextSample) {
        await sample();
        nextSample += sampleMs;
      } else await sleep(Math.min(nextSample, nextChange, end) - now);
    }
    if (srv.running) await sample();

    const serverLog = readFileSync(logFile, "utf8");
    const unhandled = (
      serverLog.match(/unhandled ?rejection|uncaught ?exception|UnhandledPromiseRejection/gi) ?? []
    ).length;
    const report = judge({
      agents,
      minutes,
      enrolled,
      samples,
      changes,
      warmupSeconds,
      unhandled,
      serverAlive: srv.running,
    });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    log(
      `RSS slope after warm-up: ${report.rssSlopePercentPerHour} %/h (${report.slopeJudged ? "judged" : "window under 20 min: reported, not judged"}); fd growth ${report.fdGrowth} (≤ ${report.fdAllowance}); unhandled ${unhandled}`,
    );
    log(report.pass ? "PASS" : `FAIL: ${report.failures.join("; ")}`);
    log(`report: ${out}`);
    return report.pass ? 0 : 1;
  } finally {
    inspector?.close();
    await pool?.stop();
    await server?.stop();
    await dropDatabase(adminUrl, dbName).catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
