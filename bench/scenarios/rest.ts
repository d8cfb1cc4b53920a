/**
 * REST under load: the tenant's agents table is topped up with SQL to `restTotal` rows (never
 * connected, label env=bench-seed, one delivery row each), while the enrolled agents stay
 * connected and heartbeating. Each endpoint is called `restRequests` times at every concurrency
 * level over keep-alive connections; p50/p99 latency as the client sees it.
 */
import { type Figure, type RunContext, type ScenarioResult, sanity } from "../lib/context.js";
import type { RestResponse } from "../lib/rest.js";
import { round, summarize } from "../lib/stats.js";

interface Endpoint {
  name: string;
  path: () => string;
}

function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error("nothing to pick from");
  return item;
}

export async function runRest(ctx: RunContext, result: ScenarioResult, deadlineAt: number): Promise<void> {
  const { db, tenantId, rest, opts } = ctx;
  const base = `/api/v1/tenants/${tenantId}`;
  const existing = await db.count("SELECT count(*) AS n FROM agents WHERE tenant_id = $1", [tenantId]);
  const seed = Math.max(0, opts.restTotal - existing);
  const seedT = Date.now();
  if (seed > 0) await db.seedAgents(tenantId, seed);
  const seedSeconds = (Date.now() - seedT) / 1000;
  const total = await db.count("SELECT count(*) AS n FROM agents WHERE tenant_id = $1", [tenantId]);
  const deliveries = await db.count(
    "SELECT count(*) AS n FROM agent_config_deliveries WHERE tenant_id = $1",
    [tenantId],
  );
  ctx.log(`  seeded ${seed} agents in ${round(seedSeconds)} s: ${total} agents, ${deliveries} deliveries`);

  const connectedUids = (
    await db.rows<{ u: string }>(
      "SELECT instance_uid::text AS u FROM agents WHERE tenant_id = $1 AND labels->>'env' = 'bench' ORDER BY random() LIMIT 500",
      [tenantId],
    )
  ).map((r) => r.u);
  const seededUids = (
    await db.rows<{ u: string }>(
      "SELECT instance_uid::text AS u FROM agents WHERE tenant_id = $1 AND labels->>'env' = 'bench-seed' ORDER BY random() LIMIT 500",
      [tenantId],
    )
  ).map((r) => r.u);
  const anyUids = connectedUids.concat(seededUids);

  // Cursors of later pages, by walking the list (a client paging through the fleet).
  const cursors: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 20; i++) {
    const page: RestResponse = await rest.expect(
      "GET",
      `${base}/agents?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      undefined,
      [200],
    );
    cursor = page.body.nextCursor;
    if (!cursor) break;
    cursors.push(cursor);
  }

  const endpoints: Endpoint[] = [
    { name: "agents list, first page (limit=100)", path: () => `${base}/agents?limit=100` },
    ...(cursors.length
      ? [
          {
            name: "agents list, later page (cursor)",
            path: () => `${base}/agents?limit=100&cursor=${encodeURIComponent(pick(cursors))}`,
          },
        ]
      : []),
    { name: "agents list, status=online", path: () => `${base}/agents?limit=100&status=online` },
    { name: "agent get (connected)", path: () => `${base}/agents/${pick(connectedUids)}` },
    ...(seededUids.length
      ? [{ name: "agent get (seeded)", path: () => `${base}/agents/${pick(seededUids)}` }]
      : []),
    { name: "deliveries list (limit=100)", path: () => `${base}/deliveries?limit=100` },
    { name: "agent deliveries", path: () => `${base}/agents/${pick(anyUids)}/deliveries` },
  ];

  await ctx.profileStart("rest");
  const rows: Record<string, Figure>[] = [];
  let errors = 0;
  const statusCounts = new Map<number, number>();
  for (const concurrency of opts.restConcurrency) {
    for (const ep of endpoints) {
      if (Date.now() > deadlineAt) break;
      const latencies: number[] = [];
      let issued = 0;
      const t0 = performance.now();
      const lane = async () => {
        while (issued < opts.restRequests) {
          issued++;
          const res = await rest.call("GET", ep.path());
          statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
          if (res.status !== 200) errors++;
          latencies.push(res.ms);
        }
      };
      // Warm-up: a few requests not counted (JIT, prepared plans, keep-alive sockets).
      for (let i = 0; i < Math.min(5, opts.restRequests); i++) await rest.call("GET", ep.path());
      await Promise.all(Array.from({ length: concurrency }, lane));
      const seconds = (performance.now() - t0) / 1000;
      const s = summarize(latencies);
      const row = {
        endpoint: ep.name,
        concurrency,
        requests: latencies.length,
        p50Ms: round(s.p50),
        p90Ms: round(s.p90),
        p99Ms: round(s.p99),
        maxMs: round(s.max),
        perSecond: round(latencies.length / seconds),
      };
      rows.push(row);
      ctx.log(
        `  c=${concurrency} ${ep.name.padEnd(38)} p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms  ${row.perSecond}/s`,
      );
    }
  }
  await ctx.profileStop();
  const m = await ctx.server.metrics();
  result.figures = {
    serverRssEndMb: round(ctx.server.rss() / 2 ** 20),
    serverHeapUsedEndMb: round((m.get("agentapi_nodejs_heap_size_used_bytes") ?? Number.NaN) / 2 ** 20),
    agentsInDatabase: total,
    deliveriesInDatabase: deliveries,
    agentsConnected: ctx.enrolled,
    seededAgents: seed,
    seedSeconds: round(seedSeconds),
    heartbeatsRunning: ctx.heartbeatsOn,
    non200: errors,
  };
  for (const r of rows) {
    const key = `c${r.concurrency}.${String(r.endpoint)}`;
    result.figures[`${key}.p50Ms`] = r.p50Ms ?? null;
    result.figures[`${key}.p99Ms`] = r.p99Ms ?? null;
    result.figures[`${key}.perSecond`] = r.perSecond ?? null;
  }
  result.tables.endpoints = rows;
  sanity(result, "agents in the database", Math.max(opts.restTotal, existing), total);
  sanity(result, "non-200 answers", 0, errors);
  if (statusCounts.size > 1 || !statusCounts.has(200)) {
    result.notes.push(`statuses: ${JSON.stringify(Object.fromEntries(statusCounts))}`);
  }
  result.ok = result.sanity.every((s) => s.ok);
}
