/**
 * The pool of load-generator processes (bench/agent-worker.ts), one source address each
 * (127.0.0.11, 127.0.0.12, …), driven with request/reply messages over IPC.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Mark, ParentToWorker, WorkerStats, WorkerToParent } from "./ipc.js";

const WORKER_ENTRY = fileURLToPath(new URL("../agent-worker.ts", import.meta.url));

/** Distributive Omit, so a union of commands keeps its members. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type Command = DistributiveOmit<Exclude<ParentToWorker, { type: "init" | "exit" }>, "id">;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class WorkerHandle {
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly done = new Map<Mark, number>();
  readonly #doneWaiters: (() => void)[] = [];
  exited = false;

  constructor(
    readonly index: number,
    readonly localAddress: string,
    readonly child: ChildProcess,
  ) {
    child.on("message", (m: WorkerToParent) => this.#onMessage(m));
    child.on("exit", (code, signal) => {
      this.exited = true;
      for (const p of this.#pending.values())
        p.reject(new Error(`worker ${index} exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  #onMessage(m: WorkerToParent): void {
    if (m.type === "reply") {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.data);
      else p.reject(new Error(`worker ${this.index}: ${m.error}`));
    } else if (m.type === "done") {
      this.done.set(m.what, m.at);
      for (const w of this.#doneWaiters.splice(0)) w();
    } else if (m.type === "log") {
      process.stderr.write(`[worker ${this.index}] ${m.line}\n`);
    }
  }

  request<T>(cmd: Command): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.index} has exited`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...cmd, id } as ParentToWorker);
    });
  }

  onDone(cb: () => void): void {
    this.#doneWaiters.push(cb);
  }
}

export interface PoolOptions {
  workers: number;
  /** Last octet of the first source address (127.0.0.<first>, then +1 per worker). */
  firstAddressOctet: number;
  hardDeadlineMs: number;
}

export class WorkerPool {
  private constructor(readonly workers: WorkerHandle[]) {}

  static async start(opts: PoolOptions): Promise<WorkerPool> {
    const handles: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < opts.workers; i++) {
      const octet = opts.firstAddressOctet + i;
      const localAddress = `127.0.${Math.floor(octet / 250)}.${(octet % 250) + 1}`;
      const child = fork(WORKER_ENTRY, [], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        serialization: "advanced",
      });
      const handle = new WorkerHandle(i, localAddress, child);
      handles.push(handle);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`worker ${i} did not start in 30 s`)), 30_000);
          child.once("error", reject);
          child.on("message", (m: WorkerToParent) => {
            if (m.type === "ready") {
              clearTimeout(timer);
              resolve();
            }
          });
          child.once("exit", (code) => reject(new Error(`worker ${i} exited at start (${code})`)));
        }),
      );
      child.send({ type: "init", workerId: i, localAddress, hardDeadlineMs: opts.hardDeadlineMs });
    }
    await Promise.all(ready);
    return new WorkerPool(handles);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Same command (or one per worker) to every worker, answers in worker order. */
  all<T>(cmd: Command | ((w: WorkerHandle) => Command | undefined)): Promise<T[]> {
    return Promise.all(
      this.workers.flatMap((w) => {
        const c = typeof cmd === "function" ? cmd(w) : cmd;
        return c ? [w.request<T>(c)] : [];
      }),
    );
  }

  stats(): Promise<WorkerStats[]> {
    return this.all<WorkerStats>({ type: "stats" });
  }

  /**
   * Arms a mark in every worker; resolves when each worker reported `done` for it or the
   * timeout passed (then `complete` is false).
   */
  async armAndWait(
    what: Mark,
    trigger: () => Promise<void>,
    timeoutMs: number,
    workers: WorkerHandle[] = this.workers,
  ): Promise<{ complete: boolean; doneAt: number[] }> {
    for (const w of workers) w.done.delete(what);
    await Promise.all(workers.map((w) => w.request({ type: "arm", what })));
    await trigger();
    const deadline = Date.now() + timeoutMs;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (workers.every((w) => w.done.has(what)) || Date.now() >= deadline) {
          clearTimeout(timer);
          resolve();
          return true;
        }
        return false;
      };
      const timer = setTimeout(resolve, timeoutMs);
      if (check()) return;
      for (const w of workers) {
        const again = () => {
          if (!check()) w.onDone(again);
        };
        w.onDone(again);
      }
    });
    return {
      complete: workers.every((w) => w.done.has(what)),
      doneAt: workers.map((w) => w.done.get(what) ?? 0),
    };
  }

  /** Asks every worker to exit, then kills what is left. */
  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exited || w.child.exitCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => {
              w.child.kill("SIGKILL");
              resolve();
            }, 3_000);
            w.child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            try {
              w.child.send({ type: "exit" });
            } catch {
              w.child.kill("SIGKILL");
            }
          }),
      ),
    );
  }

  /** Synchronous last resort (process exit handler). */
  killNow(): void {
    for (const w of this.workers) if (!w.exited) w.child.kill("SIGKILL");
  }
}
