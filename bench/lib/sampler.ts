/**
 * Samples the server while a scenario runs: CPU % and RSS from /proc, the database pool from
 * /metrics, and what PostgreSQL backends of the run's database are doing (active, waiting on a
 * lock, and the statement most of the lock waiters are stuck on). Not used in the steady-state
 * window: scraping /metrics resets the event-loop delay histogram that window reports.
 */
import type { BenchDb } from "./database.js";
import type { ServerProcess } from "./server-process.js";

export interface Sample {
  /** Seconds since the sampler started. */
  t: number;
  cpuPercent: number;
  rssMb: number;
  poolTotal: number;
  poolWaiting: number;
  pgActive: number;
  pgLockWaits: number;
}

export interface SamplerReport {
  samples: Sample[];
  maxPoolWaiting: number;
  maxPgLockWaits: number;
  /** Statements seen waiting on a lock, most frequent first (text up to 120 characters). */
  lockWaitStatements: { statement: string; samples: number }[];
}

export class Sampler {
  readonly #samples: Sample[] = [];
  readonly #waits = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #t0 = 0;
  #lastCpu = 0;
  #lastT = 0;

  constructor(
    private readonly server: () => ServerProcess,
    private readonly db: BenchDb,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    this.#t0 = Date.now();
    this.#lastT = this.#t0;
    this.#lastCpu = this.#cpu();
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.#sample());
    }, this.intervalMs);
  }

  #cpu(): number {
    try {
      return this.server().cpuSeconds();
    } catch {
      return Number.NaN;
    }
  }

  async #sample(): Promise<void> {
    const server = this.server();
    const now = Date.now();
    const cpu = this.#cpu();
    let rss = Number.NaN;
    try {
      rss = server.rss();
    } catch {
      // the process is between two lives (restart)
    }
    let poolTotal = Number.NaN;
    let poolWaiting = Number.NaN;
    try {
      const m = await server.metrics();
      poolTotal = m.get('agentapi_db_pool_connections{state="total"}') ?? Number.NaN;
      poolWaiting = m.get('agentapi_db_pool_connections{state="waiting"}') ?? Number.NaN;
    } catch {
      // not listening
    }
    let pgActive = Number.NaN;
    let pgLockWaits = Number.NaN;
    try {
      const rows = await this.db.rows<{ state: string | null; wait: string | null; q: string }>(
        `SELECT state, wait_event_type AS wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS q
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      pgActive = rows.filter((r) => r.state === "active").length;
      const waiting = rows.filter((r) => r.wait === "Lock");
      pgLockWaits = waiting.length;
      for (const r of waiting) this.#waits.set(r.q, (this.#waits.get(r.q) ?? 0) + 1);
    } catch {
      // ignore
    }
    this.#samples.push({
      t: (now - this.#t0) / 1000,
      cpuPercent: ((cpu - this.#lastCpu) / Math.max(0.001, (now - this.#lastT) / 1000)) * 100,
      rssMb: rss / 2 ** 20,
      poolTotal,
      poolWaiting,
      pgActive,
      pgLockWaits,
    });
    this.#lastCpu = cpu;
    this.#lastT = now;
  }

  async stop(): Promise<SamplerReport> {
    clearInterval(this.#timer);
    await this.#running;
    const finite = (xs: number[]) => xs.filter((x) => Number.isFinite(x));
    return {
      samples: this.#samples,
      maxPoolWaiting: Math.max(0, ...finite(this.#samples.map((s) => s.poolWaiting))),
      maxPgLockWaits: Math.max(0, ...finite(this.#samples.map((s) => s.pgLockWaits))),
      lockWaitStatements: [...this.#waits.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([statement, samples]) => ({ statement, samples })),
    };
  }
}

/** The sampler's time series as chart series ([t, value] pairs), NaN samples dropped. */
export function samplerSeries(report: SamplerReport): Record<string, [number, number][]> {
  const pick = (f: (s: Sample) => number): [number, number][] =>
    report.samples.filter((s) => Number.isFinite(f(s))).map((s) => [s.t, f(s)]);
  return {
    serverCpuPercent: pick((s) => s.cpuPercent),
    poolWaiting: pick((s) => s.poolWaiting),
    pgLockWaits: pick((s) => s.pgLockWaits),
    pgActive: pick((s) => s.pgActive),
  };
}
