/**
 * The test agent's WebSocket transport client, as opamp-go's `wsClient` behaves on the wire:
 * one socket with exactly the client's headers and no permessage-deflate, binary frames of
 * `0x00` + protobuf both ways, replies matched to messages in order, a text or undecodable
 * frame treated as fatal for the connection, `agent_disconnect` + close 1000 on a graceful stop,
 * and (when asked) a reconnect after a close it did not make.
 */

import type { ClientRequest, IncomingMessage } from "node:http";
import WebSocket from "ws";
import type { AgentToServer, ServerToAgent } from "../../../src/gen/opamp/v1/opamp_pb.js";
import { encodeAgentToServerFrame } from "../../../src/opamp/codec.js";
import { decodeServerToAgentFrame } from "./agent-wire.js";
import { type Deferred, deferred } from "./deferred.js";
import {
  ConnectionRefusedError,
  STOP_TIMEOUT_MS,
  type TransportClient,
  type TransportEvents,
} from "./transport.js";

export interface WebSocketClientOptions {
  /** The client object's number, for error messages. */
  id: number;
  endpoint: string;
  headers: Readonly<Record<string, string>>;
  /** Reconnect this long after a close the agent did not make; undefined: never. */
  reconnectDelayMs: number | undefined;
  events: TransportEvents;
}

function rawDataToBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Reply matching: the n-th ServerToAgent after a send is taken as the reply to the n-th
 * outstanding message, as the server answers each message in order; a message the server
 * pushes on its own in between would be taken for a reply.
 */
export class WebSocketClient implements TransportClient {
  readonly kind = "ws";
  private readonly opts: WebSocketClientOptions;
  private readonly events: TransportEvents;
  private isActive = true;
  /** The current socket is open. */
  private open = false;
  private ws: WebSocket | undefined;
  /** Deferreds of messages awaiting their reply, oldest first. */
  private readonly replyWaiters: Deferred<ServerToAgent>[] = [];
  /** Resolves when the current socket has closed. */
  private socketClosed: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Sockets the agent dropped itself after a protocol error (their close is not the server's). */
  private readonly droppedSockets = new WeakSet<WebSocket>();

  constructor(opts: WebSocketClientOptions) {
    this.opts = opts;
    this.events = opts.events;
  }

  get active(): boolean {
    return this.isActive;
  }

  get canSend(): boolean {
    return this.open;
  }

  get isConnected(): boolean {
    return this.open;
  }

  start(): Promise<void> {
    return this.connect();
  }

  exchange(msg: AgentToServer): Promise<ServerToAgent> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`client #${this.opts.id}: socket not open`));
    }
    const reply = deferred<ServerToAgent>();
    this.replyWaiters.push(reply);
    ws.send(encodeAgentToServerFrame(msg));
    this.events.sent();
    return reply.promise;
  }

  /** Sends a raw frame (bad-input tests), binary or text as told. */
  sendRaw(data: Uint8Array | string, binary: boolean): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error("sendRaw needs an open WebSocket");
    ws.send(data, { binary });
  }

  /** Graceful = opamp-go `Stop()`: agent_disconnect, close 1000, wait up to 5 s for the server's close. */
  async stop(goodbye: (() => AgentToServer) | undefined): Promise<void> {
    const ws = this.ws;
    if (goodbye && ws && ws.readyState === WebSocket.OPEN) {
      const msg = goodbye();
      this.deactivate();
      ws.send(encodeAgentToServerFrame(msg));
      ws.close(1000, "Normal closure");
      const timer = setTimeout(() => ws.terminate(), STOP_TIMEOUT_MS);
      await this.socketClosed;
      clearTimeout(timer);
      return;
    }
    this.deactivate();
    ws?.terminate();
    if (ws && ws.readyState !== WebSocket.CLOSED) await this.socketClosed;
  }

  deactivate(): void {
    this.isActive = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.events.deactivated();
  }

  /** Opens a socket; resolves after the reply to its first message is processed. */
  private connect(): Promise<void> {
    const done = deferred<void>();
    const socketClosed = deferred<void>();
    this.socketClosed = socketClosed.promise;
    const ws = new WebSocket(this.opts.endpoint, {
      headers: { ...this.opts.headers },
      // The supervisor never sets EnableCompression, so no permessage-deflate.
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    let opened = false;
    let refusedStatus: number | undefined;
    let lastError: Error | undefined;

    ws.on("unexpected-response", (_req: ClientRequest, res: IncomingMessage) => {
      refusedStatus = res.statusCode ?? 0;
      res.resume();
      this.events.refused(refusedStatus);
      ws.terminate();
    });
    ws.on("open", () => {
      if (!this.isActive) {
        ws.terminate();
        return;
      }
      opened = true;
      this.open = true;
      this.events.connected();
      // First message after connecting: the full report for a new client object, otherwise the
      // pending delta (still sent, because it carries the instance_uid).
      this.events.sendNext().then(
        () => done.resolve(),
        (err: Error) => done.reject(err),
      );
    });
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      if (this.ws !== ws) return;
      if (!isBinary) {
        // opamp-go's receive loop fails on a text frame ("unsupported message type") and drops
        // the connection.
        this.protocolError(ws, "received a text frame; OpAMP frames must be binary");
        return;
      }
      let msg: ServerToAgent;
      try {
        msg = decodeServerToAgentFrame(rawDataToBytes(data));
      } catch (err) {
        this.protocolError(ws, `undecodable ServerToAgent: ${(err as Error).message}`);
        return;
      }
      this.events.received(msg);
      const waiter = this.replyWaiters.shift();
      waiter?.resolve(msg);
    });
    ws.on("error", (err: Error) => {
      lastError = err;
      this.events.note(`socket error: ${err.message}`);
    });
    ws.on("close", (code: number, reasonBuf: Buffer) => {
      const reason = reasonBuf.toString();
      if (this.ws === ws) this.open = false;
      const gone = new Error(`connection closed (code ${code}${reason ? ` "${reason}"` : ""})`);
      for (const waiter of this.replyWaiters.splice(0)) waiter.reject(gone);
      if (!opened) {
        done.reject(
          refusedStatus !== undefined
            ? new ConnectionRefusedError(refusedStatus, this.opts.endpoint)
            : new Error(
                `cannot connect to ${this.opts.endpoint}: ${lastError?.message ?? `closed (${code})`}`,
              ),
        );
      } else {
        done.reject(new Error(`connection closed before the first reply (code ${code})`));
      }
      const byServer = this.isActive && opened && !this.droppedSockets.has(ws);
      this.events.closed({ code, reason }, byServer);
      socketClosed.resolve();
      if (this.isActive && opened && this.opts.reconnectDelayMs !== undefined) this.scheduleReconnect();
    });
    return done.promise;
  }

  /** Same client object (seq continues, delta first message), as opamp-go reconnects. */
  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.isActive) return;
      this.events.note("reconnecting");
      this.connect().catch((err: Error) => {
        this.events.note(`reconnect failed: ${err.message}`);
        if (this.isActive && !this.open) this.scheduleReconnect();
      });
    }, this.opts.reconnectDelayMs ?? 0);
  }

  private protocolError(ws: WebSocket, what: string): void {
    this.events.protocolError(what);
    this.events.note(`protocol error: ${what}`);
    this.droppedSockets.add(ws);
    ws.terminate();
  }
}
