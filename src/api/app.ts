/**
 * The HTTP application: operational endpoints, the admin REST API under /api/v1, its OpenAPI
 * document (generated from the route definitions) and a docs page.
 */
import { swaggerUI } from "@hono/swagger-ui";
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { AppContext } from "../context.js";
import {
  DatabaseUnavailableError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from "../errors.js";
import { isStorableText } from "../fleet/storable-text.js";
import type { Readiness } from "../readiness.js";
import type { ApiEnv } from "./env.js";
import { toProblem } from "./errors.js";
import { hasBody, isJsonMediaType, methodsOfPaths } from "./methods.js";
import { authenticate } from "./middleware/auth.js";
import { idempotency } from "./middleware/idempotency.js";
import { requestContext } from "./middleware/request-context.js";
import { agentRoutes } from "./routes/agents.js";
import { apiKeyRoutes } from "./routes/api-keys.js";
import { applyRoutes } from "./routes/apply.js";
import { assignmentRoutes } from "./routes/assignments.js";
import { auditRoutes } from "./routes/audit-events.js";
import { configTemplateRoutes } from "./routes/config-templates.js";
import { deliveryRoutes } from "./routes/deliveries.js";
import { enrollmentTokenRoutes } from "./routes/enrollment-tokens.js";
import { ownTelemetryRoutes } from "./routes/own-telemetry.js";
import { rolloutRoutes } from "./routes/rollouts.js";
import { secretRoutes } from "./routes/secrets.js";
import { tenantRoutes } from "./routes/tenants.js";
import { whoamiRoutes } from "./routes/whoami.js";
import { consoleFolder, serveFile, swaggerUiFolder } from "./static-assets.js";

export const API_VERSION = "0.1.0";

/** Builds the Hono app for `ctx`. Pure wiring: no listening, no side effects. */
export function createApiApp(ctx: AppContext, readiness: Readiness): OpenAPIHono<ApiEnv> {
  const { services, metrics, logger } = ctx;
  const apiLogger = logger.child({ component: "api" });
  const app = new OpenAPIHono<ApiEnv>();

  app.use("*", requestContext(apiLogger, metrics));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const report = await readiness.check();
    return c.json(
      { status: report.ready ? "ready" : "not ready", ...report.checks },
      report.ready ? 200 : 503,
    );
  });
  app.get("/metrics", async (c) => {
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  });

  const api = new OpenAPIHono<ApiEnv>();
  api.use(
    "*",
    bodyLimit({
      maxSize: ctx.config.http.bodyLimitBytes,
      onError: () => {
        throw new PayloadTooLargeError(ctx.config.http.bodyLimitBytes);
      },
    }),
  );
  api.use(
    "*",
    authenticate(services.adminKeys, metrics, { jwtCookie: ctx.config.auth.jwtSecret !== undefined }),
  );
  // A known path asked with a method it does not have is a 405 with Allow, before any route
  // template with a parameter in that place could take the request for another resource.
  const methodsOf = methodsOfPaths(app.routes);
  api.use("*", async (c, next) => {
    const allow = methodsOf(c.req.path);
    if (allow.length > 0 && !allow.includes(c.req.method))
      throw new MethodNotAllowedError(c.req.method, allow);
    await next();
  });
  // Every request body is JSON: another media type is a 415 before any route reads it (Hono's
  // validator would otherwise see an empty object and answer a misleading 400).
  api.use("*", async (c, next) => {
    if (hasBody(c.req.raw.headers) && !isJsonMediaType(c.req.header("content-type") ?? null)) {
      throw new UnsupportedMediaTypeError(c.req.header("content-type") ?? "no Content-Type");
    }
    await next();
  });
  // An operator key reaches every tenant, one that does not exist included, and a write there
  // would fail on the tenants foreign key: every tenant-scoped path answers 404 for it first.
  // (A tenant key names its own tenant, which exists while the key works.)
  api.use("/tenants/:tenantId/*", async (c, next) => {
    const actor = c.get("actor");
    const tenantId = c.req.param("tenantId") ?? "";
    // A malformed id is left to the route's validation (400 naming it).
    if (actor.role === "operator" && tenantId.length <= 64 && isStorableText(tenantId)) {
      await services.tenants.get(actor, tenantId);
    }
    await next();
  });
  // The route guards (access.ts) are declared with the routes, before any service exists.
  api.use("*", async (c, next) => {
    c.set("agentScope", services.agentAdmin);
    await next();
  });
  api.use("*", idempotency(services.idempotency));
  api.route("/", whoamiRoutes());
  api.route("/", tenantRoutes(services.tenants));
  api.route("/", apiKeyRoutes(services.adminKeys));
  api.route("/", enrollmentTokenRoutes(services.enrollmentTokens));
  api.route("/", auditRoutes(services.audit));
  api.route("/", agentRoutes(services.agentAdmin, services.agentRestarts));
  api.route("/", configTemplateRoutes(services.templates));
  api.route("/", assignmentRoutes(services.assignments, services.explainer));
  api.route("/", deliveryRoutes(services.deliveries, services.explainer));
  api.route("/", applyRoutes(services.apply));
  api.route("/", secretRoutes(services.secrets));
  api.route("/", ownTelemetryRoutes(services.ownTelemetry));
  api.route("/", rolloutRoutes(services.rollouts));
  app.route("/api/v1", api);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An xsa_ API key (operator or tenant), or an HS256 JWT when JWT_SECRET is set",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "agent-api",
      version: API_VERSION,
      description: "Admin REST API of the agent-api OpAMP fleet-management server",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
  });
  // The docs page's script and styles come from swagger-ui-dist on this server, not a CDN.
  app.get("/docs", swaggerUI({ url: "/openapi.json", title: "agent-api REST API", baseUrl: "/docs/assets" }));
  const swaggerUi = swaggerUiFolder();
  app.get("/docs/assets/swagger-ui-dist/:file", async (c) => {
    const res = await serveFile(c, swaggerUi, c.req.param("file"));
    if (!res) throw new NotFoundError("file");
    return res;
  });

  // The fleet console (console/, built into dist/console): a client of the API above only.
  const consoleRoot = consoleFolder();
  app.get("/ui", (c) => c.redirect("/ui/", 301));
  app.get("/ui/*", async (c) => {
    const relative = c.req.path.slice("/ui/".length) || "index.html";
    const res = await serveFile(c, consoleRoot, relative, {
      csp: true,
      immutable: relative.startsWith("assets/"),
    });
    if (!res)
      throw new NotFoundError(relative === "index.html" ? "console build (run npm run build)" : "file");
    return res;
  });

  app.notFound((c) => {
    const allow = methodsOf(c.req.path);
    const err =
      allow.length > 0 ? new MethodNotAllowedError(c.req.method, allow) : new NotFoundError("route");
    const { status, body, headers } = toProblem(err, c.get("requestId"), apiLogger);
    return c.json(body, status as 404, headers);
  });
  app.onError((err, c) => {
    // By class, for every route at once: a lost or refused database connection is a 503 the
    // client may retry, not a 500 (issue 16, item 11).
    const cause = ctx.database.isUnavailable(err) ? new DatabaseUnavailableError() : err;
    if (cause !== err) apiLogger.warn({ err, requestId: c.get("requestId") }, "database unavailable");
    const { status, body, headers } = toProblem(cause, c.get("requestId") ?? "none", apiLogger);
    return c.json(body, status as 400, headers);
  });
  return app;
}
