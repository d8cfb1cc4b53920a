/**
 * createServer(ctx): one Node HTTP server on one port for REST, operations endpoints and OpAMP
 * (/v1/opamp, WebSocket upgrade or plain-HTTP POST). `start()` listens and starts the background
 * work (replica presence, fleet events, batched heartbeats); `stop()` drains and releases it all.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { createApiApp } from "./api/app.js";
import { rawProblemResponse } from "./api/errors.js";
import type { AppContext } from "./context.js";
import { newRecordId } from "./credentials/index.js";
import { OfflineDeliveryPlanner } from "./fleet/configs/offline.js";
import { RolloutDriver } from "./fleet/rollouts/driver.js";
import { OPAMP_PATH, OpampServer } from "./opamp/server.js";
import { Readiness } from "./readiness.js";

export interface RunningServer {
  /** Starts listening; resolves with the bound port (useful with PORT=0). */
  start(): Promise<{ port: number; url: string }>;
  /** Marks not-ready, closes agent connections, drains requests, closes the database. Idempotent. */
  stop(): Promise<void>;
  readonly http: Server;
  readonly opamp: OpampServer;
  /** This replica's rollout driver (tests stop it as a crashed replica would: leases kept). */
  readonly rollouts: RolloutDriver;
}

/** How often a replica steps the rollouts it drives, and how long its lease on one lasts. */
export const ROLLOUT_TICK_MS = 1_000;
export const ROLLOUT_LEASE_MS = 15_000;

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const q = raw.indexOf("?");
  return q >= 0 ? raw.slice(0, q) : raw;
}

export function createServer(ctx: AppContext): RunningServer {
  const { config, services, metrics, logger } = ctx;
  const readiness = new Readiness(ctx.database, ctx.state);
  metrics.setReadinessSource(async () => (await readiness.check()).ready);
  const opamp = new OpampServer(
    {
      authenticator: services.agentAuthenticator,
      sessions: services.agentSessions,
      planner: services.configPlanner,
      deliveries: services.deliveries,
      components: services.components,
      liveness: services.liveness,
      ownTelemetry: services.ownTelemetry,
    },
    ctx.clock,
    metrics,
    logger.child({ component: "opamp" }),
    {
      replicaId: ctx.replicaId,
      heartbeatIntervalSeconds: config.opamp.heartbeatIntervalSeconds,
      maxMessageBytes: config.opamp.maxMessageBytes,
      handshakeTimeoutMs: config.opamp.handshakeTimeoutMs,
      pingIntervalMs: config.opamp.pingIntervalMs,
      publicUrl: config.opamp.publicUrl,
      maxConcurrentHandshakes: config.opamp.maxConcurrentHandshakes,
      pushChunk: config.opamp.pushChunk,
      offerCaCert: ctx.offerCaCert,
      isDraining: () => ctx.state.draining,
      isDatabaseUnavailable: (err) => ctx.database.isUnavailable(err),
    },
  );
  const app = createApiApp(ctx, readiness);
  const rest = getRequestListener(app.fetch);
  const log = logger.child({ component: "server" });

  // Slow or incomplete request headers (including upgrade requests) are cut off at 10 s; the
  // check runs every second instead of Node's default 30 s.
  const http = createHttpServer({
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    connectionsCheckingInterval: 1_000,
  });
  http.keepAliveTimeout = 5_000;
  http.on("request", (req, res) => {
    if (pathOf(req.url) === OPAMP_PATH) {
      opamp.handleRequest(req, res).catch((err: unknown) => {
        log.error({ err }, "OpAMP HTTP request failed");
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    void rest(req, res);
  });
  // What Node's parser refuses before any route runs (a query string over the header limit, a
  // malformed request) is answered as problem+json too, and the connection closed.
  http.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.end(rawProblemResponse(status, newRecordId("req")));
  });
  http.on("upgrade", (req, socket, head) => {
    if (pathOf(req.url) !== OPAMP_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    opamp.handleUpgrade(req, socket, head).catch((err: unknown) => {
      log.error({ err }, "OpAMP upgrade failed");
      socket.destroy();
    });
  });
  const offline = new OfflineDeliveryPlanner(
    services.configPlanner,
    ctx.fleetEvents,
    ctx.replicaId,
    logger.child({ component: "offline-planner" }),
  );
  // Secret changes on any replica: redaction and own-telemetry offers must use the new values at
  // once. Subscribed before the OpAMP server, which re-offers after reading the same event.
  ctx.fleetEvents.subscribe((event) => {
    if (event.kind === "config.changed" && event.payload.reason === "secret") {
      services.secrets.invalidate(event.tenantId);
      services.ownTelemetry.invalidate(event.tenantId);
    }
    if (event.kind === "own_telemetry.changed") services.ownTelemetry.invalidate(event.tenantId);
  });
  const rollouts = new RolloutDriver(
    ctx.database.db,
    services.rollouts,
    services.audit,
    services.liveness,
    ctx.clock,
    logger.child({ component: "rollouts" }),
    {
      replicaId: ctx.replicaId,
      tickMs: ROLLOUT_TICK_MS,
      leaseMs: ROLLOUT_LEASE_MS,
      stallMs: config.fleet.deliveryStallMs,
    },
  );
  ctx.fleetEvents.subscribe((event) => opamp.onFleetEvent(event));
  ctx.fleetEvents.subscribe((event) => rollouts.onFleetEvent(event));
  ctx.fleetEvents.subscribe((event) => offline.onFleetEvent(event));

  let stopping: Promise<void> | undefined;
  let started = false;

  return {
    http,
    opamp,
    rollouts,
    async start() {
      await ctx.replica.start();
      await ctx.fleetEvents.start();
      rollouts.start();
      services.agentSessions.startLiveness();
      started = true;
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject);
        http.listen(config.http.port, config.http.host, () => {
          http.off("error", reject);
          resolve();
        });
      });
      const { port } = http.address() as AddressInfo;
      opamp.setBoundPort(port);
      const host = config.http.host === "0.0.0.0" ? "localhost" : config.http.host;
      log.info(
        {
          port,
          database: ctx.database.kind,
          replicaId: ctx.replicaId,
          opampEndpoint: opamp.publicUrl("websocket"),
        },
        "agent-api listening",
      );
      return { port, url: `http://${host}:${port}` };
    },
    stop() {
      stopping ??= (async () => {
        const t0 = Date.now();
        ctx.state.draining = true;
        log.info({ connectedAgents: opamp.connectedAgents }, "draining: closing every agent connection");
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        await opamp.stop();
        http.closeIdleConnections();
        const timer = setTimeout(() => http.closeAllConnections(), config.http.shutdownGraceMs);
        await closed;
        clearTimeout(timer);
        if (started) {
          await rollouts.stop();
          await ctx.fleetEvents.stop();
          await offline.drain();
          await services.deliveries.drainPlanWrites();
          await services.agentSessions.stopLiveness();
          await ctx.replica.stop();
        }
        await ctx.close();
        log.info({ durationMs: Date.now() - t0 }, "stopped");
      })();
      return stopping;
    },
  };
}
