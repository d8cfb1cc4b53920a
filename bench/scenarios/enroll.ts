/**
 * Enrollment storm: N new agents do phase 1 (xse_), follow the connection-settings offer to
 * phase 2 (xag_), receive their first config and report it APPLIED. Figures: agents/s over the
 * whole storm, latency from an agent's first connect to the server's answer to its APPLIED
 * report (p50/p99), server CPU per enrollment.
 */

import { cpus } from "node:os";
import { type RunContext, type ScenarioResult, sanity, split } from "../lib/context.js";
import type { EnrollResult } from "../lib/ipc.js";
import { Sampler, samplerSeries } from "../lib/sampler.js";
import { machineBusySeconds, postgresCpuSeconds } from "../lib/server-process.js";
import { cdfPoints, histogram, round, summarize } from "../lib/stats.js";

export async function runEnroll(ctx: RunContext, result: ScenarioResult, deadlineAt: number): Promise<void> {
  const { opts, pool, server } = ctx;
  const counts = split(opts.agents, pool.size);
  const cpu0 = server.cpuSeconds();
  const pg0 = postgresCpuSeconds();
  const machine0 = machineBusySeconds();
  const rss0 = server.rss();
  const sampler = new Sampler(() => ctx.server, ctx.db);
  await ctx.heapStart();
  await ctx.profileStart("enroll");
  sampler.start();
  const t0 = Date.now();
  const answers = await pool.all<EnrollResult>((w) => ({
    type: "enroll",
    url: `ws://127.0.0.1:${ctx.port}/v1/opamp`,
    token: ctx.enrollmentToken,
    count: counts[w.index] ?? 0,
    concurrency: opts.concurrency,
    sendApplying: opts.sendApplying,
    timeoutMs: Math.max(10_000, deadlineAt - Date.now()),
    deadlineAt,
  }));
  const cpu1 = server.cpuSeconds();
  const pg1 = postgresCpuSeconds();
  const machine1 = machineBusySeconds();
  const t1 = Date.now();
  const samples = await sampler.stop();
  await ctx.profileStop();
  await ctx.heapStop("enroll-live-after-gc");

  const done: number[] = [];
  const latency: number[] = [];
  const offer: number[] = [];
  const config: number[] = [];
  let firstStart = Number.POSITIVE_INFINITY;
  let failures = 0;
  const errors = new Set<string>();
  for (const a of answers) {
    failures += a.failures;
    for (const e of a.errors) errors.add(e);
    ctx.configFrameBytes ||= a.configFrameBytes;
    a.startAt.forEach((start, i) => {
      const applied = a.appliedMs[i] ?? -1;
      if (start > 0) firstStart = Math.min(firstStart, start);
      if (applied < 0) return;
      latency.push(applied);
      done.push(start + applied);
      const o = a.offerMs[i] ?? -1;
      const c = a.configMs[i] ?? -1;
      if (o >= 0) offer.push(o);
      if (c >= 0) config.push(c);
    });
  }
  ctx.enrolled = latency.length;
  const lastDone = Math.max(...done);
  const span = (lastDone - firstStart) / 1000;
  const lat = summarize(latency);
  const off = summarize(offer);
  const cfg = summarize(config);
  result.figures = {
    agents: opts.agents,
    enrolled: latency.length,
    failed: failures,
    workers: pool.size,
    inFlightPerWorker: opts.concurrency,
    stormSeconds: round(span),
    agentsPerSecond: round(latency.length / span),
    latencyP50Ms: round(lat.p50),
    latencyP90Ms: round(lat.p90),
    latencyP99Ms: round(lat.p99),
    latencyMaxMs: round(lat.max),
    offerP50Ms: round(off.p50),
    offerP99Ms: round(off.p99),
    firstConfigP50Ms: round(cfg.p50),
    firstConfigP99Ms: round(cfg.p99),
    serverCpuSeconds: round(cpu1 - cpu0),
    serverCpuMsPerAgent: round(((cpu1 - cpu0) * 1000) / Math.max(1, latency.length)),
    serverCpuPercentOfOneCore: round(((cpu1 - cpu0) / ((t1 - t0) / 1000)) * 100),
    postgresCpuMsPerAgent: round(((pg1 - pg0) * 1000) / Math.max(1, latency.length)),
    postgresCpuPercentOfOneCore: round(((pg1 - pg0) / ((t1 - t0) / 1000)) * 100),
    machineCpuPercentOfAllCores: round(((machine1 - machine0) / ((t1 - t0) / 1000) / cpus().length) * 100),
    serverRssGrowthMb: round((server.rss() - rss0) / 2 ** 20),
    configFrameBytes: ctx.configFrameBytes,
    maxDbPoolWaiting: samples.maxPoolWaiting,
    maxPgBackendsWaitingOnLock: samples.maxPgLockWaits,
  };
  for (const w of samples.lockWaitStatements) {
    result.notes.push(`PostgreSQL lock wait seen in ${w.samples} backend-samples: ${w.statement}`);
  }
  if (errors.size > 0) result.notes.push(`agent errors seen: ${[...errors].slice(0, 8).join(" | ")}`);
  result.series = {
    latencyCdf: cdfPoints(latency),
    offerCdf: cdfPoints(offer),
    configCdf: cdfPoints(config),
    completionsPerSecond: histogram(
      done.map((d) => d - firstStart),
      250,
    ).map(([x, n]) => [x / 1000, n * 4]),
    ...samplerSeries(samples),
  };

  // The server did the work: rows, keys in use, deliveries applied.
  const { db, tenantId } = ctx;
  sanity(
    result,
    "agents rows (env=bench)",
    opts.agents,
    await db.count("SELECT count(*) AS n FROM agents WHERE tenant_id = $1 AND labels->>'env' = 'bench'", [
      tenantId,
    ]),
  );
  sanity(
    result,
    "agents with a confirmed key",
    opts.agents,
    await db.count(
      "SELECT count(*) AS n FROM agents WHERE tenant_id = $1 AND labels->>'env' = 'bench' AND key_confirmed_at IS NOT NULL",
      [tenantId],
    ),
  );
  sanity(
    result,
    "deliveries applied",
    opts.agents,
    await db.count(
      "SELECT count(*) AS n FROM agent_config_deliveries d JOIN agents a USING (tenant_id, instance_uid) WHERE d.tenant_id = $1 AND a.labels->>'env' = 'bench' AND d.status = 'applied'",
      [tenantId],
    ),
  );
  result.ok = failures === 0 && latency.length === opts.agents;
}
