/**
 * Writes a run's results: results.json (everything), summary.md (tables: budget of DESIGN.md §12,
 * ratios to the bare-ws baseline, every scenario's figures and checks) and SVG charts, all
 * under bench/results/<run id>/.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { ROLLOUT_BAKE_SECONDS, ROLLOUT_TARGET_MS, ROLLOUT_WAVES } from "../scenarios/rollout.js";
import type { Figure, RunContext, ScenarioName, ScenarioResult } from "./context.js";
import {
  type HeapSummary,
  type ProfileSummary,
  summarizeHeapProfile,
  summarizeProfile,
} from "./cpuprofile.js";
import { round } from "./stats.js";
import { barChart, lineChart, type Series } from "./svg.js";

/** A connection URL without its password. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable)";
  }
}

function fig(ctx: RunContext, scenario: ScenarioName, key: string): number | undefined {
  const v = ctx.results.find((r) => r.name === scenario)?.figures[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function machine(): Record<string, string | number> {
  let fdLimit = "?";
  try {
    fdLimit = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
  } catch {
    // unknown
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "?",
    memoryGb: round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    fdHardLimit: fdLimit,
  };
}

interface BudgetRow {
  what: string;
  target: string;
  measured: string;
  within: boolean | null;
}

function budget(ctx: RunContext): BudgetRow[] {
  const rows: BudgetRow[] = [];
  const add = (
    what: string,
    target: string,
    value: number | undefined,
    unit: string,
    ok: (v: number) => boolean,
  ) =>
    rows.push({
      what,
      target,
      measured: value === undefined ? "not measured" : `${value} ${unit}`.trim(),
      within: value === undefined ? null : ok(value),
    });
  add(
    "connected agents per process",
    "≥ 19,000",
    fig(ctx, "steady", "agentsConnected") ?? fig(ctx, "reconnect", "back"),
    `(this run: --agents ${ctx.opts.agents})`,
    (v) => v >= 19_000,
  );
  add(
    "RSS per agent (after enrollment)",
    "≤ 12 KB",
    fig(ctx, "steady", "rssPerAgentKb"),
    "KB",
    (v) => v <= 12,
  );
  add(
    "RSS per agent (fresh process, after reconnect)",
    "≤ 12 KB",
    fig(ctx, "reconnect", "rssPerAgentFreshKb"),
    "KB",
    (v) => v <= 12,
  );
  add(
    "enrollment (phase 1 + 2 + first config)",
    "≥ 1,000 agents/s",
    fig(ctx, "enroll", "agentsPerSecond"),
    "agents/s",
    (v) => v >= 1000,
  );
  // Round 2: ≤ 1 s for 10,000 agents, ≤ 2 s for 19,000 (and ≤ 10× the bare broadcast).
  const fanoutAgents = fig(ctx, "fanout", "agents");
  const fanoutTargetMs = fanoutAgents !== undefined && fanoutAgents > 10_000 ? 2000 : 1000;
  add(
    `config change → last agent (${fanoutAgents ?? "?"} agents; ≤ 1 s is for 10,000, ≤ 2 s for 19,000)`,
    `≤ ${fanoutTargetMs / 1000} s after commit`,
    fig(ctx, "fanout", "medianRoundLastAfterCommitMs"),
    "ms",
    (v) => v <= fanoutTargetMs,
  );
  const broadcast = fig(ctx, "baseline", "broadcastLastMs");
  const lastMs = fig(ctx, "fanout", "medianRoundLastAfterCommitMs");
  add(
    "config change → last agent ÷ bare broadcast, same run",
    "≤ 10×",
    lastMs !== undefined && broadcast ? round(lastMs / broadcast) : undefined,
    "×",
    (v) => v <= 10,
  );
  add(
    `rollout of ${fig(ctx, "rollout", "population") ?? "?"} agents, waves ${ROLLOUT_WAVES.join(", ")}, bake ${ROLLOUT_BAKE_SECONDS} s (target is for 10,000)`,
    `≤ waves × bake + 3 s = ${ROLLOUT_TARGET_MS / 1000} s after the POST`,
    fig(ctx, "rollout", "completedAfterPostMs"),
    "ms",
    (v) => v <= ROLLOUT_TARGET_MS,
  );
  add(
    "heartbeats of 19,000 agents every 30 s (projected from CPU per heartbeat)",
    "≤ 6 % of one core",
    fig(ctx, "steady", "projected19kEvery30sPercentOfOneCore"),
    "%",
    (v) => v <= 6,
  );
  add(
    `reconnect storm, ${fig(ctx, "reconnect", "back") ?? "?"} agents after a restart (target is for 19,000)`,
    "all back ≤ 15 s after listening",
    fig(ctx, "reconnect", "allBackAfterListeningSeconds"),
    "s",
    (v) => v <= 15,
  );
  const per10k = fig(ctx, "scaleout", "postgresCpuPercentPer10kAgents");
  if (per10k !== undefined) {
    add(
      `PostgreSQL CPU at steady state, ${fig(ctx, "scaleout", "replicas")} replicas (issue 17: one PostgreSQL for a million)`,
      "≤ 1 % of a core per 10,000 agents",
      per10k,
      "% per 10,000",
      (v) => v <= 1,
    );
  }
  const rest = ctx.results.find((r) => r.name === "rest")?.tables.endpoints ?? [];
  const lowest = Math.min(...rest.map((r) => Number(r.concurrency)));
  const atLowest = rest.filter((r) => Number(r.concurrency) === lowest);
  const worstP99 = atLowest.length ? Math.max(...atLowest.map((r) => Number(r.p99Ms))) : undefined;
  add(
    `REST reads p99, worst endpoint (concurrency ${Number.isFinite(lowest) ? lowest : "?"}, ${fig(ctx, "rest", "agentsConnected") ?? "?"} agents connected)`,
    "≤ 20 ms",
    worstP99,
    "ms",
    (v) => v <= 20,
  );
  const listRow = atLowest.find((r) => String(r.endpoint).startsWith("agents list, first page"));
  add(
    `agent list page at ${fig(ctx, "rest", "agentsInDatabase") ?? "?"} agents (p99)`,
    "≤ 50 ms",
    listRow ? Number(listRow.p99Ms) : undefined,
    "ms",
    (v) => v <= 50,
  );
  return rows;
}

interface Ratio {
  what: string;
  agentApi: string;
  baseline: string;
  ratio: number | null;
}

function ratios(ctx: RunContext): Ratio[] {
  const out: Ratio[] = [];
  const add = (
    what: string,
    a: number | undefined,
    b: number | undefined,
    unit: string,
    higherIsBetter = false,
  ) => {
    if (a === undefined || b === undefined) return;
    out.push({
      what,
      agentApi: `${a} ${unit}`,
      baseline: `${b} ${unit}`,
      ratio: b === 0 ? null : round(higherIsBetter ? b / a : a / b),
    });
  };
  add(
    "enrollment agents/s vs bare connects/s (× slower)",
    fig(ctx, "enroll", "agentsPerSecond"),
    fig(ctx, "baseline", "connectsPerSecond"),
    "/s",
    true,
  );
  add(
    "enrollment latency p50 vs bare open p50",
    fig(ctx, "enroll", "latencyP50Ms"),
    fig(ctx, "baseline", "openP50Ms"),
    "ms",
  );
  add(
    "RSS per agent vs per bare connection",
    fig(ctx, "steady", "rssPerAgentKb"),
    fig(ctx, "baseline", "rssPerConnectionKb"),
    "KB",
  );
  add(
    "RSS per agent (fresh) vs per bare connection",
    fig(ctx, "reconnect", "rssPerAgentFreshKb"),
    fig(ctx, "baseline", "rssPerConnectionKb"),
    "KB",
  );
  add(
    "CPU per heartbeat vs per echoed message (net of idle)",
    fig(ctx, "steady", "netCpuPerHeartbeatUs"),
    fig(ctx, "baseline", "netCpuPerMessageUs"),
    "µs",
  );
  add(
    "idle CPU with every agent connected",
    fig(ctx, "steady", "idleCpuPercentOfOneCore"),
    fig(ctx, "baseline", "idleCpuPercentOfOneCore"),
    "% core",
  );
  add(
    "event-loop lag p99 under heartbeats",
    fig(ctx, "steady", "eventLoopLagP99Ms"),
    fig(ctx, "baseline", "eventLoopLagP99Ms"),
    "ms",
  );
  add(
    "fan-out last agent (after commit) vs broadcast last socket (after send)",
    fig(ctx, "fanout", "medianRoundLastAfterCommitMs"),
    fig(ctx, "baseline", "broadcastLastMs"),
    "ms",
  );
  add(
    "fan-out median agent vs broadcast median socket",
    fig(ctx, "fanout", "medianRoundMedianAfterCommitMs"),
    fig(ctx, "baseline", "broadcastMedianMs"),
    "ms",
  );
  return out;
}

function charts(ctx: RunContext): Record<string, string> {
  const files: Record<string, string> = {};
  const get = (name: ScenarioName) => ctx.results.find((r) => r.name === name);
  const enroll = get("enroll");
  if (enroll?.series.latencyCdf?.length) {
    files["enroll-latency.svg"] = lineChart({
      title: `Enrollment latency, ${enroll.figures.enrolled} agents (CDF)`,
      xLabel: "ms since the agent's first connect",
      yLabel: "fraction of agents",
      yMax: 1,
      series: [
        { name: "offer received (phase 1)", points: enroll.series.offerCdf ?? [], step: true },
        { name: "first config received (phase 2)", points: enroll.series.configCdf ?? [], step: true },
        { name: "APPLIED answered", points: enroll.series.latencyCdf, step: true },
      ],
    });
    files["enroll-rate.svg"] = lineChart({
      title: "Enrollments completed per second",
      xLabel: "s since the first agent started",
      yLabel: "agents/s (250 ms buckets)",
      series: [{ name: "completed", points: enroll.series.completionsPerSecond ?? [] }],
    });
  }
  for (const [name, file, title] of [
    ["enroll", "enroll-server.svg", "Server during the enrollment storm"],
    ["fanout", "fanout-server.svg", "Server during the fan-out rounds"],
    ["reconnect", "reconnect-server.svg", "Server during the reconnect storm (t = 0 at SIGTERM)"],
  ] as const) {
    const r = get(name);
    if (!r?.series.serverCpuPercent?.length) continue;
    files[file] = lineChart({
      title,
      xLabel: "s",
      yLabel: "CPU % of one core / count",
      series: [
        { name: "server CPU % (1 s samples)", points: r.series.serverCpuPercent },
        { name: "queries waiting for a pool connection", points: r.series.poolWaiting ?? [] },
        { name: "PostgreSQL backends active", points: r.series.pgActive ?? [] },
        { name: "PostgreSQL backends waiting on a lock", points: r.series.pgLockWaits ?? [] },
      ],
    });
  }
  const steady = get("steady");
  if (steady?.series.cpuPercent?.length) {
    files["steady-cpu.svg"] = lineChart({
      title: `Server CPU with ${steady.figures.agentsConnected} agents heartbeating every ${steady.figures.heartbeatIntervalSeconds} s`,
      xLabel: "s into the window",
      yLabel: "% of one core (1 s samples)",
      series: [{ name: "agent-api CPU %", points: steady.series.cpuPercent }],
    });
  }
  const fanout = get("fanout");
  const baseline = get("baseline");
  if (fanout) {
    const series: Series[] = Object.entries(fanout.series)
      .filter(([k]) => k.endsWith("ReceiptCdf"))
      .map(([k, points]) => ({
        name: `agent-api ${k.replace("ReceiptCdf", "")} (after commit)`,
        points,
        step: true,
      }));
    for (const [k, points] of Object.entries(baseline?.series ?? {})) {
      if (k.endsWith("ReceiptCdf"))
        series.push({ name: `bare ws ${k.replace("ReceiptCdf", "")} (after send)`, points, step: true });
    }
    files["fanout.svg"] = lineChart({
      title: `Config fan-out to ${fanout.figures.agents} agents (CDF of receipt)`,
      xLabel: "ms",
      yLabel: "fraction of agents",
      yMax: 1,
      series,
      markers: [{ x: 2000, label: "budget 2 s" }],
    });
  }
  const reconnect = get("reconnect");
  if (reconnect?.series.backCdfSinceSigterm?.length) {
    const markers = [];
    const exit = reconnect.figures.markerExitSeconds;
    const listening = reconnect.figures.markerListeningSeconds;
    const ready = reconnect.figures.markerReadySeconds;
    if (typeof exit === "number") markers.push({ x: exit, label: "old process exited" });
    if (typeof listening === "number") markers.push({ x: listening, label: "new process answers /healthz" });
    if (typeof ready === "number") markers.push({ x: ready, label: "new process ready (/readyz)" });
    files["reconnect.svg"] = lineChart({
      title: `Reconnect storm: ${reconnect.figures.agents} agents after a restart (CDF)`,
      xLabel: "s since SIGTERM",
      yLabel: "fraction of agents back",
      yMax: 1,
      series: [{ name: "connected + first reply", points: reconnect.series.backCdfSinceSigterm, step: true }],
      markers,
    });
  }
  const rest = get("rest")?.tables.endpoints ?? [];
  if (rest.length) {
    const groups = [...new Set(rest.map((r) => String(r.endpoint)))].map((endpoint) => ({
      name: endpoint,
      bars: rest
        .filter((r) => r.endpoint === endpoint)
        .flatMap((r) => [
          { label: `c=${r.concurrency} p50`, value: Number(r.p50Ms), text: `${r.p50Ms} ms` },
          { label: `c=${r.concurrency} p99`, value: Number(r.p99Ms), text: `${r.p99Ms} ms` },
        ]),
    }));
    files["rest.svg"] = barChart({
      title: `REST latency (${get("rest")?.figures.agentsInDatabase} agents in the database)`,
      groups,
    });
  }
  const scaleout = get("scaleout");
  if (scaleout) {
    const rounds = Object.entries(scaleout.series).filter(([k]) => /^round\d+ReceiptCdf$/.test(k));
    if (rounds.length) {
      files["scaleout-fanout.svg"] = lineChart({
        title: `Config change → agents of ${scaleout.figures.replicas} replicas, ${scaleout.figures.enrolled} agents (CDF)`,
        xLabel: "ms after the commit (PUT through replica 0)",
        yLabel: "fraction of agents",
        yMax: 1,
        series: rounds.map(([k, points]) => ({ name: k.replace("ReceiptCdf", ""), points, step: true })),
      });
    }
    const replicas = scaleout.tables.replicas ?? [];
    if (replicas.length) {
      const bar = (label: string, v: Figure | undefined, unit: string) => {
        const value = typeof v === "number" && Number.isFinite(v) ? v : 0;
        return { label, value, text: `${fmt(v)} ${unit}`.trim() };
      };
      files["scaleout-replicas.svg"] = barChart({
        title: "Per replica at steady state",
        groups: [
          {
            name: "connected agents (thousands)",
            bars: replicas.map((r) => bar(`replica ${r.replica}`, Number(r.connectedAgents) / 1000, "k")),
          },
          {
            name: "database statements/s",
            bars: replicas.map((r) => bar(`replica ${r.replica}`, r.steadyStatementsPerSecond, "/s")),
          },
          {
            name: "server CPU, % of one core",
            bars: replicas.map((r) => bar(`replica ${r.replica}`, r.steadyServerCpuPercentOfOneCore, "%")),
          },
          {
            name: "RSS, MB",
            bars: replicas.map((r) => bar(`replica ${r.replica}`, r.rssMb, "MB")),
          },
        ],
      });
    }
  }
  const rs = ratios(ctx);
  if (rs.length) {
    files["vs-baseline.svg"] = barChart({
      title: "agent-api vs bare ws (same sockets, same run)",
      groups: rs.map((r) => ({
        name: r.what,
        bars: [
          { label: "agent-api", value: Number.parseFloat(r.agentApi), text: r.agentApi },
          { label: "bare ws", value: Number.parseFloat(r.baseline), text: r.baseline },
        ],
      })),
    });
  }
  return files;
}

/** Text safe inside a markdown table cell. */
function mdCell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll("\n", " ").slice(0, 160);
}

function fmt(v: Figure | undefined): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number")
    return Number.isFinite(v) ? v.toLocaleString("en-US", { maximumFractionDigits: 3 }) : String(v);
  return String(v);
}

function scenarioMarkdown(r: ScenarioResult, chartFiles: string[]): string {
  const lines: string[] = [`## ${r.title}`, ""];
  lines.push(`${r.ok ? "Completed" : "**Incomplete**"} in ${round(r.seconds)} s.`, "");
  if (r.error) lines.push("```", r.error, "```", "");
  const flat = Object.entries(r.figures).filter(([k]) => !k.includes(".") && !k.startsWith("marker"));
  if (flat.length) {
    lines.push("| Figure | Value |", "|---|---:|");
    for (const [k, v] of flat) lines.push(`| ${k} | ${fmt(v)} |`);
    lines.push("");
  }
  for (const [name, rows] of Object.entries(r.tables)) {
    if (!rows.length) continue;
    const cols = Object.keys(rows[0] ?? {});
    lines.push(`${name}:`, "", `| ${cols.join(" | ")} |`, `|${cols.map(() => "---").join("|")}|`);
    for (const row of rows) lines.push(`| ${cols.map((c) => fmt(row[c])).join(" | ")} |`);
    lines.push("");
  }
  if (r.sanity.length) {
    lines.push("Checks (the server did the work):", "");
    for (const s of r.sanity)
      lines.push(`- ${s.ok ? "ok" : "**MISMATCH**"}: ${s.check}: expected ${s.expected}, got ${s.actual}`);
    lines.push("");
  }
  for (const n of r.notes) lines.push(`> ${n}`, "");
  for (const f of chartFiles) lines.push(`![${f}](${f})`, "");
  return lines.join("\n");
}

const CHARTS_OF: Record<ScenarioName, string[]> = {
  enroll: ["enroll-latency.svg", "enroll-rate.svg", "enroll-server.svg"],
  steady: ["steady-cpu.svg"],
  fanout: ["fanout.svg", "fanout-server.svg"],
  rollout: [],
  reconnect: ["reconnect.svg", "reconnect-server.svg"],
  rest: ["rest.svg"],
  baseline: ["vs-baseline.svg"],
  scaleout: ["scaleout-fanout.svg", "scaleout-replicas.svg"],
};

function heapProfiles(ctx: RunContext): HeapSummary[] {
  const dir = ctx.outDir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".heapprofile"))
    .sort()
    .map((f) => ({ ...summarizeHeapProfile(join(dir, f), ctx.root), file: f }));
}

function profiles(ctx: RunContext): ProfileSummary[] {
  const dir = ctx.outDir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .map((f) => ({ ...summarizeProfile(join(dir, f), ctx.root), file: f }));
}

export function writeReport(ctx: RunContext, started: Date, finished: Date): string[] {
  const chartSvgs = charts(ctx);
  const written: string[] = [];
  for (const [file, svg] of Object.entries(chartSvgs)) {
    const path = join(ctx.outDir, file);
    writeFileSync(path, svg);
    written.push(path);
  }
  const budgetRows = budget(ctx);
  const ratioRows = ratios(ctx);
  const profileSummaries = profiles(ctx);
  const heapSummaries = heapProfiles(ctx);
  const json = {
    runId: ctx.runId,
    started: started.toISOString(),
    finished: finished.toISOString(),
    machine: machine(),
    options: { ...ctx.opts, pgUrl: redactUrl(ctx.opts.pgUrl) },
    workers: ctx.pool.workers.map((w) => w.localAddress),
    budget: budgetRows,
    ratiosToBaseline: ratioRows,
    results: ctx.results,
    cpuProfiles: profileSummaries,
    heapProfiles: heapSummaries,
    serverLog: ctx.serverLog,
  };
  const jsonPath = join(ctx.outDir, "results.json");
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  written.unshift(jsonPath);

  const m = machine();
  const md: string[] = [
    `# agent-api bench ${ctx.runId}`,
    "",
    `${started.toISOString()} → ${finished.toISOString()} · ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GiB, Linux ${m.kernel}, Node ${m.node}, fd hard limit ${m.fdHardLimit}.`,
    `Server: agent-api as ${ctx.opts.scenarios.includes("scaleout") ? `${ctx.opts.replicas} processes (replicas, each its own port)` : "one process"} on PostgreSQL (fresh database), LOG_LEVEL=warn. Load: ${ctx.opts.agents} agents from ${ctx.pool.size} worker process(es) on ${ctx.pool.workers.map((w) => w.localAddress).join(", ")}; every process shares the same ${m.cpus} cores.`,
    "",
    `Options: \`${JSON.stringify({ ...ctx.opts, pgUrl: undefined, outDir: undefined })}\``,
    "",
    "## Budget (DESIGN.md §12)",
    "",
    "| What | Target | Measured | Within |",
    "|---|---|---|---|",
    ...budgetRows.map(
      (b) =>
        `| ${b.what} | ${b.target} | ${b.measured} | ${b.within === null ? "–" : b.within ? "yes" : "**no**"} |`,
    ),
    "",
  ];
  if (ratioRows.length) {
    md.push(
      "## Compared with a bare ws server (same sockets, same run)",
      "",
      "| What | agent-api | bare ws | ratio |",
      "|---|---:|---:|---:|",
      ...ratioRows.map((r) => `| ${r.what} | ${r.agentApi} | ${r.baseline} | ${r.ratio ?? "–"}× |`),
      "",
    );
  }
  for (const r of ctx.results) {
    md.push(
      scenarioMarkdown(
        r,
        CHARTS_OF[r.name].filter((f) => f in chartSvgs),
      ),
    );
  }
  const log = ctx.serverLog;
  if (log && log.lines > 0) {
    md.push(
      "## Server log (LOG_LEVEL=warn)",
      "",
      `${log.lines.toLocaleString("en-US")} lines${log.truncated ? ` (${Math.round(log.bytes / 2 ** 20)} MB; server.log keeps the first and last 500)` : ""}. Most frequent:`,
      "",
      "| Count | Level | Component | Message | Error | First | Last |",
      "|---:|---|---|---|---|---|---|",
      ...log.counts
        .slice(0, 15)
        .map(
          (c) =>
            `| ${c.count.toLocaleString("en-US")} | ${c.level} | ${c.component} | ${mdCell(c.msg)} | ${mdCell(c.err)} | ${c.first} | ${c.last} |`,
        ),
      "",
    );
  }
  for (const p of profileSummaries) {
    md.push(
      `## CPU profile ${p.file.split("/").pop()} (server, during that window)`,
      "",
      `${p.busyMs} ms busy (GC ${p.gcMs} ms) of ${p.totalMs} ms profiled. Top functions by self time:`,
      "",
      "| Function | Self ms | % of busy |",
      "|---|---:|---:|",
      ...p.topSelf.map((e) => `| \`${e.fn}\` | ${e.selfMs} | ${e.selfPercent} |`),
      "",
      "By inclusive time:",
      "",
      "| Function | Inclusive ms | % of busy |",
      "|---|---:|---:|",
      ...p.topInclusive.map((e) => `| \`${e.fn}\` | ${e.inclusiveMs} | ${e.inclusivePercent} |`),
      "",
    );
  }
  for (const h of heapSummaries) {
    md.push(
      `## Heap profile ${h.file.split("/").pop()} (server: allocation sites of what was still alive after a forced GC)`,
      "",
      `${h.totalMb} MB sampled live. By allocating function:`,
      "",
      "| Function | MB | % |",
      "|---|---:|---:|",
      ...h.topSelf.map((e) => `| \`${e.fn}\` | ${e.mb} | ${e.percent} |`),
      "",
      "By caller (inclusive):",
      "",
      "| Function | MB | % |",
      "|---|---:|---:|",
      ...h.topInclusive.map((e) => `| \`${e.fn}\` | ${e.mb} | ${e.percent} |`),
      "",
    );
  }
  const mdPath = join(ctx.outDir, "summary.md");
  writeFileSync(mdPath, `${md.join("\n")}\n`);
  written.splice(1, 0, mdPath);
  return written;
}
