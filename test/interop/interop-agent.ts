/**
 * Runs the Go harness (test/interop/client, built on opamp-go's client) as a child process and
 * collects the JSON-line events it prints. Every started process is tracked so a test run never
 * leaves one behind: stop() closes stdin (a clean OpAMP disconnect), then SIGTERM, then SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export interface InteropEvent {
  event: string;
  ts: string;
  client?: number;
  // biome-ignore lint/suspicious/noExplicitAny: events are free-form JSON.
  [key: string]: any;
}

export interface InteropAgentOptions {
  binary: string;
  endpoint: string;
  token: string;
  /** Shared between runs to play a restarted supervisor (same instance uid, last status). */
  stateDir?: string;
  /** Heartbeat / HTTP polling interval before any offer (the supervisor's default is 30 s). */
  heartbeatSeconds?: number;
  noAcceptsConnectionSettings?: boolean;
  extraArgs?: string[];
}

const live = new Set<InteropAgent>();

/** Stops every harness process still running (afterEach / afterAll safety net). */
export async function stopAllInteropAgents(): Promise<void> {
  await Promise.all([...live].map((a) => a.stop().catch(() => undefined)));
}

export async function tempStateDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "opamp-interop-state-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export class InteropAgent {
  readonly events: InteropEvent[] = [];
  readonly stderr: string[] = [];
  #proc: ChildProcess | undefined;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  #waiters: Array<() => void> = [];

  constructor(readonly options: InteropAgentOptions) {}

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  start(): this {
    const o = this.options;
    const args = ["-endpoint", o.endpoint, "-heartbeat", String(o.heartbeatSeconds ?? 30)];
    if (o.stateDir) args.push("-state-dir", o.stateDir);
    if (o.noAcceptsConnectionSettings) args.push("-no-accepts-connection-settings");
    args.push(...(o.extraArgs ?? []));
    const proc = spawn(o.binary, args, {
      // The token travels like the supervisor's ${env:AGENT_API_ENROLLMENT_TOKEN}, not in argv.
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        AGENT_API_ENROLLMENT_TOKEN: o.token,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#proc = proc;
    live.add(this);
    this.#exit = new Promise((resolve) => {
      proc.on("exit", (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
        this.#notify();
      });
    });
    proc.stdin?.on("error", () => undefined);
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as InteropEvent);
      } catch {
        this.events.push({ event: "unparsed", ts: new Date().toISOString(), line });
      }
      this.#notify();
    });
    createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      this.stderr.push(line);
    });
    return this;
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Events of one kind (optionally matching a predicate), in order. */
  all(event: string, match: (e: InteropEvent) => boolean = () => true): InteropEvent[] {
    return this.events.filter((e) => e.event === event && match(e));
  }

  /** Waits for the first event (at or after index `from`) of a kind that matches. */
  async waitFor(
    event: string,
    match: (e: InteropEvent) => boolean = () => true,
    timeoutMs = 10_000,
    from = 0,
  ): Promise<InteropEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find((e) => e.event === event && match(e));
      if (found) return found;
      if (!this.running && this.#proc) {
        throw new Error(`harness exited before "${event}"\n${this.transcript()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out after ${timeoutMs} ms waiting for "${event}"\n${this.transcript()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The last events and stderr lines, for failure messages. */
  transcript(n = 40): string {
    const ev = this.events
      .slice(-n)
      .map((e) => JSON.stringify({ ...e, body: e.body ? `${String(e.body).length} chars` : undefined }));
    return `--- events (last ${n}) ---\n${ev.join("\n")}\n--- stderr ---\n${this.stderr.slice(-10).join("\n")}`;
  }

  /**
   * Stops the process: closes stdin (the harness then reports "Supervisor is shutdown", sends
   * agent_disconnect and closes the socket), then SIGTERM after 8 s, then SIGKILL after 3 s more.
   */
  async stop(
    how: "stdin" | "sigterm" = "stdin",
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.#proc;
    const exit = this.#exit;
    if (!proc || !exit) return { code: null, signal: null };
    if (!this.running) return exit;
    if (how === "sigterm") proc.kill("SIGTERM");
    else proc.stdin?.end();
    const timer1 = setTimeout(() => proc.kill("SIGTERM"), 8_000);
    const timer2 = setTimeout(() => proc.kill("SIGKILL"), 11_000);
    try {
      return await exit;
    } finally {
      clearTimeout(timer1);
      clearTimeout(timer2);
    }
  }
}
