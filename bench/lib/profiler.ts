/**
 * CPU profiles of the server per scenario window, through the V8 inspector: the server runs
 * with `--inspect=127.0.0.1:<port>` (only with --cpu-prof), and the bench attaches over the
 * inspector's WebSocket (the `ws` client) to start and stop the sampling profiler around each
 * measured window. Profiles are written as .cpuprofile files (open them in Chrome DevTools or
 * speedscope) and ranked in the summary.
 */
import { writeFileSync } from "node:fs";
import WebSocket from "ws";

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class InspectorProfiler {
  #next = 1;
  readonly #pending = new Map<number, Pending>();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const msg = JSON.parse(data.toString("utf8")) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (msg.id === undefined) return;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
    ws.on("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("inspector connection closed"));
      this.#pending.clear();
    });
  }

  static async attach(inspectPort: number): Promise<InspectorProfiler> {
    const res = await fetch(`http://127.0.0.1:${inspectPort}/json/list`, {
      signal: AbortSignal.timeout(5_000),
    });
    const targets = (await res.json()) as { webSocketDebuggerUrl: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error("no inspector target");
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new InspectorProfiler(ws);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async start(samplingIntervalUs = 1000): Promise<void> {
    await this.send("Profiler.enable");
    await this.send("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
    await this.send("Profiler.start");
  }

  async stopTo(file: string): Promise<void> {
    const { profile } = await this.send<{ profile: unknown }>("Profiler.stop");
    writeFileSync(file, JSON.stringify(profile));
  }

  /** Sampling heap profiler: records allocation sites of objects that are still alive at stop. */
  async startHeapSampling(samplingIntervalBytes = 32 * 1024): Promise<void> {
    await this.send("HeapProfiler.enable");
    await this.send("HeapProfiler.startSampling", { samplingInterval: samplingIntervalBytes });
  }

  /** Forces a full garbage collection in the target. */
  async collectGarbage(): Promise<void> {
    await this.send("HeapProfiler.collectGarbage");
  }

  async stopHeapSamplingTo(file: string): Promise<void> {
    const { profile } = await this.send<{ profile: unknown }>("HeapProfiler.stopSampling");
    writeFileSync(file, JSON.stringify(profile));
  }

  close(): void {
    this.ws.close();
  }
}
