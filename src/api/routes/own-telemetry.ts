import { z } from "@hono/zod-openapi";
import { etagOf } from "../../fleet/etag.js";
import type { OwnTelemetryService } from "../../fleet/own-telemetry/service.js";
import { MAX_HEADERS } from "../../fleet/own-telemetry/settings.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, preconditionResponse, unprocessableResponse } from "../errors.js";
import { newRouter } from "../router.js";
import { IfMatchHeader, json, TenantIdParam } from "../schemas.js";

const SecretRef = z
  .strictObject({
    secret: z.string().max(128).openapi({ example: "xscaler_api_key" }),
    prefix: z
      .string()
      .max(256)
      .optional()
      .openapi({ description: 'Plain text sent before the secret value, e.g. "Bearer "' }),
  })
  .openapi("SecretHeaderRef", {
    description: "A header value taken from a tenant secret when offered; only the name is stored",
  });

const Destination = z
  .strictObject({
    endpoint: z
      .string()
      .max(4096)
      .openapi({ example: "https://otlp.example.com/v1/metrics", description: "Full OTLP/HTTP URL" }),
    headers: z
      .record(z.string().max(256), z.union([z.string().max(8192), SecretRef]))
      .default({})
      .openapi({
        description: `At most ${MAX_HEADERS}; a plain string or a secret reference`,
        example: { "x-scope-orgid": "acme", authorization: { secret: "xscaler_api_key", prefix: "Bearer " } },
      }),
  })
  .openapi("OwnTelemetryDestination");

const OwnTelemetryBody = z
  .strictObject({
    metrics: Destination.optional(),
    logs: Destination.optional(),
    traces: Destination.optional(),
  })
  .openapi("OwnTelemetrySettings");

const OwnTelemetry = z
  .object({
    metrics: Destination.nullable(),
    logs: Destination.nullable(),
    traces: Destination.nullable(),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .openapi("OwnTelemetry");

const tags = ["Own telemetry"];
const path = "/tenants/{tenantId}/own-telemetry";

const put = guardedRoute("editor", {
  method: "put",
  path,
  tags,
  summary:
    "Set where the tenant's collectors send their own metrics, logs and traces; offered to agents that report the matching capability",
  request: {
    params: TenantIdParam,
    headers: IfMatchHeader,
    body: { required: true, ...json(OwnTelemetryBody) },
  },
  responses: {
    201: { description: "Created", ...json(OwnTelemetry) },
    200: { description: "Replaced (or unchanged)", ...json(OwnTelemetry) },
    ...commonErrorResponses,
    ...preconditionResponse,
    ...unprocessableResponse,
  },
});
const get = guardedRoute("viewer", {
  method: "get",
  path,
  tags,
  summary: "The tenant's own-telemetry settings (secret references, never values)",
  request: { params: TenantIdParam },
  responses: { 200: { description: "The settings", ...json(OwnTelemetry) }, ...commonErrorResponses },
});
const remove = guardedRoute("editor", {
  method: "delete",
  path,
  tags,
  summary: "Stop own telemetry: agents are told to stop sending it",
  request: { params: TenantIdParam, headers: IfMatchHeader },
  responses: { 204: { description: "Deleted" }, ...commonErrorResponses, ...preconditionResponse },
});

export function ownTelemetryRoutes(ownTelemetry: OwnTelemetryService) {
  return newRouter()
    .openapi(put, async (c) => {
      const { tenantId } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      const { view, created } = await ownTelemetry.put(
        meta,
        tenantId,
        c.req.valid("json"),
        c.req.valid("header")["if-match"],
      );
      c.header("ETag", etagOf(view));
      return created ? c.json(view, 201) : c.json(view, 200);
    })
    .openapi(get, async (c) => {
      const { tenantId } = c.req.valid("param");
      const view = await ownTelemetry.get(c.get("actor"), tenantId);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(remove, async (c) => {
      const { tenantId } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      await ownTelemetry.delete(meta, tenantId, c.req.valid("header")["if-match"]);
      return c.body(null, 204);
    });
}
