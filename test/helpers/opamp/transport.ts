/**
 * The contract between the test agent's supervisor behaviour (supervisor.ts) and its two
 * transport clients (websocket-client.ts, http-client.ts): what a client offers, the events it
 * reports back, and the error of a refused connection.
 *
 * A transport client is the connection half of one opamp-go client object
 * (`client.NewWebSocket()` / `client.NewHTTP()` and its Start): it connects, frames, sends,
 * matches replies and closes. What a message carries, and its sequence number, are the
 * supervisor's; the client asks for the next message through {@link TransportEvents.sendNext}
 * when it has to send one on its own (the first after connecting, an HTTP poll).
 */

import type { AgentToServer, ServerToAgent } from "../../../src/gen/opamp/v1/opamp_pb.js";

/** Thrown by start() (and recorded) when the server refuses the upgrade / the HTTP request. */
export class ConnectionRefusedError extends Error {
  readonly status: number;
  constructor(status: number, endpoint: string) {
    super(`OpAMP server refused the connection to ${endpoint}: HTTP ${status}`);
    this.name = "ConnectionRefusedError";
    this.status = status;
  }
}

/** How long a graceful stop waits for the server's close before dropping the socket (opamp-go). */
export const STOP_TIMEOUT_MS = 5_000;

/** What a transport client reports to the agent that owns it. Handlers must not throw. */
export interface TransportEvents {
  /** Build the client's next message and send it through the client; resolve with its reply. */
  sendNext(): Promise<ServerToAgent>;
  /** A message went out on the WebSocket (opamp-go's heartbeat timer counts from here). */
  sent(): void;
  /** A connection came up: a WebSocket opened, or the first HTTP 200 of a client (or after a failure). */
  connected(): void;
  /** A ServerToAgent arrived and was decoded; called before the reply it answers resolves. */
  received(msg: ServerToAgent): void;
  /** The server refused a connection attempt: a non-101 upgrade or a non-200 HTTP response. */
  refused(status: number): void;
  /** A WebSocket closed; `byServer` unless the agent closed or dropped it itself. */
  closed(close: { code: number; reason: string }, byServer: boolean): void;
  /** An HTTP response arrived (any status). */
  httpResponse(status: number, contentEncoding: string | undefined): void;
  /** Something a real agent would reject (a text frame, an undecodable message). */
  protocolError(what: string): void;
  /** The client stopped for good: the agent's timers for it must stop too. */
  deactivated(): void;
  /** A line for the agent's event log. */
  note(line: string): void;
}

/** One transport client, used by one client object of the agent. */
export interface TransportClient {
  readonly kind: "ws" | "http";
  /** False once stopped or killed: nothing more is sent or processed. */
  readonly active: boolean;
  /** A message can go now (WebSocket open; HTTP client started). */
  readonly canSend: boolean;
  /** Connected now (WebSocket open; HTTP: a 200 since the last failure). */
  readonly isConnected: boolean;
  /**
   * Connects and has the first message sent; resolves once its reply has been processed,
   * rejects with a {@link ConnectionRefusedError} when the server refuses.
   */
  start(): Promise<void>;
  /** Sends one message and resolves with its reply. */
  exchange(msg: AgentToServer): Promise<ServerToAgent>;
  /**
   * Stops the client. With `goodbye`, gracefully: the `agent_disconnect` message it builds goes
   * out where opamp-go sends one, then the connection closes; without, the connection is dropped.
   */
  stop(goodbye: (() => AgentToServer) | undefined): Promise<void>;
  /** Marks the client stopped and cancels its timers, leaving the connection as it is. */
  deactivate(): void;
}
