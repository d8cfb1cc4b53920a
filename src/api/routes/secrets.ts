import { z } from "@hono/zod-openapi";
import { etagOf } from "../../fleet/etag.js";
import type { SecretService } from "../../fleet/secrets/service.js";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../../render/index.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, conflictResponse, preconditionResponse } from "../errors.js";
import { newRouter } from "../router.js";
import { IfMatchHeader, json, PageQuery, pageOf, TenantIdParam } from "../schemas.js";

const Params = TenantIdParam.extend({
  name: z
    .string()
    .regex(SECRET_NAME_PATTERN, SECRET_NAME_RULE)
    .openapi({ param: { name: "name", in: "path" }, example: "otlp_token" }),
});

const Secret = z
  .object({
    name: z.string(),
    version: z.number().int(),
    updatedAt: z.string(),
    updatedBy: z.string(),
    kmsKeyId: z.string(),
  })
  .openapi("Secret");
const SecretDetail = Secret.extend({
  referencedBy: z.array(z.object({ template: z.string(), version: z.number().int(), inUse: z.boolean() })),
}).openapi("SecretDetail");

const unavailable = {
  503: {
    description:
      "The KMS is unavailable or throttling, or the database cannot be reached; retry after Retry-After seconds",
    content: { "application/problem+json": { schema: z.object({ code: z.string() }) } },
  },
};

const tags = ["Secrets"];

const put = guardedRoute("editor", {
  method: "put",
  path: "/tenants/{tenantId}/secrets/{name}",
  tags,
  summary: "Set a secret's value: a new version; the value is never shown again",
  request: {
    params: Params,
    headers: IfMatchHeader,
    body: { required: true, ...json(z.strictObject({ value: z.string().min(1) })) },
  },
  responses: {
    201: { description: "Created", ...json(Secret) },
    200: { description: "A new version", ...json(Secret) },
    ...commonErrorResponses,
    ...preconditionResponse,
    ...unavailable,
  },
});
const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/secrets",
  tags,
  summary: "List secrets (metadata only)",
  request: { params: TenantIdParam, query: PageQuery },
  responses: {
    200: { description: "A page of secrets", ...json(pageOf(Secret, "SecretPage")) },
    ...commonErrorResponses,
  },
});
const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/secrets/{name}",
  tags,
  summary: "Secret metadata and the templates that reference it",
  request: { params: Params },
  responses: {
    200: { description: "The secret's metadata", ...json(SecretDetail) },
    ...commonErrorResponses,
  },
});
const remove = guardedRoute("editor", {
  method: "delete",
  path: "/tenants/{tenantId}/secrets/{name}",
  tags,
  summary: "Delete a secret; 409 while an assigned revision references it, unless force=true",
  request: {
    params: Params,
    headers: IfMatchHeader,
    query: z.object({ force: z.enum(["true", "false"]).optional() }),
  },
  responses: {
    204: { description: "Deleted" },
    ...commonErrorResponses,
    ...conflictResponse,
    ...preconditionResponse,
  },
});

export function secretRoutes(secrets: SecretService) {
  return newRouter()
    .openapi(put, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      const { view, created } = await secrets.put(
        meta,
        tenantId,
        name,
        c.req.valid("json").value,
        c.req.valid("header")["if-match"],
      );
      c.header("Cache-Control", "no-store");
      return created ? c.json(view, 201) : c.json(view, 200);
    })
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await secrets.list(c.get("actor"), tenantId, c.req.valid("query")), 200);
    })
    .openapi(get, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const view = await secrets.get(c.get("actor"), tenantId, name);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(remove, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      await secrets.delete(
        meta,
        tenantId,
        name,
        c.req.valid("query").force === "true",
        c.req.valid("header")["if-match"],
      );
      return c.body(null, 204);
    });
}
