import { z } from "@hono/zod-openapi";
import type { AdminKeyService } from "../../fleet/admin-keys/service.js";
import { etagOf } from "../../fleet/etag.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, preconditionResponse } from "../errors.js";
import { newRouter } from "../router.js";
import {
  FutureDateSchema,
  IdempotencyKeyHeader,
  IfMatchHeader,
  NameSchema,
  PageQuery,
  pageOf,
  TenantIdParam,
} from "../schemas.js";

const ApiKey = z
  .object({
    id: z.string().openapi({ example: "key_01jd0000000000000000000000" }),
    tenantId: z.string().nullable(),
    name: z.string(),
    role: z.enum(["operator", "admin", "editor", "viewer"]),
    displayPrefix: z.string().openapi({ example: "xsa_a1B2c3" }),
    fingerprint: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedApiKey = ApiKey.extend({
  key: z.string().nullable().openapi({ description: "The xsa_ key. Shown once, in this answer only." }),
}).openapi("CreatedApiKey");

const CreateApiKey = z.strictObject({
  name: NameSchema.openapi({ example: "ci" }),
  role: z.enum(["admin", "editor", "viewer"]),
  expiresAt: FutureDateSchema.optional(),
});

const KeyParams = TenantIdParam.extend({
  keyId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "keyId", in: "path" } }),
});

const tags = ["API keys"];

const create = guardedRoute("admin", {
  method: "post",
  path: "/tenants/{tenantId}/api-keys",
  tags,
  summary: "Create a tenant API key; the key is returned once",
  request: {
    headers: IdempotencyKeyHeader,
    params: TenantIdParam,
    body: { required: true, content: { "application/json": { schema: CreateApiKey } } },
  },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: CreatedApiKey } } },
    ...commonErrorResponses,
  },
});

const list = guardedRoute("admin", {
  method: "get",
  path: "/tenants/{tenantId}/api-keys",
  tags,
  summary: "List a tenant's API keys",
  request: { params: TenantIdParam, query: PageQuery },
  responses: {
    200: {
      description: "A page of keys",
      content: { "application/json": { schema: pageOf(ApiKey, "ApiKeyPage") } },
    },
    ...commonErrorResponses,
  },
});

const get = guardedRoute("admin", {
  method: "get",
  path: "/tenants/{tenantId}/api-keys/{keyId}",
  tags,
  summary: "Get an API key",
  request: { params: KeyParams },
  responses: {
    200: { description: "The key", content: { "application/json": { schema: ApiKey } } },
    ...commonErrorResponses,
  },
});

const revoke = guardedRoute("admin", {
  method: "delete",
  path: "/tenants/{tenantId}/api-keys/{keyId}",
  tags,
  summary: "Revoke an API key; it gets 401 from then on",
  request: { params: KeyParams, headers: IfMatchHeader },
  responses: {
    200: { description: "The key, now revoked", content: { "application/json": { schema: ApiKey } } },
    ...commonErrorResponses,
    ...preconditionResponse,
  },
});

export function apiKeyRoutes(adminKeys: AdminKeyService) {
  return newRouter()
    .openapi(create, async (c) => {
      const { tenantId } = c.req.valid("param");
      const input = c.req.valid("json");
      const { view, key } = await adminKeys.create(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        tenantId,
        {
          name: input.name,
          role: input.role,
          expiresAt: input.expiresAt,
        },
      );
      c.header("ETag", etagOf(view));
      c.header("Location", `/api/v1/tenants/${tenantId}/api-keys/${view.id}`);
      c.header("Cache-Control", "no-store");
      return c.json({ ...view, key }, 201);
    })
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      const q = c.req.valid("query");
      return c.json(
        await adminKeys.list(c.get("actor"), tenantId, { cursor: q.cursor, limit: q.limit }),
        200,
      );
    })
    .openapi(get, async (c) => {
      const { tenantId, keyId } = c.req.valid("param");
      const view = await adminKeys.get(c.get("actor"), tenantId, keyId);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(revoke, async (c) => {
      const { tenantId, keyId } = c.req.valid("param");
      const view = await adminKeys.revoke(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        tenantId,
        keyId,
        c.req.valid("header")["if-match"],
      );
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    });
}
