/**
 * createServer(ctx): one Node HTTP server on one port for REST, operations endpoints and
 * (from the OpAMP layer) /v1/opamp. `start()` listens; `stop()` drains and releases everything.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { createApiApp } from "./api/app.js";
import type { AppContext } from "./context.js";
import { Readiness } from "./readiness.js";

export interface RunningServer {
  /** Starts listening; resolves with the bound port (useful with PORT=0). */
  start(): Promise<{ port: number; url: string }>;
  /** Marks not-ready, stops accepting, drains in-flight work, closes the database. Idempotent. */
  stop(): Promise<void>;
  readonly http: Server;
}

export function createServer(ctx: AppContext): RunningServer {
  const readiness = new Readiness(ctx.database, ctx.state);
  const app = createApiApp(ctx, readiness);
  const http = createHttpServer(getRequestListener(app.fetch));
  // Slow or incomplete request headers are cut off well before Node's 60 s default.
  http.headersTimeout = 10_000;
  http.requestTimeout = 30_000;
  http.keepAliveTimeout = 5_000;
  const log = ctx.logger.child({ component: "server" });
  let stopping: Promise<void> | undefined;

  return {
    http,
    async start() {
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject);
        http.listen(ctx.config.http.port, ctx.config.http.host, () => {
          http.off("error", reject);
          resolve();
        });
      });
      const { port } = http.address() as AddressInfo;
      const host = ctx.config.http.host === "0.0.0.0" ? "localhost" : ctx.config.http.host;
      const url = `http://${host}:${port}`;
      log.info({ port, database: ctx.database.kind }, "agent-api listening");
      return { port, url };
    },
    stop() {
      stopping ??= (async () => {
        const started = Date.now();
        ctx.state.draining = true;
        log.info("draining");
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        const grace = ctx.config.http.shutdownGraceMs;
        const timer = setTimeout(() => http.closeAllConnections(), grace);
        await closed;
        clearTimeout(timer);
        await ctx.close();
        log.info({ durationMs: Date.now() - started }, "stopped");
      })();
      return stopping;
    },
  };
}
