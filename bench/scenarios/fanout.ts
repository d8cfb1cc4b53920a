/**
 * Fan-out: a new revision of the template every connected agent uses (PUT config-template via
 * REST). The commit time is when the PUT answers; every agent timestamps the push with the
 * shared wall clock. Figures per round: first / median / p99 / last receipt after the commit
 * (and after the send), all APPLIED answered, and the delivery rows of the new revision.
 */

import { type RunContext, type ScenarioResult, sanity } from "../lib/context.js";
import type { MarkResult } from "../lib/ipc.js";
import { Sampler, samplerSeries } from "../lib/sampler.js";
import { postgresCpuSeconds } from "../lib/server-process.js";
import { cdfPoints, percentile, round } from "../lib/stats.js";
import { templateContent } from "../lib/template.js";

export async function runFanout(ctx: RunContext, result: ScenarioResult, deadlineAt: number): Promise<void> {
  const { opts, pool, rest, db, tenantId } = ctx;
  const rounds: Record<string, number>[] = [];
  let latest = 0;
  const sampler = new Sampler(() => ctx.server, db);
  await ctx.profileStart("fanout");
  sampler.start();
  for (let r = 0; r < opts.fanoutRounds; r++) {
    try {
      await fanoutRound(r);
    } catch (err) {
      // Keep the rounds measured so far; say what broke.
      result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      result.notes.push(`round ${r + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
      break;
    }
    if (Date.now() > deadlineAt) break;
  }
  async function fanoutRound(r: number): Promise<void> {
    if (latest === 0) {
      const current = await rest.expect(
        "GET",
        `/api/v1/tenants/${tenantId}/config-templates/${ctx.templateName}`,
        undefined,
        [200],
      );
      latest = Number(current.body.latestVersion);
    }
    const version = ++latest;
    let sentAt = 0;
    let committedAt = 0;
    let putMs = 0;
    const cpu0 = ctx.server.cpuSeconds();
    const pg0 = postgresCpuSeconds();
    const load0 = await pool.stats();
    const waited = await pool.armAndWait(
      "config",
      async () => {
        sentAt = Date.now();
        const res = await rest.expect(
          "PUT",
          `/api/v1/tenants/${tenantId}/config-templates/${ctx.templateName}`,
          { content: templateContent(version) },
          [201],
        );
        committedAt = Date.now();
        putMs = res.ms;
      },
      Math.max(1_000, Math.min(deadlineAt - Date.now(), 120_000)),
    );
    const cpu1 = ctx.server.cpuSeconds();
    const pg1 = postgresCpuSeconds();
    const load1 = await pool.stats();
    const loadCpu = (stats: typeof load0) => stats.reduce((n, w) => n + w.cpuUserUs + w.cpuSystemUs, 0) / 1e6;
    const marks = await pool.all<MarkResult>({ type: "collect", what: "config" });
    const received = marks.flatMap((m) => m.at).filter((t) => t > 0);
    const acked = marks.flatMap((m) => m.ackAt ?? []).filter((t) => t > 0);
    const sinceCommit = received.map((t) => t - committedAt).sort((a, b) => a - b);
    const sinceSend = received.map((t) => t - sentAt).sort((a, b) => a - b);
    const ackSinceCommit = acked.map((t) => t - committedAt).sort((a, b) => a - b);
    const revisionId = await db.one<{ id: string }>(
      `SELECT r.id FROM agent_config_template_revisions r JOIN agent_config_templates t ON t.id = r.template_id
       WHERE t.tenant_id = $1 AND t.name = $2 AND r.version = $3`,
      [tenantId, ctx.templateName, version],
    );
    const byStatus = await db.rows<{ status: string; n: string }>(
      "SELECT status, count(*) AS n FROM agent_config_deliveries WHERE revision_id = $1 GROUP BY status",
      [revisionId.id],
    );
    const status = Object.fromEntries(byStatus.map((r) => [r.status, Number(r.n)]));
    const figures = {
      round: r + 1,
      revision: version,
      agents: ctx.enrolled,
      received: received.length,
      applied: acked.length,
      putMs: round(putMs),
      firstAfterCommitMs: round(percentile(sinceCommit, 0)),
      medianAfterCommitMs: round(percentile(sinceCommit, 50)),
      p99AfterCommitMs: round(percentile(sinceCommit, 99)),
      lastAfterCommitMs: round(sinceCommit.at(-1) ?? Number.NaN),
      lastAfterSendMs: round(sinceSend.at(-1) ?? Number.NaN),
      allAppliedAfterCommitMs: round(ackSinceCommit.at(-1) ?? Number.NaN),
      serverCpuSeconds: round(cpu1 - cpu0),
      postgresCpuSeconds: round(pg1 - pg0),
      loadGeneratorCpuSeconds: round(loadCpu(load1) - loadCpu(load0)),
      deliveriesOffered: status.offered ?? 0,
      deliveriesApplying: status.applying ?? 0,
      deliveriesApplied: status.applied ?? 0,
      deliveriesOther: Object.entries(status)
        .filter(([s]) => !["offered", "applying", "applied"].includes(s))
        .reduce((n, [, v]) => n + v, 0),
    };
    rounds.push(figures);
    result.series[`round${r + 1}ReceiptCdf`] = cdfPoints(sinceCommit);
    sanity(result, `round ${r + 1}: agents that received the revision`, ctx.enrolled, received.length);
    sanity(result, `round ${r + 1}: deliveries applied for the revision`, ctx.enrolled, status.applied ?? 0);
    if (!waited.complete) result.notes.push(`round ${r + 1}: not every agent answered before the timeout`);
    ctx.log(
      `  round ${r + 1}: last agent ${figures.lastAfterCommitMs} ms after commit (median ${figures.medianAfterCommitMs} ms), all applied ${figures.allAppliedAfterCommitMs} ms`,
    );
  }
  const samples = await sampler.stop();
  await ctx.profileStop();
  Object.assign(result.series, samplerSeries(samples));
  // Headline: the median round (the first one also pays cold caches).
  const sorted = [...rounds].sort((a, b) => (a.lastAfterCommitMs ?? 0) - (b.lastAfterCommitMs ?? 0));
  const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? {};
  result.figures = {
    agents: ctx.enrolled,
    rounds: rounds.length,
    medianRoundLastAfterCommitMs: median.lastAfterCommitMs ?? null,
    medianRoundMedianAfterCommitMs: median.medianAfterCommitMs ?? null,
    medianRoundFirstAfterCommitMs: median.firstAfterCommitMs ?? null,
    medianRoundAllAppliedAfterCommitMs: median.allAppliedAfterCommitMs ?? null,
    medianRoundPutMs: median.putMs ?? null,
    maxDbPoolWaiting: samples.maxPoolWaiting,
  };
  result.tables.rounds = rounds;
  result.ok = result.error === undefined && result.sanity.every((s) => s.ok);
}
