/**
 * One opamp-go client object (`client.NewWebSocket()` / `client.NewHTTP()` and its Start), as
 * the test agent's supervisor makes one per start, restart and followed offer: the transport
 * client for its endpoint's scheme, its place in the status-compression stream (sequence
 * numbers from 0, a full first report), the WebSocket heartbeat timer, and opamp-go's
 * processing of each received message before the supervisor's callbacks see it.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  AgentRemoteConfig,
  AgentToServer,
  AgentToServerSchema,
  ConnectionSettingsOffers,
  OpAMPConnectionSettings,
  ServerToAgent,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability, ServerToAgentFlag } from "../../../src/opamp/codec.js";
import { instanceUidText } from "./agent-wire.js";
import { noop } from "./deferred.js";
import { HttpClient } from "./http-client.js";
import type { Facet, ReportCursor, ReportedStatus } from "./reported-status.js";
import type { TransportClient, TransportEvents } from "./transport.js";
import { WebSocketClient } from "./websocket-client.js";

/** What a client object needs from the agent that owns it (opamp-go: client settings + callbacks). */
export interface ClientHost {
  instanceUid(): Uint8Array;
  readonly capabilities: bigint;
  /** Whether the agent sends its component list when the server asks for it. */
  readonly answersComponentsRequest: boolean;
  readonly status: ReportedStatus;
  /** A message was built and is about to go out. */
  sent(msg: AgentToServer): void;
  /** A message arrived (before it is processed). */
  received(msg: ServerToAgent): void;
  connected(client: ClientObject): void;
  refused(client: ClientObject, status: number): void;
  /** A WebSocket closed; `byServer` unless the agent closed or dropped it itself. */
  closed(client: ClientObject, close: { code: number; reason: string }, byServer: boolean): void;
  httpResponse(status: number, contentEncoding: string | undefined): void;
  protocolError(what: string): void;
  /** Something waits may be waiting for changed. */
  changed(): void;
  note(line: string): void;
  /** AgentToServerFlags of the next message. */
  flags(): bigint;
  /** `agent_identification`: the server assigned a new instance UID. */
  newInstanceUid(uid: Uint8Array): void;
  /** A command (the agent has AcceptsRestartCommand). */
  command(type: number): void;
  /** `remote_config`, when the agent has AcceptsRemoteConfig. */
  remoteConfig(remoteConfig: AgentRemoteConfig): void;
  /** `connection_settings.opamp`. */
  offer(client: ClientObject, offer: OpAMPConnectionSettings): void;
  /** `connection_settings` (own telemetry is handled in OnMessage, before the OpAMP part). */
  connectionSettings(settings: ConnectionSettingsOffers): void;
}

export interface ClientObjectOptions {
  id: number;
  endpoint: string;
  headers: Readonly<Record<string, string>>;
  /** WebSocket heartbeat interval in ms; 0 = off. */
  heartbeatMs: number;
  pollIntervalMs: number;
  reconnectDelayMs: number | undefined;
  httpAgentDisconnect: boolean;
  host: ClientHost;
}

/** The transport a supervisor picks from an endpoint's scheme, or undefined for another scheme. */
export function transportOf(endpoint: string): "ws" | "http" | undefined {
  const scheme = new URL(endpoint).protocol;
  if (scheme === "ws:" || scheme === "wss:") return "ws";
  if (scheme === "http:" || scheme === "https:") return "http";
  return undefined;
}

export class ClientObject implements ReportCursor {
  readonly id: number;
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly transport: TransportClient;
  seq = 0n;
  fullReport = true;
  componentList = false;
  readonly pending = new Set<Facet>();
  private readonly host: ClientHost;
  private heartbeatMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(opts: ClientObjectOptions) {
    this.id = opts.id;
    this.endpoint = opts.endpoint;
    this.headers = opts.headers;
    this.host = opts.host;
    this.heartbeatMs = opts.heartbeatMs;
    const common = { id: opts.id, endpoint: opts.endpoint, headers: opts.headers, events: this.events() };
    if (transportOf(opts.endpoint) === "ws") {
      this.transport = new WebSocketClient({ ...common, reconnectDelayMs: opts.reconnectDelayMs });
    } else {
      this.transport = new HttpClient({
        ...common,
        instanceUid: () => instanceUidText(this.host.instanceUid()),
        pollIntervalMs: opts.pollIntervalMs,
        sendsAgentDisconnect: opts.httpAgentDisconnect,
      });
    }
  }

  /** False once stopped, killed or replaced: nothing more is sent or processed. */
  get active(): boolean {
    return this.transport.active;
  }

  /** Connects; resolves after the reply to the first message. On failure the client stays stopped. */
  async start(): Promise<void> {
    try {
      await this.transport.start();
    } catch (err) {
      // opamp-go would keep retrying in the background; this agent gives up and stays stopped.
      this.transport.deactivate();
      throw err;
    }
  }

  /** Graceful: opamp-go `Stop()` (agent_disconnect where it sends one); otherwise the connection is dropped. */
  async stop(graceful: boolean): Promise<void> {
    if (!this.active) return;
    await this.transport.stop(graceful ? () => this.compose({ agentDisconnect: {} }) : undefined);
    this.note(`stopped (${graceful ? "graceful" : "killed"})`);
  }

  /** Sends the next message now and resolves with its reply. */
  transmit(extra?: MessageInitShape<typeof AgentToServerSchema>): Promise<ServerToAgent> {
    if (!this.active || !this.transport.canSend) {
      return Promise.reject(new Error(`client #${this.id} is not connected`));
    }
    return this.transport.exchange(this.compose(extra));
  }

  /** Sends whatever is pending (opamp-go `ScheduleSend`); nothing if nothing changed or not connected. */
  flush(): void {
    if (!this.active || !this.transport.canSend) return;
    if (!this.fullReport && !this.componentList && this.pending.size === 0) return;
    this.transmit().catch((err: Error) => this.host.note(`send failed: ${err.message}`));
  }

  /** opamp-go v0.23.0 applies an offered heartbeat interval to the current client, even 0. */
  setHeartbeatInterval(ms: number): void {
    this.heartbeatMs = ms;
    this.armHeartbeat();
  }

  private compose(extra?: MessageInitShape<typeof AgentToServerSchema>): AgentToServer {
    const host = this.host;
    const msg = host.status.compose(
      this,
      { instanceUid: host.instanceUid(), capabilities: host.capabilities, flags: host.flags() },
      extra,
    );
    host.sent(msg);
    return msg;
  }

  private armHeartbeat(): void {
    this.clearHeartbeat();
    // The opamp-go timer counts from the last message sent; 0 disables it.
    if (this.heartbeatMs <= 0 || !this.active) return;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      if (this.active && this.transport.canSend) this.transmit().catch(noop);
    }, this.heartbeatMs);
  }

  private clearHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private note(line: string): void {
    this.host.note(`client #${this.id}: ${line}`);
  }

  private events(): TransportEvents {
    const host = this.host;
    return {
      sendNext: () => this.transmit(),
      sent: () => this.armHeartbeat(),
      connected: () => host.connected(this),
      received: (msg) => {
        host.received(msg);
        if (this.active) {
          this.process(msg);
        } else {
          this.note("ignored a message received after stopping");
        }
        host.changed();
      },
      refused: (status) => host.refused(this, status),
      closed: (close, byServer) => {
        this.clearHeartbeat();
        host.closed(this, close, byServer);
      },
      httpResponse: (status, contentEncoding) => host.httpResponse(status, contentEncoding),
      protocolError: (what) => host.protocolError(what),
      deactivated: () => this.clearHeartbeat(),
      note: (line) => this.note(line),
    };
  }

  /** opamp-go `receivedProcessor.ProcessReceivedMessage`, then whatever became pending goes out. */
  private process(msg: ServerToAgent): void {
    const host = this.host;
    const caps = host.capabilities;
    if (msg.command && caps & AgentCapability.AcceptsRestartCommand) {
      // opamp-go: a command excludes every other field of the message.
      this.note(`received command ${msg.command.type}`);
      host.command(msg.command.type);
      return;
    }
    if (msg.flags & ServerToAgentFlag.ReportFullState) {
      this.note("server asked for the full state");
      this.fullReport = true;
      // opamp-go's full state carries the whole AvailableComponents it holds.
      this.componentList = true;
    }
    if (msg.flags & ServerToAgentFlag.ReportAvailableComponents) {
      this.note("server asked for the available components");
      if (host.answersComponentsRequest) this.componentList = true;
    }
    if (msg.agentIdentification) host.newInstanceUid(msg.agentIdentification.newInstanceUid);
    if (msg.remoteConfig && caps & AgentCapability.AcceptsRemoteConfig) host.remoteConfig(msg.remoteConfig);
    if (msg.connectionSettings) host.connectionSettings(msg.connectionSettings);
    const offer = msg.connectionSettings?.opamp;
    if (offer) host.offer(this, offer);
    if (msg.errorResponse) host.note(`server error response: ${msg.errorResponse.errorMessage}`);
    this.flush();
  }
}
