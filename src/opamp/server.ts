/**
 * The OpAMP endpoint, shaped like opamp-go's server: `onConnecting` authenticates and throttles
 * before any WebSocket exists (401 / 429 / 503 + Retry-After written on the raw socket), then
 * the WebSocket or plain-HTTP transport runs sessions. Fleet events (revocation, deletion, key
 * rotation) reach the agents this replica holds through `onFleetEvent`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { parseBearer } from "../credentials/index.js";
import { RateLimitedError, UnauthenticatedError, UnavailableError } from "../errors.js";
import type { AgentService } from "../fleet/agents/service.js";
import type { ConnectionAuth } from "../fleet/agents/types.js";
import type { AgentSessionFacts, ConfigPlanner } from "../fleet/configs/planner.js";
import type { DeliveryService } from "../fleet/deliveries/service.js";
import type { FleetEvent } from "../fleet/events.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { CLOSE, upgradeRejection } from "./errors.js";
import { HttpTransport } from "./http-transport.js";
import { type AgentEndpoint, ConnectionRegistry } from "./registry.js";
import type { SessionDeps, Transport } from "./session.js";
import { WebSocketTransport } from "./websocket-transport.js";

export const OPAMP_PATH = "/v1/opamp";
/** Agents planned (one database round of reads and writes) before their configs are pushed. */
const PUSH_CHUNK = 500;

export interface OpampServerOptions {
  replicaId: string;
  heartbeatIntervalSeconds: number;
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
  /** A silent WebSocket is pinged after 1.5 intervals and dropped when the ping goes unanswered. */
  pingIntervalMs: number;
  /** PUBLIC_OPAMP_URL, or undefined to derive it from the bound port. */
  publicUrl: string | undefined;
  /** Upgrades authenticating at once before further ones get 503 + Retry-After. */
  maxConcurrentHandshakes: number;
  /** PEM CA bundle to offer with agent keys (OPAMP_OFFER_CA_FILE), if any. */
  offerCaCert: Uint8Array | undefined;
  isDraining: () => boolean;
}

type Accepted =
  | { ok: true; auth: ConnectionAuth }
  | { ok: false; status: number; headers: Record<string, string> };

/** Maps a public URL to the scheme family of a transport (ws/wss ↔ http/https). */
export function endpointFor(base: string, transport: Transport): string {
  const url = new URL(base);
  const secure = url.protocol === "wss:" || url.protocol === "https:";
  url.protocol = transport === "websocket" ? (secure ? "wss:" : "ws:") : secure ? "https:" : "http:";
  return url.toString();
}

export class OpampServer {
  readonly registry = new ConnectionRegistry();
  readonly #ws: WebSocketTransport;
  readonly #http: HttpTransport;
  #publicBase: string;
  #handshakes = 0;
  /** Config retries after a KMS outage, per agent, with exponential backoff. */
  readonly #retries = new Map<string, { timer: NodeJS.Timeout; attempt: number }>();
  #stopped = false;

  constructor(
    private readonly agents: AgentService,
    private readonly configs: ConfigPlanner,
    deliveries: DeliveryService,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: OpampServerOptions,
  ) {
    this.#publicBase = options.publicUrl ?? "ws://localhost:8082/v1/opamp";
    const deps: SessionDeps = {
      agents,
      configs,
      deliveries,
      metrics,
      logger,
      replicaId: options.replicaId,
      heartbeatIntervalSeconds: options.heartbeatIntervalSeconds,
      publicUrl: (transport) => endpointFor(this.#publicBase, transport),
      retryConfigLater: (tenantId, instanceUid, seconds) => this.#retryLater(tenantId, instanceUid, seconds),
      offerCaCert: options.offerCaCert,
      isStopping: () => this.#stopped,
    };
    this.#ws = new WebSocketTransport(deps, this.registry, metrics, logger, {
      maxMessageBytes: options.maxMessageBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      pingIntervalMs: options.pingIntervalMs,
      maxQueuedFrames: 64,
    });
    this.#http = new HttpTransport(deps, this.registry, metrics, logger, {
      maxMessageBytes: options.maxMessageBytes,
      heartbeatIntervalSeconds: options.heartbeatIntervalSeconds,
    });
    metrics.setConnectedAgentsSource(() => this.registry.size);
  }

  /** Called once listening, when PUBLIC_OPAMP_URL is not set: the endpoint on the bound port. */
  setBoundPort(port: number): void {
    if (!this.options.publicUrl) this.#publicBase = `ws://localhost:${port}${OPAMP_PATH}`;
  }

  /** The endpoint offered to agents on a transport. */
  publicUrl(transport: Transport): string {
    return endpointFor(this.#publicBase, transport);
  }

  /** Authenticates and throttles a connection attempt (opamp-go's OnConnecting). */
  async #onConnecting(req: IncomingMessage): Promise<Accepted> {
    if (this.options.isDraining()) {
      return { ok: false, ...upgradeRejection(new UnavailableError("server is shutting down", 5)) };
    }
    if (this.#handshakes >= this.options.maxConcurrentHandshakes) {
      this.metrics.authFailure("opamp", "throttled");
      return { ok: false, ...upgradeRejection(new RateLimitedError(2)) };
    }
    this.#handshakes++;
    try {
      const header = req.headers.authorization;
      const bearer = header === undefined ? null : parseBearer(header);
      if (header !== undefined && bearer === null) throw new UnauthenticatedError("malformed");
      return { ok: true, auth: await this.agents.authenticate(bearer) };
    } catch (err) {
      if (err instanceof UnauthenticatedError) this.metrics.authFailure("opamp", err.reason);
      else this.logger.error({ err }, "OpAMP authentication failed unexpectedly");
      return { ok: false, ...upgradeRejection(err) };
    } finally {
      this.#handshakes--;
    }
  }

  /** The HTTP `upgrade` event for /v1/opamp. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => socket.destroy());
    if (String(req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
      writeRaw(socket, 400, {}, "expected a WebSocket upgrade");
      return;
    }
    const accepted = await this.#onConnecting(req);
    if (!accepted.ok) {
      writeRaw(socket, accepted.status, accepted.headers, "");
      return;
    }
    if (socket.destroyed) return;
    this.#ws.accept(req, socket, head, accepted.auth);
  }

  /** A plain request to /v1/opamp: POST with application/x-protobuf is the HTTP transport. */
  async handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      ?.trim()
      .toLowerCase();
    if (req.method !== "POST" || type !== "application/x-protobuf") {
      res
        .writeHead(req.method === "POST" ? 415 : 426, { "Content-Type": "text/plain", Upgrade: "websocket" })
        .end("OpAMP: use a WebSocket upgrade, or POST application/x-protobuf\n");
      return;
    }
    const accepted = await this.#onConnecting(req);
    if (!accepted.ok) {
      // Drain the body so the connection can be reused.
      req.resume();
      res.writeHead(accepted.status, accepted.headers).end();
      return;
    }
    await this.#http.serve(req, res, accepted.auth);
  }

  /** Applies a fleet event to the agents this replica holds. */
  async onFleetEvent(event: FleetEvent): Promise<void> {
    const uids = Array.isArray(event.payload.instanceUids) ? (event.payload.instanceUids as string[]) : [];
    if (event.kind === "config.changed" || event.kind === "agent.labels_changed") {
      if (event.kind === "config.changed") this.configs.invalidate(event.tenantId);
      await this.#pushConfigs(event.tenantId, uids.length > 0 ? uids : undefined);
      return;
    }
    for (const instanceUid of uids) {
      const endpoint = this.registry.get({ tenantId: event.tenantId, instanceUid });
      if (!endpoint) continue;
      switch (event.kind) {
        case "agent.revoked":
          endpoint.close(CLOSE.policyViolation, "agent revoked");
          break;
        case "agent.deleted":
          endpoint.close(CLOSE.policyViolation, "agent deleted");
          break;
        case "agent.key_rotation_requested": {
          const offer = await endpoint.session.keyRotationOffer();
          if (offer) endpoint.push(offer);
          break;
        }
        default:
          break;
      }
    }
  }

  /**
   * Recomputes the desired config of the tenant's agents held here (all of them, or `only`) and
   * pushes what changed, in one planning pass.
   */
  async #pushConfigs(tenantId: string, only?: readonly string[]): Promise<void> {
    const endpoints = only
      ? only.flatMap((instanceUid) => this.registry.get({ tenantId, instanceUid }) ?? [])
      : this.registry.all().filter((e) => e.session.ref?.tenantId === tenantId);
    const byUid = new Map<string, AgentEndpoint>();
    const facts: AgentSessionFacts[] = [];
    for (const e of endpoints) {
      const f = e.session.configFacts();
      if (!f) continue;
      byUid.set(f.instanceUid, e);
      facts.push(f);
    }
    // Plan and push chunk by chunk: the first agents get their config while later ones are still
    // being planned, and the next chunk's database round trips overlap this chunk's pushes.
    const planChunk = (i: number) => this.configs.plan(tenantId, facts.slice(i, i + PUSH_CHUNK));
    let next = facts.length > 0 ? planChunk(0) : undefined;
    for (let i = 0; next; i += PUSH_CHUNK) {
      const { offers, retryAfter } = await next;
      next = i + PUSH_CHUNK < facts.length ? planChunk(i + PUSH_CHUNK) : undefined;
      for (const [uid, offer] of offers) {
        const endpoint = byUid.get(uid);
        if (endpoint) endpoint.push(endpoint.session.remoteConfigMessage(offer));
        this.#clearRetry(tenantId, uid);
      }
      for (const [uid, seconds] of retryAfter) this.#retryLater(tenantId, uid, seconds);
    }
  }

  /**
   * A delivery failed closed because a secret could not be decrypted now: try again after the
   * KMS's hint, doubling up to 5 minutes while it keeps failing.
   */
  #retryLater(tenantId: string, instanceUid: string, seconds: number): void {
    if (this.#stopped) return;
    const key = `${tenantId}/${instanceUid}`;
    const previous = this.#retries.get(key);
    if (previous) clearTimeout(previous.timer);
    const attempt = (previous?.attempt ?? 0) + 1;
    const delayMs = Math.min(300_000, Math.max(1, seconds) * 1000 * 2 ** Math.min(attempt - 1, 8));
    const timer = setTimeout(() => {
      const entry = this.#retries.get(key);
      this.#pushConfigs(tenantId, [instanceUid])
        .then(() => {
          // Still failing: #pushConfigs re-armed it with a higher attempt; otherwise done.
          if (this.#retries.get(key) === entry) this.#retries.delete(key);
        })
        .catch((err: unknown) => this.logger.warn({ err }, "config retry failed"));
    }, delayMs);
    timer.unref();
    this.#retries.set(key, { timer, attempt });
  }

  #clearRetry(tenantId: string, instanceUid: string): void {
    const key = `${tenantId}/${instanceUid}`;
    const entry = this.#retries.get(key);
    if (entry) {
      clearTimeout(entry.timer);
      this.#retries.delete(key);
    }
  }

  get connectedAgents(): number {
    return this.registry.size;
  }

  /** Closes every connection (1001, paced) and ends every session. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const { timer } of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
    await this.#ws.stop();
    await this.#http.stop();
  }
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Writes a complete HTTP answer on a socket that was never upgraded, then closes it. */
function writeRaw(socket: Duplex, status: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed) return;
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`,
    "Connection: close",
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`);
}
