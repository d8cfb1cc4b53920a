/**
 * Steady state: every enrolled agent connected. First an idle window (connected, no heartbeats:
 * the server's background cost), then heartbeats at the configured interval, each agent at a
 * random phase (a uniform rate), over a measurement window. Figures: server RSS per connected
 * agent, CPU per heartbeat (gross, and net of the idle background), CPU as % of one core, a
 * projection to 19,000 agents every 30 s, event-loop lag from /metrics over the window.
 * Heartbeats keep running afterwards, as background load for the later scenarios.
 */
import { type RunContext, type ScenarioResult, sanity, sleep } from "../lib/context.js";
import type { WorkerStats } from "../lib/ipc.js";
import { round } from "../lib/stats.js";

const sum = (stats: WorkerStats[], f: (s: WorkerStats) => number) => stats.reduce((n, s) => n + f(s), 0);

export async function runSteady(ctx: RunContext, result: ScenarioResult, deadlineAt: number): Promise<void> {
  const { pool, opts } = ctx;
  const server = ctx.server;
  const intervalMs = opts.heartbeatSeconds * 1000;
  const windowMs = Math.min(opts.steadySeconds * 1000, Math.max(1_000, deadlineAt - Date.now() - 30_000));

  // Settle: the enrollment's garbage and the first liveness flushes.
  await pool.all({ type: "heartbeat", intervalMs: 0 });
  await sleep(Math.min(3_000, opts.idleSeconds * 1000));
  // With the inspector open (the default), a forced GC first: live memory, not garbage.
  const gcForced = await ctx.collectGarbage();
  if (gcForced) await sleep(1_000);
  const scrape0 = performance.now();
  const m0 = await server.metrics();
  const metricsScrapeMs = performance.now() - scrape0;
  const rssConnected = server.rss();
  const connectedGauge = m0.get("agentapi_opamp_connected_agents") ?? Number.NaN;

  // Idle window: connected, silent (WebSocket pings every 30 s, liveness flush, replica heartbeat).
  const idleMs = opts.idleSeconds * 1000;
  await ctx.profileStart("steady-idle");
  const ic0 = server.cpuSeconds();
  const it0 = Date.now();
  await sleep(idleMs);
  const idleCpuPerSecond = (server.cpuSeconds() - ic0) / ((Date.now() - it0) / 1000);
  await ctx.profileStop();

  // Heartbeats.
  await pool.all({ type: "heartbeat", intervalMs });
  ctx.heartbeatsOn = true;
  await sleep(Math.min(2_000, intervalMs));
  await server.metrics(); // resets the event-loop delay histogram: the next scrape covers the window
  await ctx.profileStart("steady-heartbeats");
  const s0 = await pool.stats();
  const c0 = server.cpuSeconds();
  const t0 = Date.now();
  const cpuSeries: [number, number][] = [];
  const rssSeries: [number, number][] = [];
  let lastCpu = c0;
  let lastT = t0;
  while (Date.now() - t0 < windowMs) {
    await sleep(Math.min(1_000, windowMs - (Date.now() - t0)));
    const c = server.cpuSeconds();
    const t = Date.now();
    cpuSeries.push([(t - t0) / 1000, ((c - lastCpu) / ((t - lastT) / 1000)) * 100]);
    rssSeries.push([(t - t0) / 1000, server.rss() / 2 ** 20]);
    lastCpu = c;
    lastT = t;
  }
  const c1 = server.cpuSeconds();
  const t1 = Date.now();
  const s1 = await pool.stats();
  const m1 = await server.metrics();
  await ctx.profileStop();

  const seconds = (t1 - t0) / 1000;
  const heartbeats = sum(s1, (s) => s.heartbeatsSent) - sum(s0, (s) => s.heartbeatsSent);
  const replies = sum(s1, (s) => s.repliesReceived) - sum(s0, (s) => s.repliesReceived);
  const cpu = c1 - c0;
  const netCpu = Math.max(0, cpu - idleCpuPerSecond * seconds);
  const cpuPerHbUs = (cpu / Math.max(1, heartbeats)) * 1e6;
  const netCpuPerHbUs = (netCpu / Math.max(1, heartbeats)) * 1e6;
  // DESIGN.md §12: 19,000 agents every 30 s = 633 heartbeats/s.
  const budgetRate = 19_000 / 30;
  const projectedPercent = (netCpuPerHbUs / 1e6) * budgetRate * 100 + idleCpuPerSecond * 100;
  const lag = (name: string) =>
    round((m1.get(`agentapi_nodejs_eventloop_lag_${name}_seconds`) ?? Number.NaN) * 1000);
  const connected = sum(s1, (s) => s.connected);
  const rssPerAgent = (rssConnected - ctx.serverRssAtReady) / Math.max(1, ctx.enrolled);

  result.figures = {
    agentsConnected: connected,
    serverRssAtReadyMb: round(ctx.serverRssAtReady / 2 ** 20),
    serverRssConnectedMb: round(rssConnected / 2 ** 20),
    rssPerAgentKb: round(rssPerAgent / 1024),
    heapUsedMb: round((m0.get("agentapi_nodejs_heap_size_used_bytes") ?? Number.NaN) / 2 ** 20),
    heapMeasuredAfterForcedGc: gcForced,
    metricsScrapeMs: round(metricsScrapeMs),
    idleCpuPercentOfOneCore: round(idleCpuPerSecond * 100),
    heartbeatIntervalSeconds: opts.heartbeatSeconds,
    windowSeconds: round(seconds),
    heartbeats,
    heartbeatsPerSecond: round(heartbeats / seconds),
    repliesPerSecond: round(replies / seconds),
    cpuPercentOfOneCore: round((cpu / seconds) * 100),
    cpuPerHeartbeatUs: round(cpuPerHbUs),
    netCpuPerHeartbeatUs: round(netCpuPerHbUs),
    projected19kEvery30sPercentOfOneCore: round(projectedPercent),
    eventLoopLagP50Ms: lag("p50"),
    eventLoopLagP99Ms: lag("p99"),
    eventLoopLagMaxMs: lag("max"),
    eventLoopLagMeanMs: lag("mean"),
    serverRssEndMb: round(server.rss() / 2 ** 20),
    loadGeneratorCpuPercent: round(
      ((sum(s1, (s) => s.cpuUserUs + s.cpuSystemUs) - sum(s0, (s) => s.cpuUserUs + s.cpuSystemUs)) /
        1e6 /
        seconds) *
        100,
    ),
  };
  result.series = { cpuPercent: cpuSeries, rssMb: rssSeries };
  result.notes.push(
    "RSS per agent = (RSS with every agent connected, after enrollment and a forced GC - RSS at ready) / agents; it includes what enrollment left behind (caches, heap V8 keeps). The reconnect scenario measures it again on a fresh process.",
    "Event-loop lag is prom-client's monitorEventLoopDelay histogram (10 ms resolution) over the window, as /metrics exports it.",
  );
  sanity(result, "connected agents (server gauge)", ctx.enrolled, connectedGauge);
  sanity(result, "connected agents (load generator)", ctx.enrolled, connected);
  result.figures.heartbeatRepliesMissing = Math.max(0, heartbeats - replies);
  result.ok = result.sanity.every((s) => s.ok) && heartbeats > 0;
}
