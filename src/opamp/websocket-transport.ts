/**
 * OpAMP over WebSocket: binary frames of 0x00 + protobuf, one AgentToServer at a time per
 * connection (ws emits `message` while an earlier async handler is still running, so frames are
 * chained on a per-connection queue), a reply to every message, and pushes on the same queue.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { ConnectionAuth } from "../fleet/agents/types.js";
import type { ServerToAgent } from "../gen/opamp/v1/opamp_pb.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { decodeAgentToServerFrame, encodeServerToAgentFrame, isPlainAck } from "./codec.js";
import { badRequest, CLOSE, unavailable } from "./errors.js";
import type { AgentEndpoint, ConnectionRegistry } from "./registry.js";
import { AgentSession, type SessionDeps } from "./session.js";

export interface WebSocketTransportOptions {
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
  /** Dead-peer detection: ping this often, terminate when the previous ping got no pong. */
  pingIntervalMs: number;
  /** Frames waiting on one connection before it is closed as abusive. */
  maxQueuedFrames: number;
}

interface Tracked extends WebSocket {
  /** Last time the peer sent anything (a message or a pong). */
  heardAt?: number;
  pingedAt?: number;
}

const EMPTY_UID = new Uint8Array();
/** Ticks per ping interval. */
const PING_SLICES = 30;
/** Silence (in ping intervals) after which a socket is pinged. */
const SILENCE_INTERVALS = 1.5;

export class WebSocketTransport {
  readonly #wss: WebSocketServer;
  readonly #pingTimer: NodeJS.Timeout;
  #pingSlice = 0;
  /** Sockets by ping slice (assigned round-robin at connect): a tick walks only its own slice. */
  readonly #slices: Set<Tracked>[] = Array.from({ length: PING_SLICES }, () => new Set<Tracked>());
  #nextSlice = 0;

  constructor(
    private readonly sessionDeps: SessionDeps,
    private readonly registry: ConnectionRegistry,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: WebSocketTransportOptions,
  ) {
    this.#wss = new WebSocketServer({
      noServer: true,
      // ws closes with 1009 above this (spec: SHOULD close with 1009).
      maxPayload: options.maxMessageBytes,
      // Deflate is off: supervisors never negotiate it, and zlib per socket is a known memory trap.
      perMessageDeflate: false,
      // Bounds fragment floods (ws closes with 1008).
      maxFragments: 16 * 1024,
      clientTracking: true,
    });
    // Pings are spread over the interval (one slice of the sockets per tick): touching 19,000
    // sockets in one synchronous loop stalls the event loop for half a second.
    this.#pingTimer = setInterval(
      () => this.#ping(),
      Math.max(1, Math.floor(options.pingIntervalMs / PING_SLICES)),
    );
    this.#pingTimer.unref();
  }

  /** Completes an upgrade that was already authenticated. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, auth: ConnectionAuth): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws as Tracked, auth));
  }

  #onConnection(ws: Tracked, auth: ConnectionAuth): void {
    const slice = this.#slices[this.#nextSlice++ % PING_SLICES];
    slice?.add(ws);
    const session = new AgentSession(auth, randomUUID(), "websocket", this.sessionDeps);
    this.metrics.opampConnect("websocket", auth.kind);
    ws.heardAt = Date.now();
    let queue: Promise<void> = Promise.resolve();
    let queued = 0;
    let closed = false;

    // The answer to a heartbeat is the same bytes every time on this connection: encoded once.
    let ackFrame: Uint8Array | undefined;
    const send = (msg: ServerToAgent) => {
      if (ws.readyState !== ws.OPEN) return;
      if (!isPlainAck(msg)) {
        ws.send(encodeServerToAgentFrame(msg), { binary: true });
        return;
      }
      ackFrame ??= encodeServerToAgentFrame(msg);
      ws.send(ackFrame, { binary: true });
    };
    const endpoint: AgentEndpoint = {
      session,
      push: (msg) => {
        queue = queue.then(() => send(msg));
      },
      close: (code, reason) => ws.close(code, reason),
    };
    const enqueue = (task: () => Promise<void>) => {
      queued++;
      if (queued > this.options.maxQueuedFrames) {
        ws.close(CLOSE.policyViolation, "too many frames in flight");
        return;
      }
      queue = queue
        .then(task)
        .catch((err: unknown) => {
          // A transient failure (the database pool timing out under a storm) must not drop the
          // socket: every agent would reconnect at once and make the storm worse. The agent gets
          // an Unavailable error (it just logs it) and the connection stays.
          this.logger.error({ err, connectionId: session.connectionId }, "OpAMP message handling failed");
          send(
            unavailable(
              session.instanceUid ?? EMPTY_UID,
              "the server could not process this message; try later",
            ),
          );
        })
        .finally(() => {
          queued--;
        });
    };

    const handshake = setTimeout(() => {
      if (session.state === "new") ws.close(CLOSE.policyViolation, "no AgentToServer received in time");
    }, this.options.handshakeTimeoutMs);

    ws.on("pong", () => {
      ws.heardAt = Date.now();
    });
    ws.on("message", (data: RawData, isBinary: boolean) => {
      ws.heardAt = Date.now();
      if (!isBinary) {
        // OpAMP frames are binary; opamp-go treats text frames as a protocol error too.
        this.metrics.opampRejected("text_frame");
        ws.close(CLOSE.unsupportedData, "OpAMP messages must be binary frames");
        return;
      }
      // ws hands binary frames over as a Buffer already (nodebuffer binaryType): no copy.
      const frame = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      enqueue(async () => {
        if (closed) return;
        const decoded = decodeAgentToServerFrame(frame, { maxBytes: this.options.maxMessageBytes });
        if (!decoded.ok) {
          if (decoded.reason === "too_large") {
            ws.close(CLOSE.tooBig, "message too large");
            return;
          }
          this.metrics.opampRejected(decoded.reason);
          send(badRequest(EMPTY_UID, `undecodable AgentToServer: ${decoded.detail}`));
          return;
        }
        const { reply, claimed } = await this.registry.handle(endpoint, decoded.message);
        if (claimed) clearTimeout(handshake);
        send(reply);
      });
    });
    ws.on("close", (code, reasonBytes) => {
      slice?.delete(ws);
      closed = true;
      clearTimeout(handshake);
      const ref = session.ref;
      if (ref) this.registry.release(ref, endpoint);
      const why = reasonBytes.length > 0 ? `close ${code}: ${reasonBytes.toString("utf8")}` : `close ${code}`;
      queue = queue.then(() =>
        session.end(why).catch((err: unknown) => this.logger.warn({ err }, "marking agent offline failed")),
      );
      this.metrics.opampDisconnect(
        "websocket",
        session.state === "closed" ? "agent_disconnect" : `close_${code}`,
      );
    });
    ws.on("error", (err) => {
      this.logger.info({ err: err.message, connectionId: session.connectionId }, "OpAMP WebSocket error");
    });
  }

  /**
   * Pings only sockets that have been silent: an agent heartbeating every interval proves it is
   * alive by itself, and a ping per socket per interval costs as much CPU as its heartbeat. A
   * socket is terminated when its ping got no answer (no pong, no message) for a whole interval.
   */
  #ping(): void {
    const slice = this.#slices[this.#pingSlice] ?? new Set<Tracked>();
    this.#pingSlice = (this.#pingSlice + 1) % PING_SLICES;
    const now = Date.now();
    const interval = this.options.pingIntervalMs;
    for (const client of slice) {
      const heardAt = client.heardAt ?? 0;
      // Heard from recently (heartbeats come once an interval, give or take the agent's jitter).
      if (now - heardAt < interval * SILENCE_INTERVALS) continue;
      if (client.pingedAt !== undefined && client.pingedAt > heardAt) {
        // Pinged and silent since: dead once the ping had a whole interval to be answered.
        if (now - client.pingedAt >= interval) client.terminate();
        continue;
      }
      client.pingedAt = now;
      client.ping();
    }
  }

  get connectionCount(): number {
    return this.#wss.clients.size;
  }

  /**
   * Closes every connection with 1001 ("going away"), in paced batches so that thousands of
   * agents do not reconnect to the surviving replicas in the same instant.
   */
  async stop(batchSize = 500, pauseMs = 50): Promise<void> {
    clearInterval(this.#pingTimer);
    const clients = [...this.#wss.clients];
    for (let i = 0; i < clients.length; i += batchSize) {
      for (const c of clients.slice(i, i + batchSize)) c.close(CLOSE.goingAway, "server shutting down");
      if (i + batchSize < clients.length) await new Promise((r) => setTimeout(r, pauseMs));
    }
    const deadline = Date.now() + 3_000;
    while (this.#wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const c of this.#wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
