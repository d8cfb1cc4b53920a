/**
 * A test agent that behaves on the wire like the OpenTelemetry Collector OpAMP Supervisor
 * (`opampsupervisor`, built on opamp-go v0.23.0), so integration tests can drive the server's
 * whole handshake over a real socket: enrollment with an `xse_` token, following the
 * connection-settings offer to an `xag_` key, remote config, heartbeats, restarts.
 *
 * What it reproduces (see shared/reference/opamp-server-brief.md §1, §3, §4):
 * - Transport from the URL scheme, as the supervisor does: `ws(s)://` → one WebSocket carrying
 *   binary frames `0x00` + protobuf; `http(s)://` → POST polling with bare protobuf bodies.
 * - One "client object" per start, like `client.NewWebSocket(...)`: `sequence_num` starts at 0
 *   and goes up by one per message; the first message is a full report; later ones carry only
 *   what changed (status compression); `ReportFullState` makes the next one full again.
 * - The supervisor's handling of `remote_config` (APPLYING, then APPLIED or FAILED) and of an
 *   OpAMP connection-settings offer (stop with `agent_disconnect` + close 1000, then a NEW client
 *   with exactly the offered headers).
 *
 * What it deliberately does not do: retry a refused connection (opamp-go retries forever with
 * backoff; tests assert the refusal instead), TLS settings from offers, packages, custom
 * messages, own-telemetry settings, WS compression (the supervisor never enables it).
 */

import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { gunzipSync } from "node:zlib";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import WebSocket from "ws";
import type { KeyValue } from "../../src/gen/opamp/v1/anyvalue_pb.js";
import {
  type AgentDescription,
  AgentDescriptionSchema,
  type AgentToServer,
  AgentToServerSchema,
  type ComponentHealth,
  ComponentHealthSchema,
  type EffectiveConfig,
  EffectiveConfigSchema,
  type OpAMPConnectionSettings,
  type RemoteConfigStatus,
  RemoteConfigStatuses,
  RemoteConfigStatusSchema,
  type ServerToAgent,
} from "../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability, encodeAgentToServerFrame, ServerToAgentFlag } from "../../src/opamp/codec.js";
import {
  bytesEqual,
  ConfigStatus,
  decodeServerToAgentBody,
  decodeServerToAgentFrame,
  effectiveConfigOf,
  encodeAgentToServerBody,
  instanceUidText,
  keyValues,
  offeredHeaders,
  runningHealth,
  SUPERVISOR_CAPABILITIES,
  supervisorIdentifyingAttributes,
  supervisorNonIdentifyingAttributes,
  unixNanos,
  uuidV7,
} from "./opamp/agent-wire.js";

export { ConfigStatus, SUPERVISOR_CAPABILITIES, uuidV7 } from "./opamp/agent-wire.js";

/** One entry of a remote config map, body decoded as UTF-8. */
export interface ConfigFile {
  body: string;
  contentType: string;
}

/** Outcome of applying a remote config (what the collector restart would produce). */
export type ApplyConfigResult = { ok: true; effectiveConfig?: string } | { ok: false; error: string };

/** Applies a remote config; may be async. A thrown error counts as `{ ok: false }`. */
export type ApplyConfig = (
  config: Map<string, ConfigFile>,
  hash: Uint8Array,
) => ApplyConfigResult | Promise<ApplyConfigResult>;

export interface TestAgentOptions {
  /** `ws://host:port/v1/opamp` or `http://host:port/v1/opamp` (plain-HTTP polling transport). */
  url: string;
  /** Initial bearer (the `xse_…` enrollment token from the supervisor config file). */
  token: string;
  /** 16 bytes; default: a fresh UUIDv7 (what the supervisor generates and persists). */
  instanceUid?: Uint8Array;
  /** Default: {@link SUPERVISOR_CAPABILITIES}. */
  capabilities?: bigint;
  /**
   * Default: identifying service.name=otelcol-contrib, service.version=0.156.0,
   * service.instance.id=<uuid>; non-identifying host.name=test-host, os.type=linux.
   */
  description?: { identifying?: Record<string, string>; nonIdentifying?: Record<string, string> };
  /** Default: ok, effective config = the `""` entry's body. */
  applyConfig?: ApplyConfig;
  /** Remote config hash persisted by a previous run, reported in the first message. */
  lastRemoteConfigHash?: Uint8Array;
  /** Status persisted with {@link lastRemoteConfigHash}; default APPLIED. */
  lastRemoteConfigStatus?: { status: RemoteConfigStatuses; errorMessage?: string };
  /** Effective config the agent already runs (e.g. a persisted one); default none. */
  effectiveConfig?: string;
  /**
   * Default true: on an OpAMP connection-settings offer do what the supervisor does (stop the
   * client, start a new one with `destination_endpoint` and exactly the offered headers).
   */
  followConnectionSettings?: boolean;
  /** Extra headers from the "config file": sent by the initial client and after restart(), never after an offer. */
  headers?: Record<string, string>;
  /** HTTP transport polling interval; default 200 ms. */
  pollIntervalMs?: number;
  /** WS heartbeat timer (counted from the last message sent); default off. */
  autoHeartbeatMs?: number;
  /** Reconnect (same client object: seq continues, delta first message) after an unexpected close; default off. */
  reconnectDelayMs?: number;
  /** Health queued before each client starts; default `{ healthy: false }` (supervisor `startOpAMPClient`). */
  startingHealth?: MessageInitShape<typeof ComponentHealthSchema>;
  /**
   * HTTP only: send `agent_disconnect` in a last POST on stop/offer (spec after v0.18.0).
   * Default false, as opamp-go v0.23.0's HTTP client just stops polling.
   */
  httpAgentDisconnect?: boolean;
  /** Debug sink for the agent's event log (also kept in {@link TestAgent.events}). */
  log?: (line: string) => void;
}

/** Thrown by start() (and recorded) when the server refuses the upgrade / the HTTP request. */
export class ConnectionRefusedError extends Error {
  readonly status: number;
  constructor(status: number, endpoint: string) {
    super(`OpAMP server refused the connection to ${endpoint}: HTTP ${status}`);
    this.name = "ConnectionRefusedError";
    this.status = status;
  }
}

/** A refused connection attempt: the upgrade answered non-101, or an HTTP poll answered non-200. */
export interface Refusal {
  status: number;
  endpoint: string;
  token: string;
}

/** An offer the agent did not act on, and why. */
export interface IgnoredOffer {
  settings: OpAMPConnectionSettings;
  reason: string;
}

type Facet = "description" | "health" | "effectiveConfig" | "remoteConfigStatus";

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/** One opamp-go client object (a `client.NewWebSocket()` / `client.NewHTTP()` and its Start). */
interface ClientSession {
  readonly id: number;
  readonly transport: "ws" | "http";
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  seq: bigint;
  /** The next message re-sends every facet (first message, or after ReportFullState). */
  fullReport: boolean;
  /** Facets changed since the last message. */
  pending: Set<Facet>;
  /** False once stopped, killed or replaced: nothing more is sent or processed. */
  active: boolean;
  /** Can send now (WS open; HTTP session started). */
  connected: boolean;
  ws?: WebSocket;
  /** WS: deferreds of messages awaiting their reply, oldest first. */
  replyWaiters: Deferred<ServerToAgent>[];
  /** WS: resolves when the current socket has closed. */
  socketClosed?: Promise<void>;
  /** HTTP: requests run one at a time, in order. */
  httpQueue: Promise<void>;
  httpQueued: number;
  httpRequest?: ClientRequest;
  /** HTTP: a 200 was seen since the last failure (for connectionCount). */
  httpOk: boolean;
  heartbeatMs: number;
  heartbeatTimer?: NodeJS.Timeout;
  pollTimer?: NodeJS.Timeout;
  reconnectTimer?: NodeJS.Timeout;
}

const DEFAULT_WAIT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function noop(): void {}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = noop;
  let reject: (err: Error) => void = noop;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Marked handled here so an unawaited rejection never becomes an unhandled rejection; anyone
  // awaiting `promise` still sees it.
  promise.catch(noop);
  return { promise, resolve, reject };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function stringAttrs(kvs: KeyValue[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs) {
    if (kv.value?.value.case === "stringValue") out[kv.key] = kv.value.value.value;
  }
  return out;
}

/** The bearer token in an `Authorization: Bearer …` header, looked up case-insensitively. */
function bearerOf(headers: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== "authorization") continue;
    const match = /^Bearer\s+(.+)$/i.exec(value.trim());
    return match?.[1];
  }
  return undefined;
}

function rawDataToBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A one-line summary of a ServerToAgent for error messages. */
export function describeServerToAgent(msg: ServerToAgent): string {
  const parts: string[] = [];
  if (msg.errorResponse)
    parts.push(`errorResponse(type=${msg.errorResponse.type} "${msg.errorResponse.errorMessage}")`);
  if (msg.flags !== 0n) parts.push(`flags=0x${msg.flags.toString(16)}`);
  if (msg.capabilities !== 0n) parts.push(`capabilities=0x${msg.capabilities.toString(16)}`);
  if (msg.remoteConfig) parts.push(`remoteConfig(hash=${hex(msg.remoteConfig.configHash).slice(0, 12)})`);
  const opamp = msg.connectionSettings?.opamp;
  if (msg.connectionSettings) {
    parts.push(
      opamp
        ? `connectionSettings.opamp(endpoint=${opamp.destinationEndpoint || "<empty>"}, headers=[${(opamp.headers?.headers ?? []).map((h) => h.key).join(",")}], hb=${opamp.heartbeatIntervalSeconds})`
        : "connectionSettings",
    );
  }
  if (msg.agentIdentification) parts.push("agentIdentification");
  if (msg.command) parts.push(`command(${msg.command.type})`);
  if (msg.packagesAvailable) parts.push("packagesAvailable");
  if (msg.customMessage) parts.push("customMessage");
  return `{${parts.join(", ") || "ack"}}`;
}

/** A one-line summary of an AgentToServer for error messages. */
export function describeAgentToServer(msg: AgentToServer): string {
  const parts = [`seq=${msg.sequenceNum}`];
  if (msg.agentDescription) parts.push("agentDescription");
  if (msg.health) parts.push(`health(healthy=${msg.health.healthy})`);
  if (msg.effectiveConfig) parts.push("effectiveConfig");
  if (msg.remoteConfigStatus) {
    parts.push(
      `remoteConfigStatus(${RemoteConfigStatuses[msg.remoteConfigStatus.status]}, hash=${hex(msg.remoteConfigStatus.lastRemoteConfigHash).slice(0, 12)})`,
    );
  }
  if (msg.agentDisconnect) parts.push("agentDisconnect");
  if (msg.flags !== 0n) parts.push(`flags=0x${msg.flags.toString(16)}`);
  return `{${parts.join(", ")}}`;
}

/**
 * A supervisor-like OpAMP agent for tests. Construct, `start()`, drive with `heartbeat()` /
 * `send()`, assert on `received` / `sent` and the recorded state, and always `stop()` or
 * `kill()` at the end.
 *
 * Reply matching (`heartbeat()`, `send()`): over WebSocket the n-th ServerToAgent after a send
 * is taken as the reply to the n-th outstanding message, as the server answers each message in
 * order; a message the server pushes on its own in between would be taken for a reply. Over
 * HTTP every response is the reply to its request.
 */
export class TestAgent {
  /** Every ServerToAgent received, in order (including ones arriving after a stop). */
  readonly received: ServerToAgent[] = [];
  /** Every AgentToServer sent, in order, across all client objects. */
  readonly sent: AgentToServer[] = [];
  /** Bearer in use now (changes after following an offer; back to the original after restart()). */
  currentToken: string;
  /** Successful connections: WS upgrades, or the first HTTP 200 of a client (or after a failure). */
  connectionCount = 0;
  /** Called on every refused connection attempt (non-101 upgrade, non-200 HTTP). */
  onUpgradeRefused: ((status: number) => void) | undefined;
  /** The most recent refused connection attempt. */
  lastRefusal: Refusal | undefined;
  /** Every refused connection attempt. */
  readonly refusals: Refusal[] = [];
  /** Every OpAMP connection-settings offer received (followed or not). */
  readonly offers: OpAMPConnectionSettings[] = [];
  /** Offers acted on (stop + new client). */
  readonly followedOffers: OpAMPConnectionSettings[] = [];
  /** Offers not acted on, with the reason (no capability, following disabled, empty endpoint). */
  readonly ignoredOffers: IgnoredOffer[] = [];
  /** Closes the agent did not initiate (server close frame, or the connection dropping). */
  readonly serverCloses: { code: number; reason: string }[] = [];
  /** Protocol problems the agent noticed (text frame, undecodable message, …). */
  readonly protocolErrors: string[] = [];
  /** Human-readable log of what the agent did. */
  readonly events: string[] = [];
  /** Heartbeat interval taken from the last followed offer (seconds > 0 only). */
  heartbeatIntervalSeconds: number | undefined;
  /** Status and `Content-Encoding` of the last HTTP response (HTTP transport). */
  lastHttpResponse: { status: number; contentEncoding: string | undefined } | undefined;
  /** Number of client objects created (start, restart, each followed offer). */
  clientCount = 0;

  private readonly opts: TestAgentOptions;
  private readonly capabilities: bigint;
  private readonly applyConfig: ApplyConfig;
  private uid: Uint8Array;
  private description: AgentDescription;
  private health: ComponentHealth;
  private effectiveConfigBody: string | undefined;
  private configStatus: RemoteConfigStatus;
  /** Hash of the last remote config acted on (applied or failed); what restart() persists. */
  private lastConfigHash: Uint8Array | undefined;
  private endpointUrl: string;
  private clientHeaders: Record<string, string>;
  private client: ClientSession | undefined;
  private nextClientId = 1;
  private configChain: Promise<void> = Promise.resolve();
  private readonly background = new Set<Promise<unknown>>();
  private readonly watchers = new Set<() => void>();
  private closeCursor = 0;
  /** Set by stop()/kill(): a pending offer must not start a new client afterwards. */
  private halted = false;
  /** Sockets the agent dropped itself after a protocol error (their close is not the server's). */
  private readonly droppedSockets = new WeakSet<WebSocket>();

  constructor(opts: TestAgentOptions) {
    this.opts = opts;
    this.capabilities = (opts.capabilities ?? SUPERVISOR_CAPABILITIES) | AgentCapability.ReportsStatus;
    this.applyConfig =
      opts.applyConfig ?? ((config) => ({ ok: true, effectiveConfig: config.get("")?.body ?? "" }));
    this.uid = new Uint8Array(opts.instanceUid ?? uuidV7());
    if (this.uid.byteLength !== 16) throw new TypeError("instanceUid must be 16 bytes");
    const { identifying, nonIdentifying } = opts.description ?? {};
    this.description = create(AgentDescriptionSchema, {
      identifyingAttributes: identifying
        ? keyValues(identifying)
        : supervisorIdentifyingAttributes(this.instanceUidString),
      nonIdentifyingAttributes: nonIdentifying
        ? keyValues(nonIdentifying)
        : supervisorNonIdentifyingAttributes("test-host"),
    });
    this.health = create(ComponentHealthSchema, opts.startingHealth ?? { healthy: false });
    this.effectiveConfigBody = opts.effectiveConfig;
    // opamp-go starts from an empty (UNSET) status when none was persisted, and still puts it in
    // the first message (clientcommon.PrepareStart / PrepareFirstMessage).
    this.configStatus = opts.lastRemoteConfigHash
      ? create(RemoteConfigStatusSchema, {
          lastRemoteConfigHash: new Uint8Array(opts.lastRemoteConfigHash),
          status: opts.lastRemoteConfigStatus?.status ?? ConfigStatus.APPLIED,
          errorMessage: opts.lastRemoteConfigStatus?.errorMessage ?? "",
        })
      : create(RemoteConfigStatusSchema, {});
    this.lastConfigHash = opts.lastRemoteConfigHash ? new Uint8Array(opts.lastRemoteConfigHash) : undefined;
    this.currentToken = opts.token;
    this.endpointUrl = opts.url;
    this.clientHeaders = this.fileHeaders();
  }

  /** The agent's instance UID (changes only if the server sends `agent_identification`). */
  get instanceUid(): Uint8Array {
    return this.uid;
  }

  /** {@link instanceUid} as canonical UUID text. */
  get instanceUidString(): string {
    return instanceUidText(this.uid);
  }

  /** Endpoint of the current (or last) client. */
  get endpoint(): string {
    return this.endpointUrl;
  }

  /** Headers the current (or next) client connects with. */
  get headers(): Readonly<Record<string, string>> {
    return { ...this.clientHeaders };
  }

  /** Whether a client is connected now (WS open, or HTTP polling with a 200 since the last failure). */
  get isConnected(): boolean {
    const c = this.client;
    return !!c && c.active && c.connected && (c.transport === "ws" || c.httpOk);
  }

  /** Sequence number the next message will carry. */
  get nextSequenceNum(): bigint | undefined {
    return this.client?.seq;
  }

  /** Last remote-config status (as persisted by the supervisor); undefined while UNSET without a hash. */
  get remoteConfigStatus(): { hash: Uint8Array; status: number; error: string } | undefined {
    const s = this.configStatus;
    if (s.lastRemoteConfigHash.byteLength === 0 && s.status === ConfigStatus.UNSET) return undefined;
    return { hash: s.lastRemoteConfigHash, status: s.status, error: s.errorMessage };
  }

  /** The effective config body currently reported (undefined if none yet). */
  get effectiveConfig(): string | undefined {
    return this.effectiveConfigBody;
  }

  /** The health currently reported. */
  get currentHealth(): ComponentHealth {
    return this.health;
  }

  /** The agent description's attributes as plain records. */
  get descriptionAttributes(): {
    identifying: Record<string, string>;
    nonIdentifying: Record<string, string>;
  } {
    return {
      identifying: stringAttrs(this.description.identifyingAttributes),
      nonIdentifying: stringAttrs(this.description.nonIdentifyingAttributes),
    };
  }

  /**
   * Starts a new client object with the current endpoint and headers (initially the URL and
   * token from the options). Resolves once the reply to the first message has been processed;
   * rejects with a {@link ConnectionRefusedError} (`.status`) if the server refuses.
   */
  async start(): Promise<void> {
    if (this.client?.active) throw new Error("TestAgent already started");
    this.halted = false;
    await this.startClient();
  }

  /** Graceful stop: `agent_disconnect` then WS close 1000; timers stop; no reconnect. */
  async stop(): Promise<void> {
    this.halted = true;
    const client = this.client;
    if (client) await this.stopClient(client, true);
    // Let a running config apply or offer hand-over finish (neither sends anything any more);
    // a hung applyConfig must not make stop() fail.
    await this.settle().catch(noop);
  }

  /** Abrupt stop, like a crash: the socket is dropped without `agent_disconnect`. */
  kill(): void {
    this.halted = true;
    const client = this.client;
    if (client) this.stopClient(client, false).catch(noop);
  }

  /**
   * Like a supervisor process restart: kill, then start a new client with the ORIGINAL url,
   * token and config-file headers, the same instance UID, and the persisted remote-config status.
   */
  async restart(): Promise<void> {
    this.kill();
    this.note("restart: back to the configured endpoint and enrollment token");
    this.endpointUrl = this.opts.url;
    this.clientHeaders = this.fileHeaders();
    this.currentToken = this.opts.token;
    // Nothing from an offer survives a process restart (the supervisor persists none of it).
    this.heartbeatIntervalSeconds = undefined;
    this.halted = false;
    await this.startClient();
  }

  /** Sends a heartbeat (instance_uid, seq, capabilities, plus anything pending) and resolves with the reply. */
  async heartbeat(): Promise<ServerToAgent> {
    return this.transmit(this.requireClient());
  }

  /**
   * Sends a custom message and resolves with the reply. `instanceUid`, `sequenceNum` and
   * `capabilities` are filled in unless given; facets pending in the agent are merged in. A
   * given `sequenceNum` moves the counter (the next message carries it + 1), which simulates
   * lost messages.
   */
  async send(partial: MessageInitShape<typeof AgentToServerSchema>): Promise<ServerToAgent> {
    return this.transmit(this.requireClient(), partial);
  }

  /** Sends a raw WebSocket frame (bad-input tests). Strings go as text frames unless `binary`. */
  sendRaw(data: Uint8Array | string, opts: { binary?: boolean } = {}): void {
    const ws = this.client?.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error("sendRaw needs an open WebSocket");
    ws.send(data, { binary: opts.binary ?? typeof data !== "string" });
  }

  /** Reports a new health (as the collector's status would be forwarded) and resolves with the reply. */
  async reportHealth(health: MessageInitShape<typeof ComponentHealthSchema>): Promise<ServerToAgent> {
    this.health = create(ComponentHealthSchema, health);
    this.markPending("health");
    return this.transmit(this.requireClient());
  }

  /** Reports a new effective config body and resolves with the reply. */
  async reportEffectiveConfig(body: string): Promise<ServerToAgent> {
    this.effectiveConfigBody = body;
    this.markPending("effectiveConfig");
    return this.transmit(this.requireClient());
  }

  /** Reports a new agent description and resolves with the reply. */
  async reportDescription(description: {
    identifying: Record<string, string>;
    nonIdentifying?: Record<string, string>;
  }): Promise<ServerToAgent> {
    this.description = create(AgentDescriptionSchema, {
      identifyingAttributes: keyValues(description.identifying),
      nonIdentifyingAttributes: keyValues(description.nonIdentifying ?? {}),
    });
    this.markPending("description");
    return this.transmit(this.requireClient());
  }

  /** Resolves with the first received message (already received or future) matching `pred`. */
  waitFor(pred: (m: ServerToAgent) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<ServerToAgent> {
    return this.waitUntil(
      () => this.received.find(pred),
      timeoutMs,
      () => `a ServerToAgent matching ${pred.toString()}`,
    );
  }

  /** Like {@link waitFor}, but only messages received after this call count. */
  waitForNext(pred: (m: ServerToAgent) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<ServerToAgent> {
    const from = this.received.length;
    return this.waitUntil(
      () => this.received.slice(from).find(pred),
      timeoutMs,
      () => `a new ServerToAgent matching ${pred.toString()}`,
    );
  }

  /** Resolves with the first sent message (already sent or future) matching `pred`. */
  waitForSent(pred: (m: AgentToServer) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<AgentToServer> {
    return this.waitUntil(
      () => this.sent.find(pred),
      timeoutMs,
      () => `an AgentToServer matching ${pred.toString()}`,
    );
  }

  /** Resolves once {@link connectionCount} >= n. */
  async waitForConnection(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitUntil(
      () => (this.connectionCount >= n ? true : undefined),
      timeoutMs,
      () => `connection #${n} (have ${this.connectionCount})`,
    );
  }

  /**
   * Resolves with the next server-initiated close not yet returned by an earlier call (so a
   * close that happened just before the call is not missed).
   */
  async waitForClose(timeoutMs = DEFAULT_WAIT_MS): Promise<{ code: number; reason: string }> {
    const close = await this.waitUntil(
      () => this.serverCloses[this.closeCursor],
      timeoutMs,
      () => "the server to close the connection",
    );
    this.closeCursor++;
    return close;
  }

  /**
   * Waits until background work (config applies, following an offer) has finished. Rejects
   * after `timeoutMs`, e.g. when the server re-offers connection settings on every new
   * connection and the agent keeps switching (brief §4.3.7).
   */
  async settle(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitUntil(
      () => (this.background.size === 0 ? true : undefined),
      timeoutMs,
      () => `background work to finish (${this.background.size} pending)`,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Client objects

  private fileHeaders(): Record<string, string> {
    return { Authorization: `Bearer ${this.opts.token}`, ...this.opts.headers };
  }

  private requireClient(): ClientSession {
    const client = this.client;
    if (!client?.active) throw new Error("TestAgent is not started");
    return client;
  }

  /** `startOpAMPClient`: SetHealth(false), then a new client object whose first message is full. */
  private async startClient(): Promise<void> {
    const endpoint = this.endpointUrl;
    const scheme = new URL(endpoint).protocol;
    const transport =
      scheme === "ws:" || scheme === "wss:"
        ? "ws"
        : scheme === "http:" || scheme === "https:"
          ? "http"
          : undefined;
    if (!transport) throw new Error(`unsupported OpAMP endpoint scheme: ${endpoint}`);
    const client: ClientSession = {
      id: this.nextClientId++,
      transport,
      endpoint,
      headers: { ...this.clientHeaders },
      seq: 0n,
      fullReport: true,
      pending: new Set(),
      active: true,
      connected: false,
      replyWaiters: [],
      httpQueue: Promise.resolve(),
      httpQueued: 0,
      httpOk: false,
      heartbeatMs: this.opts.autoHeartbeatMs
        ? (this.heartbeatIntervalSeconds ?? 0) * 1000 || this.opts.autoHeartbeatMs
        : 0,
    };
    this.client = client;
    this.clientCount++;
    this.health = create(ComponentHealthSchema, this.opts.startingHealth ?? { healthy: false });
    this.note(
      `client #${client.id}: starting (${transport} ${endpoint}, token ${this.currentToken.slice(0, 8)}…)`,
    );
    try {
      if (transport === "ws") {
        await this.connectWs(client);
      } else {
        client.connected = true;
        await this.transmit(client);
      }
    } catch (err) {
      // opamp-go would keep retrying in the background; this agent gives up and stays stopped.
      this.deactivate(client);
      throw err;
    }
  }

  /** Opens the client's WebSocket; resolves after the reply to its first message is processed. */
  private connectWs(client: ClientSession): Promise<void> {
    const done = deferred<void>();
    const socketClosed = deferred<void>();
    client.socketClosed = socketClosed.promise;
    const ws = new WebSocket(client.endpoint, {
      headers: { ...client.headers },
      // The supervisor never sets EnableCompression, so no permessage-deflate.
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    client.ws = ws;
    let opened = false;
    let refusedStatus: number | undefined;
    let lastError: Error | undefined;

    ws.on("unexpected-response", (_req: ClientRequest, res: IncomingMessage) => {
      refusedStatus = res.statusCode ?? 0;
      res.resume();
      this.recordRefusal(client, refusedStatus);
      ws.terminate();
    });
    ws.on("open", () => {
      if (!client.active) {
        ws.terminate();
        return;
      }
      opened = true;
      client.connected = true;
      this.connectionCount++;
      this.note(`client #${client.id}: connected (connection ${this.connectionCount})`);
      this.poke();
      // First message after connecting: the full report for a new client object, otherwise the
      // pending delta (still sent, because it carries the instance_uid).
      this.transmit(client).then(
        () => done.resolve(),
        (err: Error) => done.reject(err),
      );
    });
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      if (client.ws !== ws) return;
      if (!isBinary) {
        // opamp-go's receive loop fails on a text frame ("unsupported message type") and drops
        // the connection.
        this.protocolError(client, ws, "received a text frame; OpAMP frames must be binary");
        return;
      }
      let msg: ServerToAgent;
      try {
        msg = decodeServerToAgentFrame(rawDataToBytes(data));
      } catch (err) {
        this.protocolError(client, ws, `undecodable ServerToAgent: ${(err as Error).message}`);
        return;
      }
      this.handleIncoming(client, msg);
      const waiter = client.replyWaiters.shift();
      waiter?.resolve(msg);
    });
    ws.on("error", (err: Error) => {
      lastError = err;
      this.note(`client #${client.id}: socket error: ${err.message}`);
    });
    ws.on("close", (code: number, reasonBuf: Buffer) => {
      const reason = reasonBuf.toString();
      if (client.ws === ws) client.connected = false;
      this.clearTimers(client, false);
      const gone = new Error(`connection closed (code ${code}${reason ? ` "${reason}"` : ""})`);
      for (const waiter of client.replyWaiters.splice(0)) waiter.reject(gone);
      if (!opened) {
        done.reject(
          refusedStatus !== undefined
            ? new ConnectionRefusedError(refusedStatus, client.endpoint)
            : new Error(`cannot connect to ${client.endpoint}: ${lastError?.message ?? `closed (${code})`}`),
        );
      } else {
        done.reject(new Error(`connection closed before the first reply (code ${code})`));
      }
      if (client.active && opened && !this.droppedSockets.has(ws)) {
        this.note(`client #${client.id}: server closed the connection (${code} ${reason})`);
        this.serverCloses.push({ code, reason });
      }
      socketClosed.resolve();
      this.poke();
      if (client.active && opened && this.opts.reconnectDelayMs !== undefined) this.scheduleReconnect(client);
    });
    return done.promise;
  }

  private scheduleReconnect(client: ClientSession): void {
    if (client.reconnectTimer) return;
    client.reconnectTimer = setTimeout(() => {
      client.reconnectTimer = undefined;
      if (!client.active) return;
      this.note(`client #${client.id}: reconnecting`);
      this.connectWs(client).catch((err: Error) => {
        this.note(`client #${client.id}: reconnect failed: ${err.message}`);
        if (client.active && !client.connected) this.scheduleReconnect(client);
      });
    }, this.opts.reconnectDelayMs ?? 0);
  }

  private protocolError(client: ClientSession, ws: WebSocket, what: string): void {
    this.protocolErrors.push(what);
    this.note(`client #${client.id}: protocol error: ${what}`);
    this.droppedSockets.add(ws);
    ws.terminate();
  }

  /**
   * Stops a client: graceful = opamp-go `Stop()` (agent_disconnect, close 1000, wait up to 5 s
   * for the server's close); otherwise the socket is dropped.
   */
  private async stopClient(client: ClientSession, graceful: boolean): Promise<void> {
    if (!client.active) return;
    if (client.transport === "ws") {
      const ws = client.ws;
      if (graceful && ws && ws.readyState === WebSocket.OPEN) {
        const msg = this.compose(client, { agentDisconnect: {} });
        this.deactivate(client);
        ws.send(encodeAgentToServerFrame(msg));
        ws.close(1000, "Normal closure");
        const timer = setTimeout(() => ws.terminate(), STOP_TIMEOUT_MS);
        await client.socketClosed;
        clearTimeout(timer);
      } else {
        this.deactivate(client);
        ws?.terminate();
        if (ws && ws.readyState !== WebSocket.CLOSED) await client.socketClosed;
      }
      this.note(`client #${client.id}: stopped (${graceful ? "graceful" : "killed"})`);
      return;
    }
    if (graceful && this.opts.httpAgentDisconnect && client.connected) {
      await this.transmit(client, { agentDisconnect: {} }).catch(noop);
    }
    this.deactivate(client);
    client.httpRequest?.destroy();
    this.note(`client #${client.id}: stopped (${graceful ? "graceful" : "killed"})`);
  }

  private deactivate(client: ClientSession): void {
    client.active = false;
    this.clearTimers(client, true);
  }

  private clearTimers(client: ClientSession, all: boolean): void {
    clearTimeout(client.heartbeatTimer);
    client.heartbeatTimer = undefined;
    if (all) {
      clearTimeout(client.pollTimer);
      clearTimeout(client.reconnectTimer);
      client.pollTimer = undefined;
      client.reconnectTimer = undefined;
    }
  }

  private recordRefusal(client: ClientSession, status: number): void {
    const refusal: Refusal = { status, endpoint: client.endpoint, token: bearerOf(client.headers) ?? "" };
    this.lastRefusal = refusal;
    this.refusals.push(refusal);
    this.note(`client #${client.id}: server refused the connection: HTTP ${status}`);
    try {
      this.onUpgradeRefused?.(status);
    } catch (err) {
      this.note(`onUpgradeRefused threw: ${(err as Error).message}`);
    }
    this.poke();
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /**
   * Builds the next message of a client: instance_uid, sequence_num, capabilities, plus every
   * facet when a full report is due, otherwise only the facets that changed (status compression,
   * opamp-go `NextMessage`). Advances the sequence number.
   */
  private compose(
    client: ClientSession,
    extra?: MessageInitShape<typeof AgentToServerSchema>,
  ): AgentToServer {
    const caps = this.capabilities;
    const full = client.fullReport;
    const want = (facet: Facet): boolean => full || client.pending.has(facet);
    // Fields given in `extra` win over the agent's own values.
    const msg = create(AgentToServerSchema, extra);
    if (extra?.instanceUid === undefined) msg.instanceUid = this.uid;
    if (extra?.sequenceNum === undefined) msg.sequenceNum = client.seq;
    if (extra?.capabilities === undefined) msg.capabilities = caps;
    if (want("description")) msg.agentDescription ??= this.description;
    if (want("health") && caps & AgentCapability.ReportsHealth) msg.health ??= this.health;
    if (want("effectiveConfig") && caps & AgentCapability.ReportsEffectiveConfig) {
      msg.effectiveConfig ??= this.effectiveConfigMessage();
    }
    if (want("remoteConfigStatus") && caps & AgentCapability.ReportsRemoteConfig) {
      msg.remoteConfigStatus ??= this.configStatus;
    }
    client.seq = msg.sequenceNum + 1n;
    client.fullReport = false;
    client.pending.clear();
    this.sent.push(msg);
    this.poke();
    return msg;
  }

  private effectiveConfigMessage(): EffectiveConfig | undefined {
    if (this.effectiveConfigBody === undefined) return undefined;
    return create(EffectiveConfigSchema, effectiveConfigOf(textEncoder.encode(this.effectiveConfigBody)));
  }

  /** Sends the client's next message now and resolves with its reply. */
  private transmit(
    client: ClientSession,
    extra?: MessageInitShape<typeof AgentToServerSchema>,
  ): Promise<ServerToAgent> {
    if (!client.active || !client.connected) {
      return Promise.reject(new Error(`client #${client.id} is not connected`));
    }
    const msg = this.compose(client, extra);
    if (client.transport === "http") return this.httpExchange(client, msg);
    const ws = client.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`client #${client.id}: socket not open`));
    }
    const reply = deferred<ServerToAgent>();
    client.replyWaiters.push(reply);
    ws.send(encodeAgentToServerFrame(msg));
    this.armHeartbeat(client);
    return reply.promise;
  }

  /** Sends whatever is pending (opamp-go `ScheduleSend`); nothing if nothing changed or not connected. */
  private flush(client: ClientSession | undefined): void {
    if (!client?.active || !client.connected) return;
    if (!client.fullReport && client.pending.size === 0) return;
    this.transmit(client).catch((err: Error) => this.note(`send failed: ${err.message}`));
  }

  private armHeartbeat(client: ClientSession): void {
    clearTimeout(client.heartbeatTimer);
    client.heartbeatTimer = undefined;
    // The opamp-go timer counts from the last message sent; 0 disables it.
    if (client.heartbeatMs <= 0 || !client.active) return;
    client.heartbeatTimer = setTimeout(() => {
      client.heartbeatTimer = undefined;
      if (client.active && client.connected) this.transmit(client).catch(noop);
    }, client.heartbeatMs);
  }

  /** One POST round trip, queued behind earlier ones (opamp-go waits for each response). */
  private httpExchange(client: ClientSession, msg: AgentToServer): Promise<ServerToAgent> {
    const reply = deferred<ServerToAgent>();
    client.httpQueued++;
    client.httpQueue = client.httpQueue.then(async () => {
      client.httpQueued--;
      clearTimeout(client.pollTimer);
      client.pollTimer = undefined;
      if (!client.active && !msg.agentDisconnect) {
        reply.reject(new Error(`client #${client.id} stopped`));
        return;
      }
      try {
        const res = await this.post(client, encodeAgentToServerBody(msg));
        this.lastHttpResponse = { status: res.status, contentEncoding: res.contentEncoding };
        if (res.status !== 200) {
          // opamp-go: "invalid response from server: N"; the message is lost, the next poll retries.
          client.httpOk = false;
          this.recordRefusal(client, res.status);
          reply.reject(new ConnectionRefusedError(res.status, client.endpoint));
          return;
        }
        if (!client.httpOk) {
          client.httpOk = true;
          this.connectionCount++;
          this.note(`client #${client.id}: connected (connection ${this.connectionCount})`);
          this.poke();
        }
        let decoded: ServerToAgent;
        try {
          decoded = decodeServerToAgentBody(res.body);
        } catch (err) {
          this.protocolErrors.push(`undecodable ServerToAgent: ${(err as Error).message}`);
          reply.reject(err as Error);
          return;
        }
        this.handleIncoming(client, decoded);
        reply.resolve(decoded);
      } catch (err) {
        client.httpOk = false;
        this.note(`client #${client.id}: HTTP request failed: ${(err as Error).message}`);
        reply.reject(err as Error);
      } finally {
        this.armPoll(client);
      }
    });
    return reply.promise;
  }

  private armPoll(client: ClientSession): void {
    clearTimeout(client.pollTimer);
    client.pollTimer = undefined;
    if (!client.active || client.httpQueued > 0) return;
    client.pollTimer = setTimeout(() => {
      client.pollTimer = undefined;
      // A poll is a message with nothing but the header fields (plus anything pending).
      if (client.active && client.httpQueued === 0) this.transmit(client).catch(noop);
    }, this.opts.pollIntervalMs ?? 200);
  }

  private post(
    client: ClientSession,
    body: Uint8Array,
  ): Promise<{ status: number; body: Uint8Array; contentEncoding: string | undefined }> {
    return new Promise((resolve, reject) => {
      const url = new URL(client.endpoint);
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: "POST",
          headers: {
            ...client.headers,
            "Content-Type": "application/x-protobuf",
            // Go's http.Transport adds this itself and then inflates the response transparently.
            "Accept-Encoding": "gzip",
            "OpAMP-Instance-UID": this.instanceUidString,
            "Content-Length": String(body.byteLength),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const encoding = res.headers["content-encoding"];
            try {
              const raw = Buffer.concat(chunks);
              const data = encoding === "gzip" ? gunzipSync(raw) : raw;
              resolve({ status: res.statusCode ?? 0, body: new Uint8Array(data), contentEncoding: encoding });
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      client.httpRequest = req;
      req.on("error", reject);
      req.end(body);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving (opamp-go `receivedProcessor.ProcessReceivedMessage` + supervisor `onMessage`)

  private handleIncoming(client: ClientSession, msg: ServerToAgent): void {
    this.received.push(msg);
    if (client.active) {
      this.process(client, msg);
    } else {
      this.note(`client #${client.id}: ignored a message received after stopping`);
    }
    this.poke();
  }

  private process(client: ClientSession, msg: ServerToAgent): void {
    const caps = this.capabilities;
    if (msg.command && caps & AgentCapability.AcceptsRestartCommand) {
      // opamp-go: a command excludes every other field of the message.
      this.note(`client #${client.id}: received command ${msg.command.type}`);
      return;
    }
    if (msg.flags & ServerToAgentFlag.ReportFullState) {
      this.note(`client #${client.id}: server asked for the full state`);
      client.fullReport = true;
    }
    if (msg.agentIdentification) {
      const uid = msg.agentIdentification.newInstanceUid;
      if (uid.byteLength === 16) {
        this.uid = new Uint8Array(uid);
        this.note(`new instance_uid ${this.instanceUidString}`);
      } else {
        this.protocolErrors.push(`new_instance_uid of ${uid.byteLength} bytes ignored`);
      }
    }
    if (msg.remoteConfig && caps & AgentCapability.AcceptsRemoteConfig) {
      this.receiveRemoteConfig(msg.remoteConfig.configHash, msg.remoteConfig.config?.configMap ?? {});
    }
    const offer = msg.connectionSettings?.opamp;
    if (offer) this.receiveOffer(client, offer);
    if (msg.errorResponse) this.note(`server error response: ${msg.errorResponse.errorMessage}`);
    this.flush(client);
  }

  private receiveRemoteConfig(
    configHash: Uint8Array,
    configMap: Record<string, { body: Uint8Array; contentType: string }>,
  ): void {
    const hash = new Uint8Array(configHash);
    if (this.lastConfigHash && bytesEqual(hash, this.lastConfigHash)) {
      this.note(`remote config ${hex(hash).slice(0, 12)} unchanged, nothing to apply`);
      return;
    }
    this.lastConfigHash = hash;
    const config = new Map<string, ConfigFile>();
    for (const [name, file] of Object.entries(configMap)) {
      config.set(name, { body: textDecoder.decode(file.body), contentType: file.contentType });
    }
    this.note(`remote config ${hex(hash).slice(0, 12)} received (${config.size} entries)`);
    this.setConfigStatus(hash, ConfigStatus.APPLYING, "");
    // The supervisor applies the config in its agent-process goroutine, not in the receive path,
    // so later messages (an offer in the same reply, say) are processed meanwhile. Applies run
    // one at a time, in order.
    this.configChain = this.configChain.then(() => this.applyRemoteConfig(hash, config));
    this.track(this.configChain);
  }

  private async applyRemoteConfig(hash: Uint8Array, config: Map<string, ConfigFile>): Promise<void> {
    let result: ApplyConfigResult;
    try {
      result = await this.applyConfig(config, hash);
    } catch (err) {
      result = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (result.ok) {
      this.effectiveConfigBody = result.effectiveConfig ?? config.get("")?.body ?? "";
      this.health = create(ComponentHealthSchema, runningHealth(unixNanos()));
      this.markPending("effectiveConfig");
      this.markPending("health");
      this.setConfigStatus(hash, ConfigStatus.APPLIED, "");
      this.note(`remote config ${hex(hash).slice(0, 12)} applied`);
    } else {
      this.setConfigStatus(hash, ConfigStatus.FAILED, result.error);
      this.note(`remote config ${hex(hash).slice(0, 12)} failed: ${result.error}`);
    }
    this.flush(this.client);
  }

  /** opamp-go `SetRemoteConfigStatus`: refused without a hash; reported only when it changed. */
  private setConfigStatus(hash: Uint8Array, status: RemoteConfigStatuses, errorMessage: string): void {
    if (hash.byteLength === 0) {
      this.protocolErrors.push("remote_config without config_hash: its status cannot be reported");
      return;
    }
    const current = this.configStatus;
    if (
      bytesEqual(current.lastRemoteConfigHash, hash) &&
      current.status === status &&
      current.errorMessage === errorMessage
    ) {
      return;
    }
    this.configStatus = create(RemoteConfigStatusSchema, {
      lastRemoteConfigHash: hash,
      status,
      errorMessage,
    });
    this.markPending("remoteConfigStatus");
  }

  private markPending(facet: Facet): void {
    this.client?.pending.add(facet);
  }

  private receiveOffer(client: ClientSession, offer: OpAMPConnectionSettings): void {
    const caps = this.capabilities;
    this.offers.push(offer);
    if (caps & AgentCapability.ReportsHeartbeat && this.opts.autoHeartbeatMs) {
      // opamp-go v0.23.0 applies the offered interval to the current client, even 0.
      client.heartbeatMs = Number(offer.heartbeatIntervalSeconds) * 1000;
      this.armHeartbeat(client);
    }
    if (!(caps & AgentCapability.AcceptsOpAMPConnectionSettings)) {
      this.ignoreOffer(offer, "agent does not have AcceptsOpAMPConnectionSettings");
      return;
    }
    if (this.opts.followConnectionSettings === false) {
      this.ignoreOffer(offer, "followConnectionSettings is off");
      return;
    }
    // The supervisor handles the offer in a goroutine (`go s.onOpampConnectionSettings(...)`),
    // i.e. after opamp-go has finished processing this message.
    this.track(
      new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
        this.followOffer(client, offer).catch((err: Error) =>
          this.note(`following the offer failed: ${err.message}`),
        ),
      ),
    );
  }

  private ignoreOffer(settings: OpAMPConnectionSettings, reason: string): void {
    this.ignoredOffers.push({ settings, reason });
    this.note(`connection-settings offer ignored: ${reason}`);
    this.poke();
  }

  /** Supervisor `onOpampConnectionSettings`: validate, stop the client, start a new one. */
  private async followOffer(client: ClientSession, offer: OpAMPConnectionSettings): Promise<void> {
    if (client !== this.client || !client.active) {
      this.ignoreOffer(offer, "client already stopped or replaced");
      return;
    }
    if (!offer.destinationEndpoint) {
      // The config built from the offer fails validation ("server::endpoint must be specified"):
      // logged, no reconnect.
      this.ignoreOffer(offer, "server::endpoint must be specified");
      return;
    }
    // The new server config is built from the offer alone: every header from the file is dropped.
    const headers = offeredHeaders(offer);
    this.followedOffers.push(offer);
    this.note(`following the connection-settings offer to ${offer.destinationEndpoint}`);
    await this.stopClient(client, true);
    // stop(), kill() or restart() happened meanwhile.
    if (this.halted || this.client !== client) return;
    this.endpointUrl = offer.destinationEndpoint;
    this.clientHeaders = headers;
    this.currentToken = bearerOf(headers) ?? "";
    // Values <= 0 are ignored (supervisor fix #50305; older versions took 0 verbatim).
    if (offer.heartbeatIntervalSeconds > 0n)
      this.heartbeatIntervalSeconds = Number(offer.heartbeatIntervalSeconds);
    try {
      await this.startClient();
    } catch (err) {
      // A refusal is recorded (lastRefusal / onUpgradeRefused); the supervisor would retry
      // forever with the same settings, this agent just stays disconnected.
      this.note(`new client after the offer did not connect: ${(err as Error).message}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Waiting and bookkeeping

  private track(promise: Promise<unknown>): void {
    const tracked = promise.catch(noop).finally(() => {
      this.background.delete(tracked);
      this.poke();
    });
    this.background.add(tracked);
  }

  private note(line: string): void {
    this.events.push(line);
    this.opts.log?.(line);
  }

  private poke(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  private waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
    const found = probe();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const watcher = (): void => {
        const value = probe();
        if (value === undefined) return;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(
          new Error(`TestAgent: timed out after ${timeoutMs} ms waiting for ${what()}\n${this.summary()}`),
        );
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }

  /** What the agent saw and did, for timeout messages. */
  summary(): string {
    const received = this.received.map((m, i) => `  #${i} ${describeServerToAgent(m)}`).join("\n");
    const sent = this.sent.map((m, i) => `  #${i} ${describeAgentToServer(m)}`).join("\n");
    const events = this.events
      .slice(-20)
      .map((e) => `  ${e}`)
      .join("\n");
    return [
      `received ${this.received.length}:`,
      received || "  (none)",
      `sent ${this.sent.length}:`,
      sent || "  (none)",
      `connections: ${this.connectionCount}; server closes: ${JSON.stringify(this.serverCloses)}; refusals: ${this.refusals.map((r) => r.status).join(",") || "none"}`,
      "recent events:",
      events || "  (none)",
    ].join("\n");
  }
}
