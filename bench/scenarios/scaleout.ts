/**
 * Scale-out: `--replicas` agent-api processes (default 3) on one PostgreSQL database, each on its
 * own port, and the agents spread over them round-robin per connection, the way a load balancer
 * in front of the replicas would (phase 1, phase 2 and reconnects may land on different
 * replicas). The run's server is replica 0; the others start here and stop at the end.
 *
 * Windows, in order: idle (replicas up, no agent: the fixed cost per replica), the enrollment
 * storm over all replicas, steady state (every agent connected and heartbeating), config
 * fan-out rounds committed through replica 0 and reaching the agents of every replica. From the
 * figures, a projection to 1,000,000 agents (see bench/README.md, "Scale-out").
 */

import { type RunContext, type ScenarioResult, sanity, sleep, split } from "../lib/context.js";
import type { EnrollResult, MarkResult } from "../lib/ipc.js";
import { InspectorProfiler } from "../lib/profiler.js";
import { freePort, postgresCpuSeconds, ServerProcess } from "../lib/server-process.js";
import { cdfPoints, percentile, round, summarize } from "../lib/stats.js";
import { templateContent } from "../lib/template.js";

/** Agents one replica may hold here (fd hard limit 20,000 per process, some left for the pool). */
export const AGENTS_PER_REPLICA = 19_000;
/** The projection's fleet. */
const FLEET = 1_000_000;
/** Issue 17's target: PostgreSQL ≤ 1 % of a core per 10,000 connected agents at steady state. */
const PG_TARGET_PERCENT_PER_10K = 1;

interface Replica {
  index: number;
  server: ServerProcess;
  inspectPort: number;
}

/** What a window cost, per replica and in total. */
interface WindowCost {
  seconds: number;
  statements: number[];
  serverCpuSeconds: number[];
  postgresCpuSeconds: number;
  /** Rows inserted + updated + deleted in the run's database (pg_stat_database). */
  rowsWritten: number;
  commits: number;
}

async function statementsOf(server: ServerProcess): Promise<number> {
  return (await server.metrics()).get("agentapi_db_statements_total") ?? Number.NaN;
}

async function dbActivity(ctx: RunContext): Promise<{ rows: number; commits: number }> {
  // Counters PostgreSQL publishes about once a second; a window long against that is exact enough.
  const row = await ctx.db.one<{ rows: string; commits: string }>(
    `SELECT (tup_inserted + tup_updated + tup_deleted)::text AS rows, xact_commit::text AS commits
     FROM pg_stat_database WHERE datname = current_database()`,
  );
  return { rows: Number(row.rows), commits: Number(row.commits) };
}

/** Measures what `during` costs each replica and PostgreSQL. */
async function measure(
  ctx: RunContext,
  replicas: Replica[],
  during: () => Promise<void>,
): Promise<WindowCost> {
  const s0 = await Promise.all(replicas.map((r) => statementsOf(r.server)));
  const c0 = replicas.map((r) => r.server.cpuSeconds());
  const pg0 = postgresCpuSeconds();
  const db0 = await dbActivity(ctx);
  const t0 = performance.now();
  await during();
  const seconds = (performance.now() - t0) / 1000;
  const c1 = replicas.map((r) => r.server.cpuSeconds());
  const pg1 = postgresCpuSeconds();
  // The stats collector publishes a backend's counters at its next transaction end or idle second.
  await sleep(1_100);
  const db1 = await dbActivity(ctx);
  const s1 = await Promise.all(replicas.map((r) => statementsOf(r.server)));
  return {
    seconds,
    statements: s1.map((s, i) => s - (s0[i] ?? 0)),
    serverCpuSeconds: c1.map((c, i) => c - (c0[i] ?? 0)),
    postgresCpuSeconds: pg1 - pg0,
    rowsWritten: db1.rows - db0.rows,
    commits: db1.commits - db0.commits,
  };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** RSS of a replica after a forced full GC (through its inspector; without one, as it is). */
async function rssAfterGc(r: Replica): Promise<number> {
  if (r.inspectPort) {
    const inspector = await InspectorProfiler.attach(r.inspectPort).catch(() => undefined);
    await inspector?.collectGarbage().catch(() => undefined);
    inspector?.close();
    if (inspector) await sleep(300);
  }
  return r.server.rss();
}

export async function runScaleout(
  ctx: RunContext,
  result: ScenarioResult,
  deadlineAt: number,
): Promise<void> {
  const { opts, pool } = ctx;
  const replicas: Replica[] = [{ index: 0, server: ctx.server, inspectPort: ctx.inspectPort }];

  // 1. The other replicas: same build, database and settings, their own port (and inspector).
  for (let i = 1; i < opts.replicas; i++) {
    const port = await freePort();
    const inspectPort = opts.inspect ? await freePort() : 0;
    const { server } = await ServerProcess.start({
      entry: ctx.serverEntry,
      env: {
        ...ctx.serverEnv,
        PORT: String(port),
        PUBLIC_OPAMP_URL: `ws://127.0.0.1:${port}/v1/opamp`,
        REPLICA_ID: `bench-replica-${i}`,
      },
      port,
      logFile: ctx.serverLogFile.replace(/\.log$/, `-replica${i}.log`),
      nodeArgs: inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : [],
      cwd: ctx.root,
    });
    ctx.addCleanup(
      `replica ${i}`,
      async () => {
        await server.stop(25_000);
      },
      () => server.killNow(),
    );
    replicas.push({ index: i, server, inspectPort });
    ctx.log(`  replica ${i}: pid ${server.pid} on ${server.url}`);
  }
  const R = replicas.length;
  const rssAtReady: number[] = [];
  for (const r of replicas) rssAtReady.push(await rssAfterGc(r));

  // 2. Idle: replicas up, no agent. What each costs by itself (timers, polls, replica heartbeats),
  // once the start-up work of the replicas just started is over.
  await sleep(3_000);
  const idle = await measure(ctx, replicas, () => sleep(Math.max(1, opts.idleSeconds) * 1000));

  // 3. Enrollment storm over every replica.
  const counts = split(opts.agents, pool.size);
  const backends = replicas.map((r) => r.server.url.replace(/^http/, "ws"));
  let answers: EnrollResult[] = [];
  let firstStart = Number.POSITIVE_INFINITY;
  const done: number[] = [];
  const latency: number[] = [];
  const enrollCost = await measure(ctx, replicas, async () => {
    answers = await pool.all<EnrollResult>((w) => ({
      type: "enroll",
      url: `${backends[0]}/v1/opamp`,
      backends,
      token: ctx.enrollmentToken,
      count: counts[w.index] ?? 0,
      concurrency: opts.concurrency,
      sendApplying: opts.sendApplying,
      timeoutMs: Math.max(10_000, deadlineAt - Date.now()),
      deadlineAt,
    }));
  });
  let failures = 0;
  const errors = new Set<string>();
  for (const a of answers) {
    failures += a.failures;
    for (const e of a.errors) errors.add(e);
    a.startAt.forEach((start, i) => {
      const applied = a.appliedMs[i] ?? -1;
      if (start > 0) firstStart = Math.min(firstStart, start);
      if (applied < 0) return;
      latency.push(applied);
      done.push(start + applied);
    });
  }
  ctx.enrolled = latency.length;
  if (ctx.enrolled === 0) throw new Error("no agent enrolled");
  const stormSeconds = (Math.max(...done) - firstStart) / 1000;
  const lat = summarize(latency);
  if (errors.size > 0) result.notes.push(`agent errors seen: ${[...errors].slice(0, 8).join(" | ")}`);

  // Every replica's connected-agents gauge; together they hold every agent.
  const connectedOf = async () =>
    Promise.all(
      replicas.map(async (r) => (await r.server.metrics()).get("agentapi_opamp_connected_agents") ?? 0),
    );
  let connected = await connectedOf();
  for (let i = 0; i < 40 && sum(connected) !== ctx.enrolled && Date.now() < deadlineAt; i++) {
    await sleep(250);
    connected = await connectedOf();
  }

  // 4. Steady state: heartbeats at a uniform rate; one interval to reach it, then the window.
  await pool.all({ type: "heartbeat", intervalMs: opts.heartbeatSeconds * 1000 });
  ctx.heartbeatsOn = true;
  await sleep(Math.min(opts.heartbeatSeconds * 1000, Math.max(0, deadlineAt - Date.now() - 60_000)));
  const steady = await measure(ctx, replicas, () => sleep(opts.steadySeconds * 1000));
  const rss: number[] = [];
  for (const r of replicas) rss.push(await rssAfterGc(r));

  // 5. Fan-out rounds: a new revision committed through replica 0 reaches the agents of all.
  const rounds: Record<string, number>[] = [];
  const current = await ctx.rest.expect(
    "GET",
    `/api/v1/tenants/${ctx.tenantId}/config-templates/${ctx.templateName}`,
    undefined,
    [200],
  );
  let version = Number(current.body.latestVersion);
  for (let round_ = 1; round_ <= opts.fanoutRounds && Date.now() < deadlineAt; round_++) {
    version++;
    let committedAt = 0;
    let waited = { complete: false };
    const cost = await measure(ctx, replicas, async () => {
      waited = await pool.armAndWait(
        "config",
        async () => {
          await ctx.rest.expect(
            "PUT",
            `/api/v1/tenants/${ctx.tenantId}/config-templates/${ctx.templateName}`,
            { content: templateContent(version) },
            [201],
          );
          committedAt = Date.now();
        },
        Math.max(1_000, Math.min(deadlineAt - Date.now(), 120_000)),
      );
    });
    const marks = await pool.all<MarkResult>({ type: "collect", what: "config" });
    const received = marks
      .flatMap((m) => m.at)
      .filter((t) => t > 0)
      .map((t) => t - committedAt)
      .sort((a, b) => a - b);
    const acked = marks
      .flatMap((m) => m.ackAt ?? [])
      .filter((t) => t > 0)
      .map((t) => t - committedAt)
      .sort((a, b) => a - b);
    const applied = await ctx.db.count(
      `SELECT count(*) AS n FROM agent_config_deliveries d
       JOIN agent_config_template_revisions r ON r.id = d.revision_id
       JOIN agent_config_templates t ON t.id = r.template_id
       WHERE t.tenant_id = $1 AND t.name = $2 AND r.version = $3 AND d.status = 'applied'`,
      [ctx.tenantId, ctx.templateName, version],
    );
    rounds.push({
      round: round_,
      received: received.length,
      applied,
      firstAfterCommitMs: round(percentile(received, 0)),
      medianAfterCommitMs: round(percentile(received, 50)),
      lastAfterCommitMs: round(received.at(-1) ?? Number.NaN),
      allAppliedAfterCommitMs: round(acked.at(-1) ?? Number.NaN),
      statements: sum(cost.statements),
      statementsPerAgent: round(sum(cost.statements) / ctx.enrolled),
      postgresCpuSeconds: round(cost.postgresCpuSeconds),
      serverCpuSecondsAllReplicas: round(sum(cost.serverCpuSeconds)),
    });
    result.series[`round${round_}ReceiptCdf`] = cdfPoints(received);
    sanity(result, `round ${round_}: agents that received the revision`, ctx.enrolled, received.length);
    sanity(result, `round ${round_}: deliveries applied for the revision`, ctx.enrolled, applied);
    if (!waited.complete) result.notes.push(`round ${round_}: not every agent answered before the timeout`);
    ctx.log(
      `  round ${round_}: last agent ${round(received.at(-1) ?? Number.NaN)} ms after commit (median ${round(percentile(received, 50))} ms)`,
    );
  }
  const byLast = [...rounds].sort((a, b) => (a.lastAfterCommitMs ?? 0) - (b.lastAfterCommitMs ?? 0));
  const median = byLast[Math.floor((byLast.length - 1) / 2)] ?? {};

  // 6. Figures.
  const N = ctx.enrolled;
  const pct = (cpuSeconds: number, seconds: number) => (cpuSeconds / seconds) * 100;
  const steadyStatementsPerSecond = steady.statements.map((s) => s / steady.seconds);
  const idleStatementsPerSecond = idle.statements.map((s) => s / idle.seconds);
  const pgSteadyPercent = pct(steady.postgresCpuSeconds, steady.seconds);
  const pgIdlePercent = pct(idle.postgresCpuSeconds, idle.seconds);
  const pgPer1k = pgSteadyPercent / (N / 1000);
  const pgPer1kNetOfIdle = Math.max(0, pgSteadyPercent - pgIdlePercent) / (N / 1000);
  result.tables.replicas = replicas.map((r, i) => ({
    replica: i,
    port: r.server.port,
    connectedAgents: connected[i] ?? 0,
    idleStatementsPerSecond: round(idleStatementsPerSecond[i] ?? 0),
    steadyStatementsPerSecond: round(steadyStatementsPerSecond[i] ?? 0),
    enrollStatements: enrollCost.statements[i] ?? 0,
    enrollServerCpuSeconds: round(enrollCost.serverCpuSeconds[i] ?? 0),
    steadyServerCpuPercentOfOneCore: round(pct(steady.serverCpuSeconds[i] ?? 0, steady.seconds)),
    idleServerCpuPercentOfOneCore: round(pct(idle.serverCpuSeconds[i] ?? 0, idle.seconds)),
    rssMb: round((rss[i] ?? 0) / 2 ** 20),
    rssPerAgentKb: round(((rss[i] ?? 0) - (rssAtReady[i] ?? 0)) / 1024 / Math.max(1, connected[i] ?? 0)),
  }));
  result.tables.rounds = rounds;
  result.figures = {
    replicas: R,
    agents: opts.agents,
    enrolled: N,
    failed: failures,
    connectedAllReplicas: sum(connected),
    stormSeconds: round(stormSeconds),
    enrollAgentsPerSecond: round(N / stormSeconds),
    enrollLatencyP50Ms: round(lat.p50),
    enrollLatencyP99Ms: round(lat.p99),
    enrollStatementsPerAgent: round(sum(enrollCost.statements) / N),
    enrollServerCpuMsPerAgent: round((sum(enrollCost.serverCpuSeconds) * 1000) / N),
    enrollPostgresCpuMsPerAgent: round((enrollCost.postgresCpuSeconds * 1000) / N),
    fanoutRounds: rounds.length,
    fanoutMedianRoundLastAfterCommitMs: median.lastAfterCommitMs ?? null,
    fanoutMedianRoundMedianAfterCommitMs: median.medianAfterCommitMs ?? null,
    fanoutMedianRoundAllAppliedAfterCommitMs: median.allAppliedAfterCommitMs ?? null,
    fanoutStatementsPerAgent: median.statementsPerAgent ?? null,
    steadySeconds: round(steady.seconds),
    heartbeatSeconds: opts.heartbeatSeconds,
    steadyStatementsPerSecondAllReplicas: round(sum(steadyStatementsPerSecond)),
    steadyStatementsPerSecondPerReplicaMax: round(Math.max(...steadyStatementsPerSecond)),
    idleStatementsPerSecondPerReplica: round(sum(idleStatementsPerSecond) / R),
    steadyRowsWrittenPerSecond: round(steady.rowsWritten / steady.seconds),
    steadyCommitsPerSecond: round(steady.commits / steady.seconds),
    steadyPostgresCpuPercentOfOneCore: round(pgSteadyPercent),
    idlePostgresCpuPercentOfOneCore: round(pgIdlePercent),
    postgresCpuPercentPer1kAgents: round(pgPer1k, 4),
    postgresCpuPercentPer10kAgents: round(pgPer1k * 10, 4),
    postgresCpuPercentPer1kAgentsNetOfIdle: round(pgPer1kNetOfIdle, 4),
    steadyServerCpuPercentPerReplicaMax: round(
      Math.max(...steady.serverCpuSeconds.map((c) => pct(c, steady.seconds))),
    ),
    rssMbPerReplicaMax: round(Math.max(...rss) / 2 ** 20),
  };
  result.series.steadyStatementsPerSecond = steadyStatementsPerSecond.map((s, i) => [i, s]);

  // 7. The projection to 1,000,000 agents, from this run's figures.
  result.tables.projection = projection(ctx, {
    N,
    R,
    idleStatementsPerSecondPerReplica: sum(idleStatementsPerSecond) / R,
    steadyStatementsPerSecond: sum(steadyStatementsPerSecond),
    steadyRowsPerSecond: steady.rowsWritten / steady.seconds,
    idleRowsPerSecond: idle.rowsWritten / idle.seconds,
    pgSteadyPercent,
    pgIdlePercent,
    serverSteadyPercentPerAgent:
      sum(
        steady.serverCpuSeconds.map(
          (c, i) => pct(c, steady.seconds) - pct(idle.serverCpuSeconds[i] ?? 0, idle.seconds),
        ),
      ) / N,
    serverIdlePercentPerReplica: sum(idle.serverCpuSeconds.map((c) => pct(c, idle.seconds))) / R,
    rssPerAgentBytes: sum(rss.map((x, i) => x - (rssAtReady[i] ?? 0))) / N,
    rssAtReadyBytes: sum(rssAtReady) / R,
    enrollPerSecond: N / stormSeconds,
    enrollPgCpuSecondsPerAgent: enrollCost.postgresCpuSeconds / N,
    heartbeatSeconds: opts.heartbeatSeconds,
    fanoutLastMs: median.lastAfterCommitMs ?? Number.NaN,
    fanoutPgCpuSecondsPerAgent: (median.postgresCpuSeconds ?? Number.NaN) / N,
    fanoutStatementsPerAgent: median.statementsPerAgent ?? Number.NaN,
    maxConnections: await ctx.db
      .one<{ max_connections: string }>("SHOW max_connections")
      .then((r) => Number(r.max_connections)),
    poolMax: Number(ctx.serverEnv.DB_POOL_MAX ?? 10),
  });

  sanity(result, "agents enrolled over the replicas", opts.agents, N);
  sanity(result, "connected agents, all replicas (connected-agents gauges)", N, sum(connected));
  result.ok = failures === 0 && N === opts.agents && result.sanity.every((s) => s.ok);
}

interface ProjectionInputs {
  N: number;
  R: number;
  idleStatementsPerSecondPerReplica: number;
  steadyStatementsPerSecond: number;
  steadyRowsPerSecond: number;
  idleRowsPerSecond: number;
  pgSteadyPercent: number;
  pgIdlePercent: number;
  serverSteadyPercentPerAgent: number;
  serverIdlePercentPerReplica: number;
  rssPerAgentBytes: number;
  rssAtReadyBytes: number;
  enrollPerSecond: number;
  enrollPgCpuSecondsPerAgent: number;
  heartbeatSeconds: number;
  fanoutLastMs: number;
  fanoutPgCpuSecondsPerAgent: number;
  fanoutStatementsPerAgent: number;
  maxConnections: number;
  poolMax: number;
}

/**
 * Each steady-state cost split into a part per agent (normalized to heartbeats every 30 s, the
 * server's default) and a part per replica (the idle window), then scaled to 1,000,000 agents on
 * ceil(1,000,000 / 19,000) replicas. Rows: what, projected value, its limit where there is one,
 * and how it was computed. Only a run with thousands of agents per replica says much: a smoke
 * run's windows are seconds long and its fixed costs swamp the per-agent ones.
 */
function projection(ctx: RunContext, m: ProjectionInputs): Record<string, string | number>[] {
  const replicas = Math.ceil(FLEET / AGENTS_PER_REPLICA);
  // Per-agent costs measured at one heartbeat every m.heartbeatSeconds, projected at every 30 s.
  const at30s = m.heartbeatSeconds / 30;
  const perAgent = (total: number, idleTotal: number) => (Math.max(0, total - idleTotal) / m.N) * at30s;
  const idleStatementsAll = m.idleStatementsPerSecondPerReplica * m.R;
  const statementsPerAgent = perAgent(m.steadyStatementsPerSecond, idleStatementsAll);
  const statements = statementsPerAgent * FLEET + m.idleStatementsPerSecondPerReplica * replicas;
  const rowsPerAgent = perAgent(m.steadyRowsPerSecond, m.idleRowsPerSecond);
  const rows = rowsPerAgent * FLEET + (m.idleRowsPerSecond / m.R) * replicas;
  const pgPerAgent = perAgent(m.pgSteadyPercent, m.pgIdlePercent);
  const pgCores = (pgPerAgent * FLEET + (m.pgIdlePercent / m.R) * replicas) / 100;
  const pgTargetCores = (PG_TARGET_PERCENT_PER_10K * FLEET) / 10_000 / 100;
  const connections = replicas * (m.poolMax + 1);
  const serverPercent =
    m.serverSteadyPercentPerAgent * at30s * AGENTS_PER_REPLICA + m.serverIdlePercentPerReplica;
  const rssMb = (m.rssPerAgentBytes * AGENTS_PER_REPLICA + m.rssAtReadyBytes) / 2 ** 20;
  const enrollSeconds = FLEET / ((m.enrollPerSecond / m.R) * replicas);
  const enrollPgCoreSeconds = m.enrollPgCpuSecondsPerAgent * FLEET;
  // Fan-out: the replicas work in parallel, each on its own agents, so the time to the last agent
  // grows with the agents one replica holds; the delivery rows all go to the one database.
  const perReplicaNow = m.N / m.R;
  const fanoutReplicaBound = (m.fanoutLastMs / 1000) * (AGENTS_PER_REPLICA / perReplicaNow);
  const fanoutPgCoreSeconds = m.fanoutPgCpuSecondsPerAgent * FLEET;
  const n = (v: number, digits = 1) => round(v, digits);
  const rows_: Record<string, string | number>[] = [
    {
      what: "replicas",
      projected: replicas,
      limit: `${AGENTS_PER_REPLICA.toLocaleString("en-US")} agents each`,
      basis: "fd hard limit 20,000 per process here",
    },
    {
      what: "database statements/s at steady state (heartbeats every 30 s)",
      projected: n(statements),
      limit: "–",
      basis: `${n(statementsPerAgent * 1000, 3)}/s per 1,000 agents + ${n(m.idleStatementsPerSecondPerReplica, 2)}/s per replica (idle window: timers and polls)`,
    },
    {
      what: "database rows written/s at steady state (heartbeats, reports)",
      projected: n(rows),
      limit: "–",
      basis: `${n(rowsPerAgent * 1000, 3)}/s per 1,000 agents (pg_stat_database, net of idle) + ${n(m.idleRowsPerSecond / m.R, 2)}/s per replica`,
    },
    {
      what: "PostgreSQL CPU at steady state (cores)",
      projected: n(pgCores, 3),
      limit: `target ${pgTargetCores} (≤ ${PG_TARGET_PERCENT_PER_10K} % of a core per 10,000 agents)`,
      basis: `${n(pgPerAgent * 1000, 4)} % of a core per 1,000 agents (net of idle) + ${n(m.pgIdlePercent / m.R, 2)} % per replica (idle); every postgres process of the machine`,
    },
    {
      what: "PostgreSQL connections",
      projected: connections,
      limit: `max_connections ${m.maxConnections}`,
      basis: `replicas × (DB_POOL_MAX ${m.poolMax} + 1 LISTEN); a pooler (PgBouncer, transaction mode) or a smaller DB_POOL_MAX lowers it`,
    },
    {
      what: "server CPU per replica at 19,000 agents (% of one core)",
      projected: n(serverPercent, 2),
      limit: "100",
      basis: "per agent at steady state (net of idle, heartbeats every 30 s) × 19,000 + idle",
    },
    {
      what: "RSS per replica at 19,000 agents (MB)",
      projected: n(rssMb),
      limit: "–",
      basis: "per agent (after a forced GC) × 19,000 + RSS at ready",
    },
    {
      what: "enrollment of the whole fleet (s)",
      projected: n(enrollSeconds),
      limit: "–",
      basis: `${n(m.enrollPerSecond / m.R)} agents/s per replica × ${replicas}, if PostgreSQL keeps up: it costs ${n(enrollPgCoreSeconds, 0)} core-seconds of PostgreSQL CPU (${n(m.enrollPgCpuSecondsPerAgent * 1000, 2)} ms per agent)`,
    },
    {
      what: "config change → last agent (s)",
      projected: n(fanoutReplicaBound, 2),
      limit: "–",
      basis: `last agent at ${n(perReplicaNow, 0)} agents per replica, scaled to 19,000; the database writes ${n(m.fanoutStatementsPerAgent, 2)} statements and ${n(m.fanoutPgCpuSecondsPerAgent * 1000, 3)} ms of PostgreSQL CPU per agent: ${n(fanoutPgCoreSeconds, 0)} core-seconds for the fleet`,
    },
  ];
  const pressures = [
    { what: "PostgreSQL connections", ratio: connections / m.maxConnections },
    { what: "PostgreSQL CPU at steady state (against the target)", ratio: pgCores / pgTargetCores },
    { what: "server CPU per replica", ratio: serverPercent / 100 },
  ].sort((a, b) => b.ratio - a.ratio);
  const first = pressures[0];
  if (first) {
    rows_.push({
      what: "what breaks first",
      projected: first.what,
      limit: `${n(first.ratio * 100)} % of its limit`,
      basis: pressures.map((p) => `${p.what} ${n(p.ratio * 100)} %`).join("; "),
    });
  }
  ctx.log(
    `  projection to ${FLEET.toLocaleString("en-US")} agents: ${replicas} replicas, ${n(statements)} statements/s, PostgreSQL ${n(pgCores, 3)} cores, ${connections} connections; first to break: ${first?.what}`,
  );
  return rows_;
}
