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
 * - Own-telemetry settings (own_metrics / own_logs / own_traces): recorded and applied like the
 *   supervisor (own-telemetry.ts), never a reconnect.
 *
 * What it deliberately does not do: retry a refused connection (opamp-go retries forever with
 * backoff; tests assert the refusal instead), TLS settings from offers, packages, custom
 * messages, WS compression (the supervisor never enables it).
 *
 * This file holds the supervisor: its lifecycle (start, stop, kill, restart), what it reports
 * when a test asks, and the enrollment switch to an offered endpoint and key. The rest of
 * test/helpers/opamp/: one opamp-go client object (client-object.ts) over a transport client
 * (websocket-client.ts, http-client.ts); what it reports and the status compression
 * (reported-status.ts); applying a remote config (remote-config.ts); what it saw and the waits
 * on it (agent-record.ts); and what the bench's lean agent shares with it (agent-wire.ts).
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  AgentToServerSchema,
  AvailableComponents,
  ComponentHealth,
  ComponentHealthSchema,
  OpAMPConnectionSettings,
  ServerToAgent,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability } from "../../../src/opamp/codec.js";
import { AgentToServerFlag } from "../../../src/protocol/capabilities.js";
import type { TestAgentOptions } from "./agent-options.js";
import { AgentRecord, type Refusal } from "./agent-record.js";
import { instanceUidText, offeredHeaders, SUPERVISOR_CAPABILITIES, uuidV7 } from "./agent-wire.js";
import { type ClientHost, ClientObject, transportOf } from "./client-object.js";
import { noop } from "./deferred.js";
import { OwnTelemetryRecord } from "./own-telemetry.js";
import { RemoteConfigHandler } from "./remote-config.js";
import { ReportedStatus } from "./reported-status.js";
import { WebSocketClient } from "./websocket-client.js";

/** The bearer token in an `Authorization: Bearer …` header, looked up case-insensitively. */
function bearerOf(headers: Readonly<Record<string, string>>): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== "authorization") continue;
    const match = /^Bearer\s+(.+)$/i.exec(value.trim());
    return match?.[1];
  }
  return undefined;
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
export class TestAgent extends AgentRecord {
  /** Bearer in use now (changes after following an offer; back to the original after restart()). */
  currentToken: string;
  /** Heartbeat interval taken from the last followed offer (seconds > 0 only). */
  heartbeatIntervalSeconds: number | undefined;
  /** Number of client objects created (start, restart, each followed offer). */
  clientCount = 0;
  /** Restart commands received, and collector restarts done for them (each a new start time). */
  restartCommands = 0;
  collectorRestarts = 0;
  /** Instance uids the server assigned, in order. */
  readonly assignedUids: string[] = [];
  /** Own-telemetry offers received and the own telemetry applied (persisted across restart()). */
  readonly ownTelemetry = new OwnTelemetryRecord();

  private readonly opts: TestAgentOptions;
  private readonly capabilities: bigint;
  private uid: Uint8Array;
  private readonly status: ReportedStatus;
  private readonly remoteConfig: RemoteConfigHandler;
  private endpointUrl: string;
  private clientHeaders: Record<string, string>;
  private client: ClientObject | undefined;
  private nextClientId = 1;
  /** Set by stop()/kill(): a pending offer must not start a new client afterwards. */
  private halted = false;
  private readonly host: ClientHost;

  constructor(opts: TestAgentOptions) {
    super(opts.log);
    this.opts = opts;
    this.capabilities = (opts.capabilities ?? SUPERVISOR_CAPABILITIES) | AgentCapability.ReportsStatus;
    this.uid = new Uint8Array(opts.instanceUid ?? uuidV7());
    if (this.uid.byteLength !== 16) throw new TypeError("instanceUid must be 16 bytes");
    this.status = new ReportedStatus(opts, this.instanceUidString);
    this.remoteConfig = new RemoteConfigHandler(
      opts.applyConfig ?? ((config) => ({ ok: true, effectiveConfig: config.get("")?.body ?? "" })),
      opts.lastRemoteConfigHash,
      this.status,
      {
        note: (line) => this.note(line),
        protocolError: (what) => {
          this.protocolErrors.push(what);
        },
        track: (work) => this.track(work),
        flush: () => this.client?.flush(),
      },
      opts.reportsApplying ?? true,
    );
    this.currentToken = opts.token;
    this.endpointUrl = opts.url;
    this.clientHeaders = this.fileHeaders();
    this.host = this.clientHost();
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
    return !!c && c.active && c.transport.isConnected;
  }

  /** Sequence number the next message will carry. */
  get nextSequenceNum(): bigint | undefined {
    return this.client?.seq;
  }

  /** Last remote-config status (as persisted by the supervisor); undefined while UNSET without a hash. */
  get remoteConfigStatus(): { hash: Uint8Array; status: number; error: string } | undefined {
    return this.status.remoteConfigStatus;
  }

  /** The effective config body currently reported (undefined if none yet). */
  get effectiveConfig(): string | undefined {
    return this.status.effectiveConfig;
  }

  /** The health currently reported. */
  get currentHealth(): ComponentHealth {
    return this.status.health;
  }

  /** The agent description's attributes as plain records. */
  get descriptionAttributes(): {
    identifying: Record<string, string>;
    nonIdentifying: Record<string, string>;
  } {
    return this.status.descriptionAttributes;
  }

  /**
   * Starts a new client object with the current endpoint and headers (initially the URL and
   * token from the options). Resolves once the reply to the first message has been processed;
   * rejects with a `ConnectionRefusedError` (`.status`) if the server refuses.
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
    if (client) await client.stop(true);
    // Let a running config apply or offer hand-over finish (neither sends anything any more);
    // a hung applyConfig must not make stop() fail.
    await this.settle().catch(noop);
  }

  /** Abrupt stop, like a crash: the socket is dropped without `agent_disconnect`. */
  kill(): void {
    this.halted = true;
    this.client?.stop(false).catch(noop);
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
    return this.requireClient().transmit();
  }

  /**
   * Sends a custom message and resolves with the reply. `instanceUid`, `sequenceNum` and
   * `capabilities` are filled in unless given; facets pending in the agent are merged in. A
   * given `sequenceNum` moves the counter (the next message carries it + 1), which simulates
   * lost messages.
   */
  async send(partial: MessageInitShape<typeof AgentToServerSchema>): Promise<ServerToAgent> {
    return this.requireClient().transmit(partial);
  }

  /** Sends a raw WebSocket frame (bad-input tests). Strings go as text frames unless `binary`. */
  sendRaw(data: Uint8Array | string, opts: { binary?: boolean } = {}): void {
    const transport = this.client?.transport;
    if (!(transport instanceof WebSocketClient)) throw new Error("sendRaw needs an open WebSocket");
    transport.sendRaw(data, opts.binary ?? typeof data !== "string");
  }

  /** Reports a new health (as the collector's status would be forwarded) and resolves with the reply. */
  async reportHealth(health: MessageInitShape<typeof ComponentHealthSchema>): Promise<ServerToAgent> {
    this.status.setHealth(health);
    return this.requireClient().transmit();
  }

  /** Reports a new effective config body and resolves with the reply. */
  async reportEffectiveConfig(body: string): Promise<ServerToAgent> {
    this.status.setEffectiveConfig(body);
    return this.requireClient().transmit();
  }

  /** The build's full AvailableComponents (hash and list), as the agent would send it when asked. */
  get availableComponents(): AvailableComponents {
    return this.status.availableComponents;
  }

  /** Reports a changed build (its hash, as opamp-go does) and resolves with the reply. */
  async reportAvailableComponents(components: AvailableComponents): Promise<ServerToAgent> {
    this.status.setAvailableComponents(components);
    return this.requireClient().transmit();
  }

  /** Reports a new agent description and resolves with the reply. */
  async reportDescription(description: {
    identifying: Record<string, string>;
    nonIdentifying?: Record<string, string>;
  }): Promise<ServerToAgent> {
    this.status.setDescription(description);
    return this.requireClient().transmit();
  }

  // ---------------------------------------------------------------------------------------------
  // Client objects

  private fileHeaders(): Record<string, string> {
    return { Authorization: `Bearer ${this.opts.token}`, ...this.opts.headers };
  }

  private requireClient(): ClientObject {
    const client = this.client;
    if (!client?.active) throw new Error("TestAgent is not started");
    return client;
  }

  /** `startOpAMPClient`: SetHealth(false), then a new client object whose first message is full. */
  private async startClient(): Promise<void> {
    const endpoint = this.endpointUrl;
    const transport = transportOf(endpoint);
    if (!transport) throw new Error(`unsupported OpAMP endpoint scheme: ${endpoint}`);
    const autoHeartbeatMs = this.opts.autoHeartbeatMs;
    const client = new ClientObject({
      id: this.nextClientId++,
      endpoint,
      headers: { ...this.clientHeaders },
      heartbeatMs: autoHeartbeatMs ? (this.heartbeatIntervalSeconds ?? 0) * 1000 || autoHeartbeatMs : 0,
      pollIntervalMs: this.opts.pollIntervalMs ?? 200,
      reconnectDelayMs: this.opts.reconnectDelayMs,
      httpAgentDisconnect: this.opts.httpAgentDisconnect ?? false,
      host: this.host,
    });
    this.client = client;
    this.status.cursor = client;
    this.clientCount++;
    this.status.resetHealth(this.opts.startingHealth ?? { healthy: false });
    this.note(
      `client #${client.id}: starting (${transport} ${endpoint}, token ${this.currentToken.slice(0, 8)}…)`,
    );
    await client.start();
  }

  /** The agent's side of every client object: records what happened, takes the callbacks. */
  private clientHost(): ClientHost {
    return {
      instanceUid: () => this.uid,
      capabilities: this.capabilities,
      answersComponentsRequest: this.opts.answersComponentsRequest ?? true,
      status: this.status,
      sent: (msg) => {
        this.sent.push(msg);
        this.poke();
      },
      received: (msg) => {
        this.received.push(msg);
      },
      connected: (client) => {
        this.connectionCount++;
        this.note(`client #${client.id}: connected (connection ${this.connectionCount})`);
        this.poke();
      },
      refused: (client, status) => this.recordRefusal(client, status),
      closed: (client, close, byServer) => {
        if (byServer) {
          this.note(`client #${client.id}: server closed the connection (${close.code} ${close.reason})`);
          this.serverCloses.push(close);
        }
        this.poke();
      },
      httpResponse: (status, contentEncoding) => {
        this.lastHttpResponse = { status, contentEncoding };
      },
      protocolError: (what) => {
        this.protocolErrors.push(what);
      },
      changed: () => this.poke(),
      note: (line) => this.note(line),
      flags: () =>
        this.opts.requestInstanceUid && this.assignedUids.length === 0
          ? AgentToServerFlag.RequestInstanceUid
          : 0n,
      newInstanceUid: (uid) => this.assignInstanceUid(uid),
      command: (type) => this.receiveCommand(type),
      remoteConfig: (remoteConfig) => this.remoteConfig.receive(remoteConfig),
      offer: (client, offer) => this.receiveOffer(client, offer),
      connectionSettings: (settings) => {
        this.ownTelemetry.receive(settings, this.capabilities);
        this.poke();
      },
    };
  }

  private recordRefusal(client: ClientObject, status: number): void {
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

  /**
   * Supervisor `processAgentIdentificationMessage`: opamp-go sends under the new uid from the next
   * message on; the supervisor persists it (restart() keeps it) and its collector restarts with
   * the new uid as `service.instance.id`.
   */
  private assignInstanceUid(uid: Uint8Array): void {
    if (uid.byteLength === 16) {
      this.uid = new Uint8Array(uid);
      this.assignedUids.push(this.instanceUidString);
      this.note(`new instance_uid ${this.instanceUidString}`);
      this.status.setServiceInstanceId(this.instanceUidString);
    } else {
      this.protocolErrors.push(`new_instance_uid of ${uid.byteLength} bytes ignored`);
    }
  }

  /**
   * Supervisor `handleRestartCommand`: stops and starts the collector on the same OpAMP
   * connection; the new collector reports healthy with its own start time.
   */
  private receiveCommand(type: number): void {
    this.restartCommands++;
    this.note(`restart command received (type ${type})`);
    if (this.opts.actOnRestart === false) {
      this.poke();
      return;
    }
    this.track(
      new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.collectorRestarts++;
        this.status.collectorStarted(this.collectorRestarts);
        this.client?.flush();
        this.poke();
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // The enrollment switch: following an OpAMP connection-settings offer

  private receiveOffer(client: ClientObject, offer: OpAMPConnectionSettings): void {
    const caps = this.capabilities;
    this.offers.push(offer);
    if (caps & AgentCapability.ReportsHeartbeat && this.opts.autoHeartbeatMs) {
      client.setHeartbeatInterval(Number(offer.heartbeatIntervalSeconds) * 1000);
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
  private async followOffer(client: ClientObject, offer: OpAMPConnectionSettings): Promise<void> {
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
    await client.stop(true);
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
}
