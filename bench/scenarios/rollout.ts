/**
 * Rollout: a staged rollout (issue 12) of a new revision over every connected agent, waves 1 %,
 * 10 %, 100 % (no canary of its own: the 1 % wave is the first stage) with a 5 s bake. The
 * assignment is pinned to the current revision first, so the new revision reaches nobody until
 * the rollout admits it. Measured from the moment before `POST …/rollouts` to the rollout's
 * `finishedAt` (completed); per wave, from the stored agent rows: first and last admission, the
 * last APPLIED the driver saw, the last success. Agents timestamp the push themselves, so the
 * checks can say that nobody got the target before its wave started. DESIGN target:
 * completed within waves × bake + 3 s.
 */
import { type RunContext, type ScenarioResult, sanity, sleep } from "../lib/context.js";
import type { MarkResult } from "../lib/ipc.js";
import { postgresCpuSeconds } from "../lib/server-process.js";
import { round } from "../lib/stats.js";
import { templateContent } from "../lib/template.js";

export const ROLLOUT_WAVES = ["1%", "10%", "100%"] as const;
export const ROLLOUT_BAKE_SECONDS = 5;
const ROLLOUT_POLL_MS = 1_000;
/** DESIGN.md: a rollout completes within waves × bake + 3 s. */
export const ROLLOUT_TARGET_MS = (ROLLOUT_WAVES.length * ROLLOUT_BAKE_SECONDS + 3) * 1000;

interface WaveRow extends Record<string, unknown> {
  agents: string;
  succeeded: string;
  admitted_first: string | null;
  admitted_last: string | null;
  applied_last: string | null;
  finished_last: string | null;
}

export async function runRollout(ctx: RunContext, result: ScenarioResult, deadlineAt: number): Promise<void> {
  const { pool, rest, db, tenantId } = ctx;
  const api = `/api/v1/tenants/${tenantId}`;
  const template = await rest.expect("GET", `${api}/config-templates/${ctx.templateName}`, undefined, [200]);
  const from = Number(template.body.latestVersion);
  const assignment = { selector: "env=bench", template: ctx.templateName, priority: 10 };
  // Pinned to what the agents run, the new revision goes nowhere until the rollout admits it.
  await rest.expect("PUT", `${api}/assignments/bench`, { ...assignment, revision: from }, [200]);
  await pool.all({ type: "arm", what: "config" });
  await rest.expect(
    "PUT",
    `${api}/config-templates/${ctx.templateName}`,
    { content: templateContent(from + 1) },
    [201],
  );
  const strategy = {
    canary: 0,
    waves: [...ROLLOUT_WAVES],
    bakeSeconds: ROLLOUT_BAKE_SECONDS,
    maxFailures: 0,
  };
  await ctx.profileStart("rollout");
  const cpu0 = ctx.server.cpuSeconds();
  const pg0 = postgresCpuSeconds();
  const sentAt = Date.now();
  const started = await rest.expect(
    "POST",
    `${api}/rollouts`,
    { assignment: "bench", revision: from + 1, strategy },
    [201],
  );
  const id: string = started.body.id;
  const waveTargets: number[] = started.body.waveTargets;
  let view = started.body;
  const until = Math.min(deadlineAt, sentAt + ROLLOUT_TARGET_MS * 5);
  // Read once a second, as `watch agent-api rollouts get` would (the console reads every 3 s): the
  // figure is the server's finishedAt, not when a read saw it. Ten reads a second, each a pass
  // over the 10,000-agent population, had PostgreSQL spend more on the view than on the push.
  while (view.state === "running" && Date.now() < until) {
    await sleep(ROLLOUT_POLL_MS);
    view = (await rest.expect("GET", `${api}/rollouts/${id}`, undefined, [200])).body;
  }
  const seenAt = Date.now();
  const cpu1 = ctx.server.cpuSeconds();
  await ctx.profileStop();
  const pg1 = postgresCpuSeconds();
  if (view.state !== "completed")
    result.notes.push(`the rollout is ${view.state} after ${seenAt - sentAt} ms: ${view.reason ?? ""}`);
  // Agents that reconnect later are given the assignment's revision: back to `latest` (the target).
  await rest.expect("PUT", `${api}/assignments/bench`, { ...assignment, revision: "latest" }, [200]);

  const sinceSend = (iso: string | null | undefined) =>
    iso ? round(new Date(iso).getTime() - sentAt) : null;
  const waves: Record<string, number | string | null>[] = [];
  for (let w = 1; w < waveTargets.length; w++) {
    const lo = waveTargets[w - 1] ?? 0;
    const hi = waveTargets[w] ?? 0;
    const row = await db.one<WaveRow>(
      `SELECT count(*) AS agents, count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
              min(admitted_at) AS admitted_first, max(admitted_at) AS admitted_last,
              max(applied_at) AS applied_last, max(finished_at) AS finished_last
       FROM rollout_agents WHERE rollout_id = $1 AND position >= $2 AND position < $3`,
      [id, lo, hi],
    );
    waves.push({
      wave: w,
      share: ROLLOUT_WAVES[w - 1] ?? "?",
      agents: Number(row.agents),
      succeeded: Number(row.succeeded),
      admittedFirstMs: sinceSend(row.admitted_first),
      admittedLastMs: sinceSend(row.admitted_last),
      appliedSeenLastMs: sinceSend(row.applied_last),
      succeededLastMs: sinceSend(row.finished_last),
    });
  }

  // What the agents saw: when each got the target (epoch ms; 0 = never).
  const marks = await pool.all<MarkResult>({ type: "collect", what: "config" });
  const received = marks
    .flatMap((m) => m.at)
    .filter((t) => t > 0)
    .sort((a, b) => a - b);
  const deliveries = await db.rows<{ status: string; n: string }>(
    `SELECT d.status, count(*) AS n FROM agent_config_deliveries d
       JOIN agent_config_template_revisions r ON r.id = d.revision_id
       JOIN agent_config_templates t ON t.id = r.template_id
     WHERE t.tenant_id = $1 AND t.name = $2 AND r.version = $3 GROUP BY d.status`,
    [tenantId, ctx.templateName, from + 1],
  );
  const status = Object.fromEntries(deliveries.map((r) => [r.status, Number(r.n)]));

  const completedMs = view.state === "completed" ? sinceSend(view.finishedAt) : null;
  result.figures = {
    agents: ctx.enrolled,
    population: view.population,
    waves: ROLLOUT_WAVES.join(", "),
    bakeSeconds: ROLLOUT_BAKE_SECONDS,
    state: view.state,
    postMs: round(started.ms),
    completedAfterPostMs: completedMs,
    completedSeenAfterPostMs: view.state === "completed" ? seenAt - sentAt : null,
    targetMs: ROLLOUT_TARGET_MS,
    withinTarget: completedMs === null ? false : completedMs <= ROLLOUT_TARGET_MS,
    firstReceiptAfterPostMs: received.length ? (received[0] ?? 0) - sentAt : null,
    lastReceiptAfterPostMs: received.length ? (received.at(-1) ?? 0) - sentAt : null,
    serverCpuSeconds: round(cpu1 - cpu0),
    postgresCpuSeconds: round(pg1 - pg0),
  };
  result.tables.waves = waves;
  sanity(result, "rollout completed (1 = yes)", 1, view.state === "completed" ? 1 : 0);
  sanity(result, "population = connected agents", ctx.enrolled, view.population);
  sanity(result, "agents succeeded", ctx.enrolled, view.counts?.succeeded ?? 0);
  sanity(result, "agents that received the target", ctx.enrolled, received.length);
  sanity(result, "agents that received it before the POST", 0, received.filter((t) => t < sentAt).length);
  sanity(result, "deliveries applied for the target", ctx.enrolled, status.applied ?? 0);
  // Never past a wave: before wave w was first admitted, at most the previous target had it.
  for (const [i, w] of waves.entries()) {
    if (i === 0 || w.admittedFirstMs === null) continue;
    const startedAt = sentAt + Number(w.admittedFirstMs);
    sanity(
      result,
      `agents holding the target before wave ${w.wave} started (≤ wave ${i}'s target)`,
      waveTargets[i] ?? 0,
      Math.max(waveTargets[i] ?? 0, received.filter((t) => t < startedAt).length),
    );
  }
  ctx.log(
    `  rollout ${view.state} ${completedMs ?? "–"} ms after the POST (target ${ROLLOUT_TARGET_MS} ms); waves ${waves
      .map(
        (w) =>
          `${w.share}: ${w.agents} agents, admitted +${w.admittedFirstMs} ms, succeeded +${w.succeededLastMs} ms`,
      )
      .join("; ")}`,
  );
  result.ok = result.sanity.every((s) => s.ok);
}
