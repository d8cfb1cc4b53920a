/**
 * The server under test as a child process: start (`node dist/src/main.js` with an environment),
 * wait until ready, sample its memory and CPU from /proc, scrape /metrics, stop with SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

let clockTicks = 0;

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolvePort(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat. */
export function clkTck(): number {
  if (clockTicks) return clockTicks;
  try {
    clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/** Resident set size of a process, bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** User + system CPU time of a process, seconds (utime + stime of /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clkTck();
}

/**
 * CPU seconds of every PostgreSQL process on this machine (postmaster, backends, walwriter,
 * checkpointer…): what the database cost during a window, next to the server's own CPU. A
 * backend that exits takes its CPU time with it, into its parent's cutime/cstime once reaped:
 * those are counted too (the postmaster's), or a window in which the pool closed connections
 * would show less CPU than before it (a negative figure).
 */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (name !== "postgres") continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // the process ended while we looked
    }
  }
  return total / clkTck();
}

/** Busy CPU seconds of the whole machine, all cores (user, nice, system, irq, softirq of /proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq) / clkTck();
}

/** Prometheus text → value per series (`name{labels}`) and per bare name (first series). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const key = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    out.set(key, value);
    const bare = key.replace(/\{.*$/, "");
    if (!out.has(bare)) out.set(bare, value);
  }
  return out;
}

export interface ServerProcessOptions {
  /** The JavaScript entry (e.g. dist/src/main.js). */
  entry: string;
  env: Record<string, string>;
  port: number;
  logFile: string;
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  cwd: string;
}

export class ServerProcess {
  readonly url: string;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly #exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly startedAt: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.#exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /**
   * Spawns the server and waits until it answers /healthz (listening; no database involved),
   * then, with `requireReady` (the default), until /readyz answers 200.
   */
  static async start(
    opts: ServerProcessOptions & { requireReady?: boolean },
  ): Promise<{ server: ServerProcess; listeningAt: number; readyAt: number | null }> {
    const log = createWriteStream(opts.logFile, { flags: "a" });
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const server = new ServerProcess(child, opts.port, Date.now());
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    const listeningAt = await server.#poll("/healthz", Date.now() + timeoutMs, opts.logFile);
    if (listeningAt === null) {
      child.kill("SIGKILL");
      throw new Error(`server not listening within ${timeoutMs} ms; see ${opts.logFile}`);
    }
    if (opts.requireReady === false) return { server, listeningAt, readyAt: null };
    const readyAt = await server.waitReady(timeoutMs);
    if (readyAt === null) {
      child.kill("SIGKILL");
      throw new Error(`server not ready within ${timeoutMs} ms; see ${opts.logFile}`);
    }
    return { server, listeningAt, readyAt };
  }

  /** Polls /readyz until 200; the time it was first ready, or null after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<number | null> {
    return this.#poll("/readyz", Date.now() + timeoutMs, "");
  }

  async #poll(path: string, deadline: number, logFile: string): Promise<number | null> {
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`server exited (code ${this.exitCode}, signal ${this.exitSignal}); see ${logFile}`);
      }
      try {
        const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return Date.now();
      } catch {
        // not listening yet, or too busy to answer in time
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return null;
  }

  rss(): number {
    return rssOf(this.pid);
  }

  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }

  async metrics(): Promise<Map<string, number>> {
    const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return parseMetrics(await res.text());
  }

  /** SIGTERM (graceful), then SIGKILL after `timeoutMs`; resolves with the exit time. */
  async stop(timeoutMs = 30_000): Promise<number> {
    if (this.running) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
      await this.#exited;
      clearTimeout(timer);
    }
    return Date.now();
  }

  killNow(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}
