/** What every scenario gets: options, the run's processes and clients, and a place for results. */
import type { BenchDb } from "./database.js";
import type { RestClient } from "./rest.js";
import type { ServerLogSummary } from "./server-log.js";
import type { ServerProcess } from "./server-process.js";
import type { WorkerPool } from "./workers.js";

export const SCENARIOS = [
  "enroll",
  "steady",
  "fanout",
  "rollout",
  "reconnect",
  "rest",
  "baseline",
  "scaleout",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** Scenarios with a topology of their own: selected by name only, and alone. */
export const SEPARATE_SCENARIOS: readonly ScenarioName[] = ["scaleout"];

export interface Options {
  agents: number;
  /** Server processes of the scale-out scenario (the run's server is the first). */
  replicas: number;
  scenarios: ScenarioName[];
  perWorker: number;
  workers: number;
  /** Agents enrolling at once per worker (and bare sockets connecting at once). */
  concurrency: number;
  heartbeatSeconds: number;
  /** Heartbeat interval the server offers (HEARTBEAT_INTERVAL_SECONDS). */
  serverHeartbeatSeconds: number;
  idleSeconds: number;
  steadySeconds: number;
  fanoutRounds: number;
  restTotal: number;
  restRequests: number;
  restConcurrency: number[];
  scenarioTimeoutSeconds: number;
  deadlineSeconds: number;
  sendApplying: boolean;
  keep: boolean;
  cpuProf: boolean;
  heapProf: boolean;
  /** Open the server's inspector on loopback (forced GC before memory figures, profiles). */
  inspect: boolean;
  build: boolean;
  serverEntry: string | undefined;
  pgUrl: string;
  outDir: string;
  serverEnv: Record<string, string>;
  smoke: boolean;
}

export interface SanityCheck {
  check: string;
  expected: number | string;
  actual: number | string;
  ok: boolean;
}

export type Figure = number | string | boolean | null;

export interface ScenarioResult {
  name: ScenarioName;
  title: string;
  ok: boolean;
  startedAt: string;
  seconds: number;
  /** Headline figures (flat, for the JSON and the markdown table). */
  figures: Record<string, Figure>;
  /** Raw-ish data for charts (CDF points, time series), kept in the JSON. */
  series: Record<string, [number, number][]>;
  /** Per-row figures (REST endpoints, fan-out rounds). */
  tables: Record<string, Record<string, Figure>[]>;
  sanity: SanityCheck[];
  notes: string[];
  error?: string;
}

export interface RunContext {
  opts: Options;
  runId: string;
  root: string;
  outDir: string;
  serverEntry: string;
  serverEnv: Record<string, string>;
  serverNodeArgs: string[];
  port: number;
  /** The run's server's inspector port (0 without --inspect). */
  inspectPort: number;
  /** The run's server's log file (results/<run>/server.log). */
  serverLogFile: string;
  dbUrl: string;
  db: BenchDb;
  adminToken: string;
  server: ServerProcess;
  /** Server RSS right after it became ready, before any agent (bytes). */
  serverRssAtReady: number;
  pool: WorkerPool;
  rest: RestClient;
  tenantId: string;
  enrollmentToken: string;
  templateName: string;
  /** Agents that finished enrollment (connected, keyed, config applied). */
  enrolled: number;
  /** Size of a remote-config frame as the agents received it (sizes the baseline broadcast). */
  configFrameBytes: number;
  /** Size of a heartbeat frame (sizes the baseline echo). */
  heartbeatFrameBytes: number;
  heartbeatsOn: boolean;
  results: ScenarioResult[];
  /** Filled at the end: what the server logged (LOG_LEVEL=warn), counted. */
  serverLog?: ServerLogSummary;
  deadlineAt: number;
  log: (line: string) => void;
  /**
   * (Re)starts the server under test (same database and port); waits until it listens and, with
   * `requireReady` (default), until /readyz answers 200 (readyAt null otherwise).
   */
  startServer: (opts?: {
    requireReady?: boolean;
  }) => Promise<{ listeningAt: number; readyAt: number | null }>;
  /** SIGTERM the server under test (detaching the profiler first); resolves with its exit time. */
  stopServer: () => Promise<number>;
  /** With --cpu-prof: starts the server's CPU profiler for a window (no-op otherwise). */
  profileStart: (name: string) => Promise<void>;
  /** Stops it and writes <n>-<name>.cpuprofile in the results directory. */
  profileStop: () => Promise<void>;
  /** With --heap-prof: starts the server's sampling heap profiler (no-op otherwise). */
  heapStart: () => Promise<void>;
  /** Forces a GC, stops it and writes <name>.heapprofile in the results directory (live allocation sites). */
  heapStop: (name: string) => Promise<void>;
  /** Registers something to undo at the end of the run (and on SIGINT/SIGTERM); `sync` kills at exit. */
  addCleanup: (name: string, fn: () => Promise<void> | void, sync?: () => void) => void;
  /** Forces a full GC in the server when the inspector is open; false otherwise. */
  collectGarbage: () => Promise<boolean>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function newResult(name: ScenarioName, title: string): ScenarioResult {
  return {
    name,
    title,
    ok: false,
    startedAt: new Date().toISOString(),
    seconds: 0,
    figures: {},
    series: {},
    tables: {},
    sanity: [],
    notes: [],
  };
}

export function sanity(result: ScenarioResult, check: string, expected: number, actual: number): void {
  result.sanity.push({ check, expected, actual, ok: expected === actual });
}

/** Splits `total` into `parts` near-equal integers. */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}
