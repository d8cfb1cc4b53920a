/**
 * Baseline: the agent-api agents leave and the server stops; a bare `ws` server
 * (bench/baseline-server.ts) takes the same N sockets from the same worker processes and
 * source addresses. Figures: connects/s and open latency, RSS per connection, CPU per echoed
 * heartbeat-sized message (same interval, same window), and broadcast of a config-sized payload
 * to every socket (first / median / last receipt after the send started). The summary divides
 * the agent-api figures by these.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type RunContext, type ScenarioResult, sanity, sleep, split } from "../lib/context.js";
import type {
  BaselineConnectResult,
  BaselineStats,
  BaselineToParent,
  MarkResult,
  ParentToBaseline,
  WorkerStats,
} from "../lib/ipc.js";
import { cpuSecondsOf, rssOf } from "../lib/server-process.js";
import { cdfPoints, percentile, round, summarize } from "../lib/stats.js";

const ENTRY = fileURLToPath(new URL("../baseline-server.ts", import.meta.url));
const sum = (stats: WorkerStats[], f: (s: WorkerStats) => number) => stats.reduce((n, s) => n + f(s), 0);

class Baseline {
  #next = 1;
  readonly #pending = new Map<number, (v: unknown) => void>();
  port = 0;

  constructor(readonly child: ChildProcess) {
    child.on("message", (m: BaselineToParent) => {
      if (m.type === "reply") {
        this.#pending.get(m.id)?.(m.data);
        this.#pending.delete(m.id);
      }
    });
  }

  static start(deadlineMs: number): Promise<Baseline> {
    const child = fork(ENTRY, [], {
      execArgv: ["--expose-gc"],
      env: { ...process.env, BASELINE_PORT: "0", BASELINE_DEADLINE_MS: String(deadlineMs) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    const b = new Baseline(child);
    return new Promise<Baseline>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("baseline server did not start in 20 s")), 20_000);
      child.once("exit", (code) => reject(new Error(`baseline server exited (${code})`)));
      child.on("message", (m: BaselineToParent) => {
        if (m.type === "listening") {
          clearTimeout(timer);
          b.port = m.port;
          resolve(b);
        }
      });
    });
  }

  request<T>(msg: DistributiveOmit<Exclude<ParentToBaseline, { type: "exit" }>, "id">): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve) => {
      this.#pending.set(id, resolve as (v: unknown) => void);
      this.child.send({ ...msg, id });
    });
  }

  stop(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        resolve();
      }, 5_000);
      this.child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.send({ type: "exit" });
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export async function runBaseline(
  ctx: RunContext,
  result: ScenarioResult,
  deadlineAt: number,
): Promise<void> {
  const { pool, opts } = ctx;
  // Free the machine: the agent-api agents say goodbye and the server stops.
  if (ctx.enrolled > 0) await pool.all({ type: "close-all" });
  ctx.heartbeatsOn = false;
  await ctx.stopServer();

  const baseline = await Baseline.start(Math.max(60_000, deadlineAt - Date.now() + 60_000));
  try {
    const pid = baseline.child.pid ?? -1;
    const url = `ws://127.0.0.1:${baseline.port}/`;
    await sleep(500);
    await baseline.request({ type: "gc" });
    const rss0 = rssOf(pid);
    const counts = split(opts.agents, pool.size);
    const answers = await pool.all<BaselineConnectResult>((w) => ({
      type: "baseline-connect",
      url,
      count: counts[w.index] ?? 0,
      concurrency: opts.concurrency,
    }));
    const opened = answers.flatMap((a) => a.openMs);
    const starts = answers.flatMap((a) => a.startAt);
    const ends = answers.flatMap((a) => a.startAt.map((s, i) => s + (a.openMs[i] ?? 0)));
    const failures = answers.reduce((n, a) => n + a.failures, 0);
    const span = (Math.max(...ends) - Math.min(...starts)) / 1000;
    const open = summarize(opened);
    await sleep(2_000);
    await baseline.request({ type: "gc" });
    await sleep(1_000);
    const rss1 = rssOf(pid);

    // Idle, then echo of heartbeat-sized messages at the agents' interval.
    const idleMs = opts.idleSeconds * 1000;
    const ic0 = cpuSecondsOf(pid);
    const it0 = Date.now();
    await sleep(idleMs);
    const idleCpuPerSecond = (cpuSecondsOf(pid) - ic0) / ((Date.now() - it0) / 1000);
    const intervalMs = opts.heartbeatSeconds * 1000;
    await pool.all({ type: "baseline-heartbeat", intervalMs, bytes: ctx.heartbeatFrameBytes });
    await sleep(Math.min(2_000, intervalMs));
    await baseline.request<BaselineStats>({ type: "stats" });
    const s0 = await pool.stats();
    const c0 = cpuSecondsOf(pid);
    const t0 = Date.now();
    await sleep(Math.min(opts.steadySeconds * 1000, Math.max(1_000, deadlineAt - Date.now() - 30_000)));
    const c1 = cpuSecondsOf(pid);
    const t1 = Date.now();
    const s1 = await pool.stats();
    const bstats = await baseline.request<BaselineStats>({ type: "stats" });
    await pool.all({ type: "baseline-heartbeat", intervalMs: 0, bytes: 0 });
    const seconds = (t1 - t0) / 1000;
    const messages = sum(s1, (s) => s.bare.sent) - sum(s0, (s) => s.bare.sent);
    const cpu = c1 - c0;
    const netCpu = Math.max(0, cpu - idleCpuPerSecond * seconds);

    // Broadcast a config-sized payload, as many rounds as the fan-out had.
    const bytes = ctx.configFrameBytes || 2048;
    const rounds: { first: number; median: number; last: number; sendLoop: number }[] = [];
    await sleep(1_000);
    for (let r = 0; r < opts.fanoutRounds; r++) {
      let sendStartAt = 0;
      let sendEndAt = 0;
      await pool.armAndWait(
        "broadcast",
        async () => {
          ({ sendStartAt, sendEndAt } = await baseline.request<{ sendStartAt: number; sendEndAt: number }>({
            type: "broadcast",
            bytes,
          }));
        },
        Math.max(1_000, Math.min(60_000, deadlineAt - Date.now())),
      );
      const marks = await pool.all<MarkResult>({ type: "collect", what: "broadcast" });
      const at = marks
        .flatMap((m) => m.at)
        .filter((t) => t > 0)
        .map((t) => t - sendStartAt)
        .sort((a, b) => a - b);
      rounds.push({
        first: percentile(at, 0),
        median: percentile(at, 50),
        last: at.at(-1) ?? Number.NaN,
        sendLoop: sendEndAt - sendStartAt,
      });
      result.series[`broadcast${r + 1}ReceiptCdf`] = cdfPoints(at);
      sanity(result, `broadcast ${r + 1}: sockets that received it`, opened.length, at.length);
      await sleep(500);
    }
    const mid = [...rounds].sort((a, b) => a.last - b.last)[Math.floor((rounds.length - 1) / 2)];
    const finalStats = await baseline.request<BaselineStats>({ type: "stats" });

    result.figures = {
      connections: opened.length,
      failedConnects: failures,
      connectsPerSecond: round(opened.length / span),
      openP50Ms: round(open.p50),
      openP99Ms: round(open.p99),
      rssAtStartMb: round(rss0 / 2 ** 20),
      rssConnectedMb: round(rss1 / 2 ** 20),
      rssPerConnectionKb: round((rss1 - rss0) / Math.max(1, opened.length) / 1024),
      idleCpuPercentOfOneCore: round(idleCpuPerSecond * 100),
      echoMessages: messages,
      echoPerSecond: round(messages / seconds),
      cpuPercentOfOneCore: round((cpu / seconds) * 100),
      cpuPerMessageUs: round((cpu / Math.max(1, messages)) * 1e6),
      netCpuPerMessageUs: round((netCpu / Math.max(1, messages)) * 1e6),
      eventLoopLagP50Ms: round(bstats.eventLoopLag.p50Ms),
      eventLoopLagP99Ms: round(bstats.eventLoopLag.p99Ms),
      eventLoopLagMaxMs: round(bstats.eventLoopLag.maxMs),
      broadcastBytes: bytes,
      broadcastRounds: rounds.length,
      broadcastFirstMs: round(mid?.first ?? Number.NaN),
      broadcastMedianMs: round(mid?.median ?? Number.NaN),
      broadcastLastMs: round(mid?.last ?? Number.NaN),
      broadcastSendLoopMs: round(mid?.sendLoop ?? Number.NaN),
    };
    sanity(result, "bare sockets connected", opts.agents, opened.length);
    sanity(result, "baseline server connections", opts.agents, finalStats.connections);
    result.notes.push(
      "Broadcast times are from the start of the server's send loop (one shared buffer for every socket); the fan-out figures are from the REST commit, with a per-agent rendered config.",
    );
    await pool.all({ type: "baseline-close" });
    result.ok = result.sanity.every((s) => s.ok);
  } finally {
    await baseline.stop();
  }
}
