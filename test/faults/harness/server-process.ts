/**
 * The real server as a child process (`node --import tsx src/main.ts`, as `npm run dev` runs
 * it), on a port of its own, against the fault test's cluster. Its log goes to a file; the test
 * reads /healthz, /readyz and the REST API over HTTP like an operator would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { issueToken } from "../../../src/credentials/index.js";

const ROOT = new URL("../../..", import.meta.url).pathname;
/** One local KMS key for every replica of a test, so each can open the others' secrets. */
const LOCAL_KMS_KEY = Buffer.alloc(32, 7).toString("base64");

export interface ServerProcessOptions {
  /** A name for logs and REPLICA_ID. */
  name: string;
  databaseUrl: string;
  dataDir: string;
  /** Extra environment (overrides the defaults below). */
  env?: Record<string, string>;
  operatorKey?: string;
}

export class AgentApiProcess {
  readonly operatorKey: string;
  readonly url: string;
  readonly logFile: string;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly port: number,
    operatorKey: string,
    logFile: string,
  ) {
    this.operatorKey = operatorKey;
    this.url = `http://127.0.0.1:${port}`;
    this.logFile = logFile;
    this.#exit = once(child, "exit").then(([code, signal]) => ({ code, signal }));
  }

  /** Spawns the server and waits until /readyz answers 200. */
  static async start(opts: ServerProcessOptions): Promise<AgentApiProcess> {
    mkdirSync(opts.dataDir, { recursive: true });
    const operatorKey = opts.operatorKey ?? issueToken("admin").plaintext;
    const logFile = join(opts.dataDir, `${opts.name}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: opts.databaseUrl,
        DATA_DIR: opts.dataDir,
        ADMIN_TOKEN: operatorKey,
        LOCAL_KMS_KEY,
        LOG_LEVEL: "info",
        REPLICA_ID: opts.name,
        SHUTDOWN_GRACE_MS: "3000",
        ...opts.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${opts.name} did not listen in 30 s; see ${logFile}`)),
        30_000,
      );
      child.stdout?.on("data", (d: Buffer) => {
        log.write(d);
        if (out.length < 100_000) out += String(d);
        const m = /"port":(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.stderr?.on("data", (d: Buffer) => log.write(d));
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${opts.name} exited (${code}) before listening; see ${logFile}`));
      });
    });
    const p = new AgentApiProcess(opts.name, child, port, operatorKey, logFile);
    await p.waitReadyz(200, 30_000);
    return p;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The status of GET `path` (0 when the request itself fails or times out). */
  async status(path: string, timeoutMs = 3_000): Promise<number> {
    try {
      const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Polls /readyz until it answers `status`; the milliseconds it took. */
  async waitReadyz(status: 200 | 503, timeoutMs: number): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      if (!this.running) throw new Error(`${this.name} exited; see ${this.logFile}`);
      if ((await this.status("/readyz", 2_000)) === status) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name}: /readyz did not answer ${status} within ${timeoutMs} ms`);
  }

  /** The server's log so far. */
  log(): string {
    return readFileSync(this.logFile, "utf8");
  }

  /** SIGKILL: no drain, no lease release, sockets dropped by the kernel. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill("SIGKILL");
    await this.#exit;
  }

  /** SIGTERM and the exit it leads to. */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const started = Date.now();
    if (this.running) this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    const exit = await this.#exit;
    clearTimeout(timer);
    return { ...exit, ms: Date.now() - started };
  }
}
