/**
 * Reconnect storm: SIGTERM the server (it closes every WebSocket with 1001 in paced batches and
 * exits), start it again on the same port and database, and let every agent come back with its
 * xag_ key, with opamp-go's backoff (first retry at once, then 0.5 s ±50 %, ×1.5, cap 60 s).
 * Figures: shutdown time, start-up time (listening, and ready), time until every agent is
 * connected and answered (from SIGTERM, and from the new process listening), attempts per
 * agent, and RSS per agent of the fresh process (no enrollment history in it).
 */
import { type RunContext, type ScenarioResult, sanity, sleep } from "../lib/context.js";
import type { MarkResult, WorkerStats } from "../lib/ipc.js";
import { Sampler, samplerSeries } from "../lib/sampler.js";
import { cdfPoints, round, summarize } from "../lib/stats.js";

const sum = (stats: WorkerStats[], f: (s: WorkerStats) => number) => stats.reduce((n, s) => n + f(s), 0);

export async function runReconnect(
  ctx: RunContext,
  result: ScenarioResult,
  deadlineAt: number,
): Promise<void> {
  const { pool } = ctx;
  const s0 = await pool.stats();
  let sigtermAt = 0;
  let exitAt = 0;
  let spawnAt = 0;
  let listeningAt = 0;
  let rssListening = 0;
  let ready: Promise<number | null> = Promise.resolve(null);
  const sampler = new Sampler(() => ctx.server, ctx.db);
  sampler.start();
  const waited = await pool.armAndWait(
    "back",
    async () => {
      sigtermAt = Date.now();
      exitAt = await ctx.stopServer();
      spawnAt = Date.now();
      // Listening is enough: agents reconnect as soon as the port accepts. Readiness (/readyz,
      // which needs a pool connection) is watched on the side: under the storm it can lag.
      ({ listeningAt } = await ctx.startServer({ requireReady: false }));
      rssListening = ctx.server.rss();
      ready = ctx.server.waitReady(Math.max(1_000, deadlineAt - Date.now())).catch(() => null);
      await ctx.profileStart("reconnect");
    },
    Math.max(1_000, deadlineAt - Date.now() - 10_000),
  );
  await ctx.profileStop();
  const samples = await sampler.stop();
  const readyAt = await Promise.race([ready, sleep(15_000).then(() => null)]);
  const marks = await pool.all<MarkResult>({ type: "collect", what: "back" });
  const back = marks.flatMap((m) => m.at).filter((t) => t > 0);
  const attempts = marks.flatMap((m) => m.attempts ?? []);
  const s1 = await pool.stats();
  await sleep(3_000);
  const gcForced = await ctx.collectGarbage();
  if (gcForced) await sleep(1_000);
  const rssBack = ctx.server.rss();
  const m = await ctx.server.metrics();
  const connectedGauge = m.get("agentapi_opamp_connected_agents") ?? Number.NaN;

  const lastBack = back.length ? Math.max(...back) : Number.NaN;
  const sinceListening = back.map((t) => t - listeningAt);
  const att = summarize(attempts);
  result.figures = {
    agents: ctx.enrolled,
    back: back.length,
    shutdownSeconds: round((exitAt - sigtermAt) / 1000),
    startupToListeningSeconds: round((listeningAt - spawnAt) / 1000),
    startupToReadySeconds: readyAt === null ? "not ready" : round((readyAt - spawnAt) / 1000),
    allBackAfterSigtermSeconds: round((lastBack - sigtermAt) / 1000),
    allBackAfterListeningSeconds: round((lastBack - listeningAt) / 1000),
    medianBackAfterListeningSeconds: round(summarize(sinceListening).p50 / 1000),
    p99BackAfterListeningSeconds: round(summarize(sinceListening).p99 / 1000),
    attemptsP50: att.p50,
    attemptsMax: att.max,
    throttledUpgrades: sum(s1, (s) => s.throttled) - sum(s0, (s) => s.throttled),
    failedConnects: sum(s1, (s) => s.connectFailures) - sum(s0, (s) => s.connectFailures),
    serverRssWhenListeningMb: round(rssListening / 2 ** 20),
    serverRssAllBackMb: round(rssBack / 2 ** 20),
    rssPerAgentFreshKb: round((rssBack - ctx.serverRssAtReady) / Math.max(1, back.length) / 1024),
    heapUsedMb: round((m.get("agentapi_nodejs_heap_size_used_bytes") ?? Number.NaN) / 2 ** 20),
    memoryMeasuredAfterForcedGc: gcForced,
    maxDbPoolWaiting: samples.maxPoolWaiting,
    maxPgBackendsWaitingOnLock: samples.maxPgLockWaits,
  };
  result.series = {
    backCdfSinceSigterm: cdfPoints(back.map((t) => (t - sigtermAt) / 1000)),
    ...samplerSeries(samples),
  };
  result.figures.markerExitSeconds = round((exitAt - sigtermAt) / 1000);
  result.figures.markerListeningSeconds = round((listeningAt - sigtermAt) / 1000);
  if (readyAt !== null) result.figures.markerReadySeconds = round((readyAt - sigtermAt) / 1000);
  if (!waited.complete) result.notes.push("not every agent was back before the deadline");
  result.notes.push(
    "RSS per agent (fresh) = (RSS 3 s after every agent is back, after a forced GC - RSS of the first process at ready, before any agent) / agents: a process that never enrolled anyone. Agents reconnect as soon as it listens, so its RSS 'when listening' already includes some of them.",
    "An agent is back when its new WebSocket is open and the server answered its first message (full report, xag_ key).",
  );
  sanity(result, "agents back (load generator)", ctx.enrolled, back.length);
  sanity(result, "connected agents (server gauge)", ctx.enrolled, connectedGauge);
  result.ok = result.sanity.every((s) => s.ok);
}
