/**
 * Runs the real opampsupervisor (with templates/supervisor/supervisor.yaml, as shipped) and
 * watches its collector. Every supervisor gets its own storage directory; the collector it starts
 * is found by that directory in its command line (`--config <storage>/effective.yaml`), so the
 * suite can check it runs, and kill exactly it if a supervisor ever leaves it behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { eventually } from "../helpers/fleet.js";
import { repoRoot } from "../interop/go-toolchain.js";
import type { E2eBinaries } from "./e2e-toolchain.js";

export const SUPERVISOR_TEMPLATE = join(repoRoot(), "templates", "supervisor", "supervisor.yaml");

export interface SupervisorLog {
  level?: string;
  msg?: string;
  error?: string;
  // biome-ignore lint/suspicious/noExplicitAny: zap JSON lines are free-form.
  [key: string]: any;
}

const live = new Set<Supervisor>();

export async function stopAllSupervisors(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop().catch(() => undefined)));
}

/** A free loopback TCP port (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** PIDs of processes whose command line mentions `needle` (e.g. a storage directory). */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = (await readFile(`/proc/${name}/cmdline`, "utf8")).replaceAll("\0", " ");
      if (cmd.includes(needle)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out.filter((p) => p !== process.pid);
}

export interface SupervisorOptions {
  binaries: E2eBinaries;
  endpoint: string;
  token: string;
  storageDir: string;
  /** Extra environment for the supervisor (its collector inherits it). */
  env?: Record<string, string>;
}

export class Supervisor {
  readonly logs: SupervisorLog[] = [];
  readonly raw: string[] = [];
  #proc: ChildProcess | undefined;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  constructor(readonly options: SupervisorOptions) {}

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  start(): this {
    const o = this.options;
    const proc = spawn(o.binaries.supervisor, ["--config", SUPERVISOR_TEMPLATE], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        AGENT_API_OPAMP_ENDPOINT: o.endpoint,
        AGENT_API_ENROLLMENT_TOKEN: o.token,
        AGENT_API_COLLECTOR_EXECUTABLE: o.binaries.collector,
        AGENT_API_SUPERVISOR_STORAGE: o.storageDir,
        ...o.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#proc = proc;
    live.add(this);
    this.#exit = new Promise((resolve) => {
      proc.on("exit", (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
      });
    });
    const onLine = (line: string) => {
      this.raw.push(line);
      try {
        this.logs.push(JSON.parse(line) as SupervisorLog);
      } catch {
        this.logs.push({ msg: line });
      }
    };
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", onLine);
    createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on("line", onLine);
    return this;
  }

  /** Log lines (msg + error) matching a pattern. */
  matching(re: RegExp, from = 0): SupervisorLog[] {
    return this.logs.slice(from).filter((l) => re.test(`${l.msg ?? ""} ${l.error ?? ""}`));
  }

  async waitForLog(re: RegExp, timeoutMs = 15_000, from = 0): Promise<SupervisorLog> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.matching(re, from)[0];
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for supervisor log ${re}\n${await this.transcript()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The collector processes this supervisor runs (found by its storage dir). */
  async collectorPids(): Promise<number[]> {
    const pids = await pidsMentioning(join(this.options.storageDir, "effective.yaml"));
    const own: number[] = [];
    for (const pid of pids) {
      try {
        const exe = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0")[0];
        if (exe === this.options.binaries.collector) own.push(pid);
      } catch {
        // exited
      }
    }
    return own;
  }

  async transcript(n = 40): Promise<string> {
    const agentLog = join(this.options.storageDir, "agent.log");
    const tail = existsSync(agentLog)
      ? (await readFile(agentLog, "utf8")).split("\n").slice(-15).join("\n")
      : "";
    return `--- supervisor (last ${n}) ---\n${this.raw
      .slice(-n)
      .map((l) => l.slice(0, 600))
      .join("\n")}\n--- collector agent.log (tail) ---\n${tail}`;
  }

  /**
   * SIGTERM (the supervisor stops its collector and sends agent_disconnect), SIGKILL after 20 s;
   * then makes sure its collector is gone (SIGTERM, then SIGKILL, by PID).
   */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.#proc;
    const exit = this.#exit;
    if (!proc || !exit) return { code: null, signal: null };
    if (this.running) proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    let result: { code: number | null; signal: NodeJS.Signals | null };
    try {
      result = await exit;
    } finally {
      clearTimeout(timer);
    }
    if (process.env.E2E_LOG_DIR) {
      // Keep the supervisor's log for inspection (E2E_LOG_DIR=/some/dir npm run test:e2e).
      await mkdir(process.env.E2E_LOG_DIR, { recursive: true });
      await writeFile(
        join(process.env.E2E_LOG_DIR, `supervisor-${proc.pid}.log`),
        `${this.raw.join("\n")}\n`,
      );
    }
    for (let i = 0; i < 50; i++) {
      const left = await this.collectorPids();
      if (left.length === 0) break;
      for (const pid of left) {
        try {
          process.kill(pid, i < 30 ? "SIGTERM" : "SIGKILL");
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return result;
  }
}

/** POSTs one OTLP/HTTP JSON span to a collector's OTLP receiver. */
export async function sendSpan(port: number, name: string): Promise<Response> {
  const span = {
    traceId: "5b8efff798038103d269b633813fc60c",
    spanId: "eee19b7ec3c1b174",
    name,
    kind: 1,
    startTimeUnixNano: "1700000000000000000",
    endTimeUnixNano: "1700000000001000000",
  };
  return fetch(`http://127.0.0.1:${port}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: {}, spans: [span] }] }],
    }),
    signal: AbortSignal.timeout(3_000),
  });
}

/** The collector answers on `port` and writes the span it received to `file`. */
export async function collectorServes(port: number, file: string, spanName: string): Promise<void> {
  await eventually(
    async () => ((await sendSpan(port, spanName)).status === 200 ? true : undefined),
    20_000,
    `the collector's OTLP receiver on ${port}`,
  );
  await eventually(
    async () => ((await readFile(file, "utf8").catch(() => "")).includes(spanName) ? true : undefined),
    10_000,
    `span ${spanName} in ${file}`,
  );
}
