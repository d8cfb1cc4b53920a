/**
 * Baseline: a bare `ws` server (same ws version, same options as agent-api's transport:
 * perMessageDeflate off, binary frames, a ping every 30 s) that echoes every message and can
 * broadcast one payload to every socket. No auth, no protobuf, no database: what this machine can do at all
 * with the same sockets. Run by the bench parent with `fork` (plain Node type stripping; only
 * erasable TypeScript here) and driven over IPC (bench/lib/ipc.ts, ParentToBaseline).
 */
import { createServer } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { WebSocketServer } from "ws";
import type { BaselineStats, BaselineToParent, ParentToBaseline } from "./lib/ipc.js";

const port = Number(process.env.BASELINE_PORT ?? 0);
const http = createServer((_req, res) => {
  res.writeHead(426).end();
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: true });
let received = 0;
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

// Dead-peer detection as agent-api's transport does it (ws README recipe): ping every 30 s.
const alive = new WeakMap<object, boolean>();
setInterval(() => {
  for (const ws of wss.clients) {
    if (alive.get(ws) === false) {
      ws.terminate();
      continue;
    }
    alive.set(ws, false);
    ws.ping();
  }
}, 30_000).unref();

wss.on("connection", (ws) => {
  alive.set(ws, true);
  ws.on("pong", () => alive.set(ws, true));
  ws.on("message", (data, isBinary) => {
    received++;
    ws.send(data, { binary: isBinary });
  });
  ws.on("error", () => ws.terminate());
});

function reply(msg: BaselineToParent): void {
  process.send?.(msg);
}

process.on("message", (msg: ParentToBaseline) => {
  if (msg.type === "exit") {
    for (const ws of wss.clients) ws.terminate();
    process.exit(0);
  }
  if (msg.type === "gc") {
    // Run with --expose-gc: memory figures are taken after a full GC, as for agent-api.
    (globalThis as { gc?: () => void }).gc?.();
    reply({ type: "reply", id: msg.id, data: null });
    return;
  }
  if (msg.type === "broadcast") {
    const payload = Buffer.alloc(msg.bytes, 0x61);
    const sendStartAt = Date.now();
    for (const ws of wss.clients) ws.send(payload, { binary: true });
    const sendEndAt = Date.now();
    reply({ type: "reply", id: msg.id, data: { sendStartAt, sendEndAt } });
    return;
  }
  if (msg.type === "stats") {
    const data: BaselineStats = {
      connections: wss.clients.size,
      received,
      eventLoopLag: {
        p50Ms: lag.percentile(50) / 1e6,
        p99Ms: lag.percentile(99) / 1e6,
        maxMs: lag.max / 1e6,
      },
    };
    lag.reset();
    reply({ type: "reply", id: msg.id, data });
  }
});

process.on("disconnect", () => process.exit(0));
// A hard stop whatever the parent does.
setTimeout(() => process.exit(3), Number(process.env.BASELINE_DEADLINE_MS ?? 3_600_000));

http.listen(port, "127.0.0.1", () => {
  const address = http.address();
  reply({ type: "listening", port: typeof address === "object" && address ? address.port : 0 });
});
