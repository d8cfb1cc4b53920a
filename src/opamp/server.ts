/**
 * The OpAMP endpoint, shaped like opamp-go's server: `onConnecting` authenticates and throttles
 * before any WebSocket exists (401 / 429 / 503 + Retry-After written on the raw socket), then
 * the WebSocket or plain-HTTP transport runs sessions. Fleet events (revocation, deletion, key
 * rotation) reach the agents this replica holds through `onFleetEvent`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Clock, ClockTimer } from "../clock.js";
import {
  DatabaseUnavailableError,
  RateLimitedError,
  UnauthenticatedError,
  UnavailableError,
} from "../errors.js";
import type { AgentAuthenticator } from "../fleet/agents/authenticator.js";
import type { Liveness } from "../fleet/agents/liveness.js";
import type { AgentSessions } from "../fleet/agents/sessions.js";
import type { ConnectionAuth } from "../fleet/agents/types.js";
import type { ComponentCatalog } from "../fleet/components/catalog.js";
import type { ConfigPlanner } from "../fleet/configs/planner.js";
import type { DeliveryService } from "../fleet/deliveries/service.js";
import type { FleetEvent } from "../fleet/events.js";
import type { OwnTelemetryService } from "../fleet/own-telemetry/service.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { ConfigPusher } from "./config-pusher.js";
import { CLOSE, upgradeRejection } from "./errors.js";
import { HttpTransport } from "./http-transport.js";
import { OwnTelemetryPusher } from "./own-telemetry-pusher.js";
import { type AgentEndpoint, ConnectionRegistry } from "./registry.js";
import type { SessionDeps, Transport } from "./session.js";
import { WebSocketTransport } from "./websocket-transport.js";

export const OPAMP_PATH = "/v1/opamp";

/** The fleet units the OpAMP endpoint calls down into. */
export interface OpampFleet {
  authenticator: AgentAuthenticator;
  sessions: AgentSessions;
  planner: ConfigPlanner;
  deliveries: DeliveryService;
  components: ComponentCatalog;
  liveness: Liveness;
  ownTelemetry: OwnTelemetryService;
}

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
  /** Agents of a fan-out planned per database round (OPAMP_PUSH_CHUNK). */
  pushChunk: number;
  /** PEM CA bundle to offer with agent keys (OPAMP_OFFER_CA_FILE), if any. */
  offerCaCert: Uint8Array | undefined;
  isDraining: () => boolean;
  /** Whether an error says the database cannot be reached now (answered 503 + Retry-After). */
  isDatabaseUnavailable: (err: unknown) => boolean;
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
  readonly pusher: ConfigPusher;
  readonly ownTelemetry: OwnTelemetryPusher;
  readonly #ws: WebSocketTransport;
  readonly #http: HttpTransport;
  readonly #authenticator: AgentAuthenticator;
  #publicBase: string;
  #handshakes = 0;
  #stopped = false;
  /** Paced restart commands not sent yet. */
  readonly #pacedRestarts = new Set<ClockTimer>();

  constructor(
    fleet: OpampFleet,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: OpampServerOptions,
  ) {
    this.#authenticator = fleet.authenticator;
    this.#publicBase = options.publicUrl ?? "ws://localhost:8082/v1/opamp";
    this.pusher = new ConfigPusher(this.registry, fleet.planner, clock, logger, options.pushChunk);
    this.ownTelemetry = new OwnTelemetryPusher(this.registry, fleet.ownTelemetry, clock, logger);
    const deps: SessionDeps = {
      sessions: fleet.sessions,
      pusher: this.pusher,
      ownTelemetry: this.ownTelemetry,
      deliveries: fleet.deliveries,
      components: fleet.components,
      clock,
      metrics,
      logger,
      replicaId: options.replicaId,
      heartbeatIntervalSeconds: options.heartbeatIntervalSeconds,
      publicUrl: (transport) => endpointFor(this.#publicBase, transport),
      offerCaCert: options.offerCaCert,
      isStopping: () => this.#stopped,
    };
    this.#ws = new WebSocketTransport(deps, this.registry, metrics, logger, {
      maxMessageBytes: options.maxMessageBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      pingIntervalMs: options.pingIntervalMs,
      maxQueuedFrames: 64,
    });
    this.#http = new HttpTransport(deps, this.registry, metrics, logger, fleet.liveness, clock, {
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

  /**
   * Authenticates and throttles a connection attempt (opamp-go's OnConnecting). A refusal is
   * logged with its reason and the peer's address, never with the credential.
   */
  async #onConnecting(req: IncomingMessage): Promise<Accepted> {
    const refuse = (reason: string, err: unknown): Accepted => {
      const rejection = upgradeRejection(err);
      this.metrics.opampRefused(reason);
      this.logger.info(
        { reason, status: rejection.status, remoteAddress: req.socket.remoteAddress },
        "OpAMP connection refused",
      );
      return { ok: false, ...rejection };
    };
    if (this.options.isDraining()) {
      return refuse("draining", new UnavailableError("server is shutting down", 5));
    }
    if (this.#handshakes >= this.options.maxConcurrentHandshakes) {
      this.metrics.authFailure("opamp", "throttled");
      return refuse("throttled", new RateLimitedError(2));
    }
    this.#handshakes++;
    try {
      return { ok: true, auth: await this.#authenticator.authenticate(req.headers.authorization) };
    } catch (err) {
      if (err instanceof UnauthenticatedError) {
        this.metrics.authFailure("opamp", err.reason);
        return refuse(err.reason, err);
      }
      if (this.options.isDatabaseUnavailable(err)) return refuse("database", new DatabaseUnavailableError());
      this.logger.error({ err }, "OpAMP authentication failed unexpectedly");
      return refuse("internal", err);
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
    switch (event.kind) {
      case "config.changed":
        this.pusher.invalidate(event.tenantId);
        await this.pusher.pushTo(event.tenantId, event.payload.instanceUids);
        // Own-telemetry headers may reference the secret (the hash decides what is re-offered).
        if (event.payload.reason === "secret") await this.ownTelemetry.pushTo(event.tenantId);
        return;
      case "own_telemetry.changed":
        await this.ownTelemetry.pushTo(event.tenantId);
        return;
      case "agent.labels_changed":
        await this.pusher.pushTo(event.tenantId, event.payload.instanceUids);
        return;
      case "agent.revoked":
      case "agent.deleted":
        for (const endpoint of this.#held(event.tenantId, event.payload.instanceUids)) {
          endpoint.close(
            CLOSE.policyViolation,
            event.kind === "agent.revoked" ? "agent revoked" : "agent deleted",
          );
        }
        return;
      case "agent.key_rotation_requested":
        for (const endpoint of this.#held(event.tenantId, event.payload.instanceUids)) {
          const offer = await endpoint.session.keyRotationOffer();
          if (offer) endpoint.push(offer);
        }
        return;
      case "agent.restart_requested":
        this.#scheduleRestarts(event.tenantId, event.payload.instanceUids, event.payload.perSecond);
        return;
      case "rollout.changed":
        // The rollout driver reads it; the pushes come with the config.changed event beside it.
        return;
    }
  }

  /**
   * Sends the restart command to the agents of the list this replica holds, the n-th one at
   * n / perSecond seconds from now (every replica reads the event at about the same time, so the
   * fleet keeps one pace however the agents are spread over replicas).
   */
  #scheduleRestarts(tenantId: string, instanceUids: readonly string[], perSecond: number | undefined): void {
    instanceUids.forEach((instanceUid, n) => {
      const ref = { tenantId, instanceUid };
      if (!this.registry.get(ref)) return;
      const delayMs = perSecond ? Math.floor((n * 1000) / perSecond) : 0;
      if (delayMs === 0) {
        this.#sendRestart(this.registry.get(ref));
        return;
      }
      const timer = this.clock.setTimeout(() => {
        this.#pacedRestarts.delete(timer);
        // Looked up again: the agent may have reconnected (or left) meanwhile.
        this.#sendRestart(this.registry.get(ref));
      }, delayMs);
      this.#pacedRestarts.add(timer);
    });
  }

  #sendRestart(endpoint: AgentEndpoint | undefined): void {
    const command = endpoint?.session.restartCommand();
    if (!endpoint || !command) return;
    endpoint.push(command);
    this.metrics.commandSent("restart");
    const ref = endpoint.session.ref;
    this.logger.info({ tenantId: ref?.tenantId, instanceUid: ref?.instanceUid }, "restart command sent");
  }

  /** The endpoints this replica holds for these agents of a tenant. */
  #held(tenantId: string, instanceUids: readonly string[]) {
    return instanceUids.flatMap((instanceUid) => this.registry.get({ tenantId, instanceUid }) ?? []);
  }

  get connectedAgents(): number {
    return this.registry.size;
  }

  /** Closes every connection (1001, paced) and ends every session. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#pacedRestarts) timer.cancel();
    this.#pacedRestarts.clear();
    this.pusher.stop();
    this.ownTelemetry.stop();
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
