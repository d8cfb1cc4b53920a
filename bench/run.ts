/**
 * agent-api load bench: `npm run bench -- [options]`, `npm run bench:smoke`.
 *
 * Builds the server, creates a fresh PostgreSQL database, runs agent-api as a child process,
 * forks load-generator workers (one source address each) speaking OpAMP over real sockets, runs
 * the chosen scenarios in order, checks that the server did the work, and writes JSON, a
 * markdown summary and SVG charts under bench/results/<run id>/. Every scenario has a deadline,
 * the whole run has one, and every child process is killed on exit (also on SIGINT/SIGTERM).
 * See bench/README.md.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { issueToken } from "../src/credentials/index.js";
import { AgentToServerSchema } from "../src/gen/opamp/v1/opamp_pb.js";
import { encodeAgentToServerFrame } from "../src/opamp/codec.js";
import {
  newResult,
  type Options,
  type RunContext,
  SCENARIOS,
  type ScenarioName,
  type ScenarioResult,
  SEPARATE_SCENARIOS,
} from "./lib/context.js";
import { BenchDb, createDatabase, dropDatabase } from "./lib/database.js";
import { InspectorProfiler } from "./lib/profiler.js";
import { writeReport } from "./lib/report.js";
import { RestClient } from "./lib/rest.js";
import { summarizeServerLog } from "./lib/server-log.js";
import { freePort, ServerProcess } from "./lib/server-process.js";
import { templateContent } from "./lib/template.js";
import { WorkerPool } from "./lib/workers.js";
import { runBaseline } from "./scenarios/baseline.js";
import { runEnroll } from "./scenarios/enroll.js";
import { runFanout } from "./scenarios/fanout.js";
import { runReconnect } from "./scenarios/reconnect.js";
import { runRest } from "./scenarios/rest.js";
import { runRollout } from "./scenarios/rollout.js";
import { AGENTS_PER_REPLICA, runScaleout } from "./scenarios/scaleout.js";
import { runSteady } from "./scenarios/steady.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The bench builds its own copy of the server here, so dist/ stays whatever others made it. */
const BUILD_DIR = join(ROOT, "node_modules", ".cache", "agent-api-bench");

const TITLES: Record<ScenarioName, string> = {
  enroll: "Enrollment storm",
  steady: "Steady state (connected, heartbeating)",
  fanout: "Config fan-out",
  rollout: "Staged rollout (waves 1 %, 10 %, 100 %, 5 s bake)",
  reconnect: "Reconnect storm (server restart)",
  rest: "REST under load",
  baseline: "Baseline: bare ws server, same sockets",
  scaleout: "Scale-out: replicas on one PostgreSQL, agents spread round-robin",
};

type Runner = (ctx: RunContext, result: ScenarioResult, deadlineAt: number) => Promise<void>;
const RUNNERS: Record<ScenarioName, Runner> = {
  enroll: runEnroll,
  steady: runSteady,
  fanout: runFanout,
  rollout: runRollout,
  reconnect: runReconnect,
  rest: runRest,
  baseline: runBaseline,
  scaleout: runScaleout,
};

const USAGE = `usage: npm run bench -- [options]      (npm run bench:smoke for the miniature run)

  --agents N               agents (default 5000; at most ~19,900: one server process, fd limit 20,000;
                           with scaleout at most replicas × ${AGENTS_PER_REPLICA.toLocaleString("en-US")})
  --scenarios a,b,…        ${SCENARIOS.join(",")} (default: all but scaleout, always run in this order;
                           scaleout runs alone: --scenarios scaleout --agents 50000)
  --replicas N             server processes of scaleout, one PostgreSQL (default 3)
  --per-worker N           most agents per load-generator process (default 4000)
  --workers N              load-generator processes (default: ceil(agents / per-worker))
  --concurrency N          agents enrolling at once per worker (default 100)
  --heartbeat-seconds S    agents' heartbeat interval (default 30)
  --idle-seconds S         idle window before heartbeats start (default 10)
  --steady-seconds S       heartbeat measurement window (default 60)
  --fanout-rounds N        new revisions pushed (default 3)
  --rest-total N           agents in the database for the REST scenario (default 100000)
  --rest-requests N        requests per endpoint and concurrency level (default 300)
  --rest-concurrency a,b   concurrent REST clients (default 1,8)
  --scenario-timeout S     deadline per scenario (default 300; scaleout 1200)
  --deadline S             deadline of the whole run (default 1800)
  --applying               agents report APPLYING before APPLIED (the supervisor does; default off)
  --cpu-prof               CPU-profile the server in each measured window (V8 inspector on loopback);
                           profiles (NN-<window>.cpuprofile) go next to the results, top functions into the summary
  --heap-prof              sample the server's heap during the enrollment storm; after a forced GC,
                           the allocation sites of what is still alive go into the summary
  --no-inspect             do not open the server's inspector (then memory figures are taken
                           without forcing a GC first, and include garbage not yet collected)
  --env KEY=VALUE          extra server environment (repeatable), e.g. --env DB_POOL_MAX=20
  --pg URL                 PostgreSQL superuser URL (default $BENCH_PG_URL or postgres://postgres:postgres@127.0.0.1:5432/postgres)
  --server-entry PATH      run this built main.js (e.g. dist/src/main.js) instead of building
  --no-build               reuse the last build (node_modules/.cache/agent-api-bench) as it is
  --keep                   keep the run's database (bench_<run id>)
  --out DIR                results directory (default bench/results)
  --smoke                  miniature run: 300 agents, short windows, all scenarios, < 1 minute; without
                           --scenarios, then scaleout in miniature too (3 replicas × 100 agents, a second run)`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: "string" },
      replicas: { type: "string" },
      scenarios: { type: "string" },
      "per-worker": { type: "string" },
      workers: { type: "string" },
      concurrency: { type: "string" },
      "heartbeat-seconds": { type: "string" },
      "idle-seconds": { type: "string" },
      "steady-seconds": { type: "string" },
      "fanout-rounds": { type: "string" },
      "rest-total": { type: "string" },
      "rest-requests": { type: "string" },
      "rest-concurrency": { type: "string" },
      "scenario-timeout": { type: "string" },
      deadline: { type: "string" },
      applying: { type: "boolean" },
      "cpu-prof": { type: "boolean" },
      "heap-prof": { type: "boolean" },
      "no-inspect": { type: "boolean" },
      env: { type: "string", multiple: true },
      pg: { type: "string" },
      "server-entry": { type: "string" },
      "no-build": { type: "boolean" },
      keep: { type: "boolean" },
      out: { type: "string" },
      smoke: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const smoke = values.smoke === true;
  const num = (v: string | undefined, def: number, name: string): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  const agents = Math.floor(num(values.agents, smoke ? 300 : 5000, "agents"));
  if (agents < 1) throw new Error("--agents must be at least 1");
  const scenarios = values.scenarios
    ? values.scenarios.split(",").map((s) => s.trim())
    : SCENARIOS.filter((s) => !SEPARATE_SCENARIOS.includes(s));
  for (const s of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario "${s}"`);
  }
  const scaleout = scenarios.includes("scaleout");
  if (scaleout && scenarios.length > 1) throw new Error("scaleout runs alone: --scenarios scaleout");
  const replicas = Math.floor(num(values.replicas, 3, "replicas"));
  if (replicas < 1) throw new Error("--replicas must be at least 1");
  if (scaleout && agents > replicas * AGENTS_PER_REPLICA) {
    throw new Error(
      `--agents above ${replicas} × ${AGENTS_PER_REPLICA} cannot fit ${replicas} replicas (fd hard limit 20,000 per process here); add --replicas`,
    );
  }
  if (!scaleout && agents > 19_900) {
    throw new Error("--agents above 19,900 cannot fit one server process (fd hard limit 20,000 here)");
  }
  const perWorker = Math.floor(num(values["per-worker"], smoke ? 150 : 4000, "per-worker"));
  const serverEnv: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`--env expects KEY=VALUE, got "${kv}"`);
    serverEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return {
    agents,
    replicas,
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    perWorker,
    workers: Math.floor(num(values.workers, Math.ceil(agents / Math.max(1, perWorker)), "workers")) || 1,
    concurrency: Math.floor(num(values.concurrency, smoke ? 50 : 100, "concurrency")) || 1,
    heartbeatSeconds: num(values["heartbeat-seconds"], smoke ? 2 : 30, "heartbeat-seconds"),
    serverHeartbeatSeconds: 30,
    idleSeconds: num(values["idle-seconds"], smoke ? 2 : 10, "idle-seconds"),
    steadySeconds: num(values["steady-seconds"], smoke ? 4 : 60, "steady-seconds"),
    fanoutRounds: Math.max(1, Math.floor(num(values["fanout-rounds"], smoke ? 1 : 3, "fanout-rounds"))),
    restTotal: Math.floor(num(values["rest-total"], smoke ? 5_000 : 100_000, "rest-total")),
    restRequests: Math.max(1, Math.floor(num(values["rest-requests"], smoke ? 40 : 300, "rest-requests"))),
    restConcurrency: (values["rest-concurrency"] ?? "1,8")
      .split(",")
      .map((s) => Math.max(1, Math.floor(Number(s))))
      .filter((n) => Number.isFinite(n)),
    // scaleout is one scenario of several windows (50,000 agents: ~3 minutes of enrollment alone).
    scenarioTimeoutSeconds: num(
      values["scenario-timeout"],
      smoke ? 60 : scaleout ? 1200 : 300,
      "scenario-timeout",
    ),
    deadlineSeconds: num(values.deadline, smoke ? 180 : 1800, "deadline"),
    sendApplying: values.applying === true,
    keep: values.keep === true,
    cpuProf: values["cpu-prof"] === true,
    heapProf: values["heap-prof"] === true,
    inspect: values["no-inspect"] !== true || values["cpu-prof"] === true || values["heap-prof"] === true,
    build: values["no-build"] !== true,
    serverEntry: values["server-entry"],
    pgUrl: values.pg ?? process.env.BENCH_PG_URL ?? "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    outDir: resolve(values.out ?? join(ROOT, "bench", "results")),
    serverEnv,
    smoke,
  };
}

function runIdOf(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")
    .replace("T", "-");
}

/** Resolves with the promise, or rejects when `ms` passed first. */
function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: deadline of ${Math.round(ms / 1000)} s passed`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const started = new Date();
  const scaleout = opts.scenarios.includes("scaleout") ? `-scaleout${opts.replicas}` : "";
  const runId = `${runIdOf(started)}${scaleout}${opts.smoke ? "-smoke" : `-n${opts.agents}`}`;
  const outDir = join(opts.outDir, runId);
  mkdirSync(outDir, { recursive: true });
  const deadlineAt = Date.now() + opts.deadlineSeconds * 1000;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(
    `agent-api bench ${runId}: ${opts.agents} agents, ${opts.workers} worker(s), scenarios ${opts.scenarios.join(",")}`,
  );

  // Everything to undo, newest first; also run on SIGINT/SIGTERM and at exit.
  const cleanups: { name: string; fn: () => Promise<void> | void; sync?: () => void }[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const c of cleanups.splice(0).reverse()) {
        try {
          await withDeadline(Promise.resolve(c.fn()), 20_000, `cleanup ${c.name}`);
        } catch (err) {
          log(`cleanup ${c.name} failed: ${(err as Error).message}`);
          c.sync?.();
        }
      }
    })();
    return cleaning;
  };
  const syncKill = () => {
    for (const c of cleanups) c.sync?.();
  };
  process.on("exit", syncKill);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping children and cleaning up`);
      void cleanup().finally(() => process.exit(130));
      setTimeout(() => {
        syncKill();
        process.exit(130);
      }, 30_000).unref();
    });
  }
  const globalTimer = setTimeout(
    () => {
      log(`global deadline of ${opts.deadlineSeconds} s passed: aborting`);
      void cleanup().finally(() => process.exit(124));
    },
    opts.deadlineSeconds * 1000 + 60_000,
  );
  globalTimer.unref();

  try {
    // 1. Build the server into node_modules/.cache/agent-api-bench (dist/ is left alone).
    let serverEntry = opts.serverEntry ? resolve(opts.serverEntry) : join(BUILD_DIR, "src", "main.js");
    if (!opts.serverEntry && opts.build) {
      const t = Date.now();
      execFileSync(
        join(ROOT, "node_modules", ".bin", "tsc"),
        ["-p", "tsconfig.build.json", "--outDir", BUILD_DIR],
        { cwd: ROOT, stdio: "inherit" },
      );
      log(`built the server into ${relative(ROOT, dirname(dirname(serverEntry)))} in ${Date.now() - t} ms`);
    }
    serverEntry = resolve(serverEntry);

    // 2. A fresh database.
    const dbName = `bench_${runId.replace(/[^a-z0-9]/gi, "_").toLowerCase()}`;
    const dbUrl = await createDatabase(opts.pgUrl, dbName);
    cleanups.push({
      name: "database",
      fn: async () => {
        if (opts.keep) log(`kept database ${dbName}`);
        else await dropDatabase(opts.pgUrl, dbName);
      },
    });
    const db = new BenchDb(dbUrl);
    cleanups.push({ name: "db pool", fn: () => db.close() });

    // 3. The server.
    const dataDir = mkdtempSync(join(tmpdir(), "agent-api-bench-"));
    cleanups.push({ name: "data dir", fn: () => rmSync(dataDir, { recursive: true, force: true }) });
    const port = await freePort();
    const adminToken = issueToken("admin").plaintext;
    const serverEnv: Record<string, string> = {
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: dbUrl,
      ADMIN_TOKEN: adminToken,
      PUBLIC_OPAMP_URL: `ws://127.0.0.1:${port}/v1/opamp`,
      LOG_LEVEL: "warn",
      HEARTBEAT_INTERVAL_SECONDS: String(opts.serverHeartbeatSeconds),
      OPAMP_MAX_CONCURRENT_HANDSHAKES: "20000",
      // Nothing of the server's lands in the results: a throwaway data dir and KMS key.
      DATA_DIR: dataDir,
      LOCAL_KMS_KEY: randomBytes(32).toString("base64"),
      SHUTDOWN_GRACE_MS: "10000",
      ...opts.serverEnv,
    };
    // The server's inspector is open on loopback (unless --no-inspect): the bench forces a GC
    // before it reads memory figures, and with --cpu-prof profiles each measured window.
    const inspecting = opts.inspect;
    const inspectPort = inspecting ? await freePort() : 0;
    const serverNodeArgs = inspecting ? [`--inspect=127.0.0.1:${inspectPort}`] : [];
    const profileDir = outDir;
    let profiler: InspectorProfiler | undefined;
    let profiling: string | undefined;
    let profileSeq = 0;
    const inspector = async () => {
      const current = profiler?.ws.readyState === 1 ? profiler : await InspectorProfiler.attach(inspectPort);
      profiler = current;
      return current;
    };
    const profileStart = async (name: string) => {
      if (!opts.cpuProf) return;
      try {
        await (await inspector()).start();
        profileSeq++;
        profiling = `${String(profileSeq).padStart(2, "0")}-${name}`;
      } catch (err) {
        log(`profiler: cannot start (${(err as Error).message})`);
      }
    };
    const profileStop = async () => {
      if (!profiler || !profiling) return;
      const name = profiling;
      profiling = undefined;
      try {
        mkdirSync(profileDir, { recursive: true });
        await profiler.stopTo(join(profileDir, `${name}.cpuprofile`));
      } catch (err) {
        log(`profiler: cannot stop (${(err as Error).message})`);
      }
    };
    let heapSampling = false;
    const heapStart = async () => {
      if (!opts.heapProf) return;
      try {
        await (await inspector()).startHeapSampling();
        heapSampling = true;
      } catch (err) {
        log(`heap profiler: cannot start (${(err as Error).message})`);
      }
    };
    const heapStop = async (name: string) => {
      if (!heapSampling || !profiler) return;
      heapSampling = false;
      try {
        mkdirSync(profileDir, { recursive: true });
        await profiler.collectGarbage();
        await profiler.stopHeapSamplingTo(join(profileDir, `${name}.heapprofile`));
      } catch (err) {
        log(`heap profiler: cannot stop (${(err as Error).message})`);
      }
    };
    const collectGarbage = async () => {
      if (!inspecting) return false;
      try {
        await (await inspector()).collectGarbage();
        return true;
      } catch {
        return false;
      }
    };
    cleanups.push({ name: "profiler", fn: () => profiler?.close() });
    const logFile = join(outDir, "server.log");
    let serverRef: ServerProcess | undefined;
    const startServer = async (o: { requireReady?: boolean } = {}) => {
      const { server, listeningAt, readyAt } = await ServerProcess.start({
        entry: serverEntry,
        env: serverEnv,
        port,
        logFile,
        nodeArgs: serverNodeArgs,
        cwd: ROOT,
        requireReady: o.requireReady,
      });
      serverRef = server;
      ctxRef.server = server;
      return { listeningAt, readyAt };
    };
    // A process with an inspector session attached waits for it to detach before exiting.
    const stopServer = async () => {
      profiler?.close();
      profiler = undefined;
      return (await serverRef?.stop(25_000)) ?? Date.now();
    };
    cleanups.push({
      name: "server",
      fn: async () => {
        await stopServer();
      },
      sync: () => serverRef?.killNow(),
    });
    // The context is filled in as the pieces start.
    const ctxRef = {} as RunContext;
    await startServer();
    const server = ctxRef.server;
    // Memory of the process before any agent, after a forced GC (like every later memory figure).
    if (await collectGarbage()) await new Promise((r) => setTimeout(r, 500));
    const serverRssAtReady = server.rss();
    log(`server pid ${server.pid} ready on ${server.url} (database ${dbName})`);

    // 4. Workers.
    const pool = await WorkerPool.start({
      workers: opts.workers,
      firstAddressOctet: 10,
      hardDeadlineMs: opts.deadlineSeconds * 1000 + 120_000,
    });
    cleanups.push({ name: "workers", fn: () => pool.stop(), sync: () => pool.killNow() });
    log(`${pool.size} worker(s) on ${pool.workers.map((w) => w.localAddress).join(", ")}`);

    // 5. A tenant, an enrollment token, the template and its assignment.
    const rest = new RestClient(server.url, adminToken);
    cleanups.push({ name: "rest client", fn: () => rest.close() });
    const tenant = await rest.expect("POST", "/api/v1/tenants", { displayName: "Bench" }, [201]);
    const tenantId: string = tenant.body.id;
    const token = await rest.expect(
      "POST",
      `/api/v1/tenants/${tenantId}/enrollment-tokens`,
      { name: "bench", labels: { env: "bench" } },
      [201],
    );
    await rest.expect(
      "PUT",
      `/api/v1/tenants/${tenantId}/config-templates/bench`,
      { content: templateContent(1) },
      [201],
    );
    await rest.expect(
      "PUT",
      `/api/v1/tenants/${tenantId}/assignments/bench`,
      { selector: "env=bench", template: "bench", revision: "latest", priority: 10 },
      [200, 201],
    );

    const heartbeatFrameBytes = encodeAgentToServerFrame(
      create(AgentToServerSchema, {
        instanceUid: new Uint8Array(16).fill(7),
        sequenceNum: 1234n,
        capabilities: 0x3907n,
      }),
    ).byteLength;

    Object.assign(ctxRef, {
      opts,
      runId,
      root: ROOT,
      outDir,
      serverEntry,
      serverEnv,
      serverNodeArgs,
      port,
      inspectPort,
      serverLogFile: logFile,
      dbUrl,
      db,
      adminToken,
      serverRssAtReady,
      pool,
      rest,
      tenantId,
      enrollmentToken: token.body.token as string,
      templateName: "bench",
      enrolled: 0,
      configFrameBytes: 0,
      heartbeatFrameBytes,
      heartbeatsOn: false,
      results: [],
      deadlineAt,
      log,
      startServer,
      stopServer,
      profileStart,
      profileStop,
      heapStart,
      heapStop,
      collectGarbage,
      addCleanup: (name, fn, sync) => {
        cleanups.push({ name, fn, ...(sync ? { sync } : {}) });
      },
    } satisfies Omit<RunContext, "server">);
    const ctx = ctxRef;

    // 6. Scenarios, in order. Later ones need connected agents: enroll them (unmeasured) when
    // the enrollment scenario is not selected.
    const needsAgents = opts.scenarios.some((s) => s !== "baseline" && s !== "enroll" && s !== "scaleout");
    const toRun: ScenarioName[] = [...opts.scenarios];
    let harnessBroke = false;
    if (!toRun.includes("enroll") && needsAgents) toRun.unshift("enroll");
    for (const name of toRun) {
      const measured = opts.scenarios.includes(name);
      const result = newResult(name, TITLES[name]);
      const scenarioDeadline = Math.min(deadlineAt, Date.now() + opts.scenarioTimeoutSeconds * 1000);
      const t0 = Date.now();
      log(`\n== ${TITLES[name]}${measured ? "" : " (setup, not reported)"}`);
      try {
        await withDeadline(
          RUNNERS[name](ctx, result, scenarioDeadline),
          scenarioDeadline - Date.now() + 15_000,
          name,
        );
      } catch (err) {
        result.ok = false;
        result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        log(`scenario ${name} failed: ${result.error}`);
        harnessBroke = true;
      }
      result.seconds = (Date.now() - t0) / 1000;
      if (measured) ctx.results.push(result);
      printResult(result, log);
      if (Date.now() > deadlineAt) {
        log("global deadline reached: skipping the remaining scenarios");
        break;
      }
      if (!ctx.server.running && name !== "baseline") {
        log("the server is not running: skipping the remaining scenarios");
        harnessBroke = true;
        break;
      }
      if (name === "enroll" && ctx.enrolled === 0 && needsAgents) {
        log("no agent enrolled: skipping the remaining scenarios");
        harnessBroke = true;
        break;
      }
    }

    // 7. Stop everything, then write the report (CPU profiles exist only after the server exits).
    await cleanup();
    ctx.serverLog = await summarizeServerLog(logFile);
    const files = writeReport(ctx, started, new Date());
    log(`\nresults: ${files.map((f) => relative(process.cwd(), f)).join(", ")}`);
    const failedChecks = ctx.results.flatMap((r) =>
      r.sanity.filter((s) => !s.ok).map((s) => `${r.name}: ${s.check}`),
    );
    if (failedChecks.length > 0) {
      log(`SANITY: ${failedChecks.length} mismatch(es):\n  ${failedChecks.join("\n  ")}`);
    } else {
      log("SANITY: the server did the work (every check matched)");
    }
    return harnessBroke ? 1 : 0;
  } catch (err) {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup();
    return 1;
  }
}

function printResult(result: ScenarioResult, log: (line: string) => void): void {
  for (const [k, v] of Object.entries(result.figures)) {
    if (!k.includes(".")) log(`  ${k.padEnd(38)} ${v}`);
  }
  for (const s of result.sanity) {
    log(`  check ${s.ok ? "ok  " : "FAIL"} ${s.check}: expected ${s.expected}, got ${s.actual}`);
  }
  for (const n of result.notes) log(`  note: ${n}`);
}

/**
 * `--smoke` without `--scenarios`: the scale-out scenario needs a topology of its own, so it runs
 * next, as a second miniature run of this script with the same options (no second build).
 */
function smokeScaleout(argv: string[]): number {
  if (!argv.includes("--smoke") || argv.some((a) => a === "--scenarios" || a.startsWith("--scenarios=")))
    return 0;
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      script,
      ...argv.filter((a) => a !== "--no-build"),
      "--scenarios",
      "scaleout",
      "--no-build",
    ],
    { stdio: "inherit" },
  );
  return child.status ?? 1;
}

main().then(
  (code) => {
    const all = code === 0 ? smokeScaleout(process.argv.slice(2)) : code;
    // Sockets of the REST client or the pg pool must not keep the process alive.
    setTimeout(() => process.exit(all), 100).unref();
    process.exitCode = all;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
