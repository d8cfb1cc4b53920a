import { z } from "@hono/zod-openapi";
import type { EnrollmentTokenService } from "../../fleet/enrollment/tokens.js";
import { etagOf } from "../../fleet/etag.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, preconditionResponse } from "../errors.js";
import { newRouter } from "../router.js";
import {
  FutureDateSchema,
  IdempotencyKeyHeader,
  IfMatchHeader,
  LabelsSchema,
  NameSchema,
  PageQuery,
  PositiveInt32,
  pageOf,
  TenantIdParam,
} from "../schemas.js";

const EnrollmentToken = z
  .object({
    id: z.string().openapi({ example: "enr_01jd0000000000000000000000" }),
    tenantId: z.string(),
    name: z.string(),
    labels: z.record(z.string(), z.string()),
    displayPrefix: z.string().openapi({ example: "xse_a1B2c3" }),
    fingerprint: z.string(),
    expiresAt: z.string().nullable(),
    maxUses: z.number().int().nullable(),
    useCount: z.number().int(),
    allowConfigOnToken: z.boolean(),
    status: z.enum(["active", "expired", "exhausted", "revoked"]),
    createdAt: z.string(),
    createdBy: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("EnrollmentToken");

const CreatedEnrollmentToken = EnrollmentToken.extend({
  token: z.string().nullable().openapi({ description: "The xse_ token. Shown once, in this answer only." }),
}).openapi("CreatedEnrollmentToken");

const CreateEnrollmentToken = z.strictObject({
  name: NameSchema.openapi({ example: "prod-hosts" }),
  labels: LabelsSchema.default({}),
  expiresAt: FutureDateSchema.optional(),
  maxUses: PositiveInt32.max(100_000_000).optional(),
  allowConfigOnToken: z.boolean().optional().openapi({
    description:
      "Serve config to agents that stay on this token (collectors running only the opamp extension, which cannot switch to a per-agent key)",
  }),
});

const TokenParams = TenantIdParam.extend({
  tokenId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "tokenId", in: "path" } }),
});

const tags = ["Enrollment tokens"];

const create = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/enrollment-tokens",
  tags,
  summary: "Create an enrollment token; the token is returned once",
  request: {
    headers: IdempotencyKeyHeader,
    params: TenantIdParam,
    body: { required: true, content: { "application/json": { schema: CreateEnrollmentToken } } },
  },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: CreatedEnrollmentToken } } },
    ...commonErrorResponses,
  },
});

const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/enrollment-tokens",
  tags,
  summary: "List enrollment tokens",
  request: { params: TenantIdParam, query: PageQuery },
  responses: {
    200: {
      description: "A page of tokens",
      content: { "application/json": { schema: pageOf(EnrollmentToken, "EnrollmentTokenPage") } },
    },
    ...commonErrorResponses,
  },
});

const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/enrollment-tokens/{tokenId}",
  tags,
  summary: "Get an enrollment token",
  request: { params: TokenParams },
  responses: {
    200: { description: "The token", content: { "application/json": { schema: EnrollmentToken } } },
    ...commonErrorResponses,
  },
});

const revoke = guardedRoute("editor", {
  method: "delete",
  path: "/tenants/{tenantId}/enrollment-tokens/{tokenId}",
  tags,
  summary: "Revoke an enrollment token; new connections with it get 401",
  request: { params: TokenParams, headers: IfMatchHeader },
  responses: {
    200: {
      description: "The token, now revoked",
      content: { "application/json": { schema: EnrollmentToken } },
    },
    ...commonErrorResponses,
    ...preconditionResponse,
  },
});

export function enrollmentTokenRoutes(tokens: EnrollmentTokenService) {
  return newRouter()
    .openapi(create, async (c) => {
      const { tenantId } = c.req.valid("param");
      const input = c.req.valid("json");
      const { view, token } = await tokens.create(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        tenantId,
        {
          name: input.name,
          labels: input.labels,
          expiresAt: input.expiresAt,
          maxUses: input.maxUses,
          allowConfigOnToken: input.allowConfigOnToken,
        },
      );
      c.header("ETag", etagOf(view));
      c.header("Location", `/api/v1/tenants/${tenantId}/enrollment-tokens/${view.id}`);
      c.header("Cache-Control", "no-store");
      return c.json({ ...view, token }, 201);
    })
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      const q = c.req.valid("query");
      return c.json(await tokens.list(c.get("actor"), tenantId, { cursor: q.cursor, limit: q.limit }), 200);
    })
    .openapi(get, async (c) => {
      const { tenantId, tokenId } = c.req.valid("param");
      const view = await tokens.get(c.get("actor"), tenantId, tokenId);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(revoke, async (c) => {
      const { tenantId, tokenId } = c.req.valid("param");
      const view = await tokens.revoke(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        tenantId,
        tokenId,
        c.req.valid("header")["if-match"],
      );
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    });
}
