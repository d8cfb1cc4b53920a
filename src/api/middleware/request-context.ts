/**
 * Request id (X-Request-Id: a caller's well-formed id is kept, otherwise a new one), and one
 * summary log line plus metrics per request, labelled by route template.
 */
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { newRecordId } from "../../credentials/index.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { withSpan } from "../../tracing.js";
import type { ApiEnv } from "../env.js";

const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestContext(logger: Logger, metrics: Metrics): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const started = performance.now();
    const offered = c.req.header("x-request-id");
    const requestId = offered && CALLER_REQUEST_ID.test(offered) ? offered : newRecordId("req");
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    // The span is named after the route template once routing has found it (never the raw path).
    await withSpan(c.req.method, "server", { "http.request.method": c.req.method }, async (span) => {
      await next();
      if (!span) return;
      const template = c.req.routePath || "unmatched";
      span.updateName(`${c.req.method} ${template}`);
      span.setAttributes({
        "http.route": template,
        "http.response.status_code": c.res.status,
        "request.id": requestId,
      });
    });
    const seconds = (performance.now() - started) / 1000;
    // The template of the route the request was for, even when a middleware answered it (a 404
    // for an unknown tenant, a 405, a 415): never the middleware's own pattern.
    const handler = matchedRoutes(c)
      .filter((r) => r.method !== "ALL")
      .at(-1);
    const route = handler?.path ?? (c.req.routePath || "unmatched");
    metrics.httpRequest(route, c.req.method, c.res.status, seconds);
    const actor = c.get("actor");
    logger.info(
      {
        requestId,
        method: c.req.method,
        route,
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round(seconds * 10_000) / 10,
        actor: actor ? actor.id : undefined,
      },
      "request",
    );
  };
}
