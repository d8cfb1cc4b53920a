import { z } from "@hono/zod-openapi";
import { etagOf } from "../../fleet/etag.js";
import type { TenantService } from "../../fleet/tenants/service.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, preconditionResponse } from "../errors.js";
import { newRouter } from "../router.js";
import { IdempotencyKeyHeader, IfMatchHeader, PageQuery, pageOf, TenantIdParam } from "../schemas.js";

const Tenant = z
  .object({
    id: z.string().openapi({ example: "xs_acmeprod_ab12cd34" }),
    displayName: z.string(),
    orgId: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("Tenant");

const CreateTenant = z.strictObject({
  displayName: z.string().trim().min(1).max(200).openapi({ example: "Acme Prod" }),
  orgId: z
    .string()
    .regex(/^xs_org_[0-9a-f]{32}$/, "must look like xs_org_<32 hex>")
    .optional()
    .openapi({ example: "xs_org_0123456789abcdef0123456789abcdef" }),
});

const tags = ["Tenants"];

const create = guardedRoute("operator", {
  method: "post",
  path: "/tenants",
  tags,
  summary: "Create a tenant",
  request: {
    headers: IdempotencyKeyHeader,
    body: { required: true, content: { "application/json": { schema: CreateTenant } } },
  },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: Tenant } } },
    ...commonErrorResponses,
  },
});

const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants",
  tags,
  summary: "List tenants (the operator sees all, a tenant key its own)",
  request: { query: PageQuery },
  responses: {
    200: {
      description: "A page of tenants",
      content: { "application/json": { schema: pageOf(Tenant, "TenantPage") } },
    },
    ...commonErrorResponses,
  },
});

const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}",
  tags,
  summary: "Get a tenant",
  request: { params: TenantIdParam },
  responses: {
    200: { description: "The tenant", content: { "application/json": { schema: Tenant } } },
    ...commonErrorResponses,
  },
});

const remove = guardedRoute("operator", {
  method: "delete",
  path: "/tenants/{tenantId}",
  tags,
  summary: "Delete a tenant and everything it owns",
  request: { params: TenantIdParam, headers: IfMatchHeader },
  responses: { 204: { description: "Deleted" }, ...commonErrorResponses, ...preconditionResponse },
});

export function tenantRoutes(tenants: TenantService) {
  return newRouter()
    .openapi(create, async (c) => {
      const input = c.req.valid("json");
      const view = await tenants.create(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        { displayName: input.displayName, orgId: input.orgId },
      );
      c.header("ETag", etagOf(view));
      c.header("Location", `/api/v1/tenants/${view.id}`);
      return c.json(view, 201);
    })
    .openapi(list, async (c) => {
      const q = c.req.valid("query");
      return c.json(await tenants.list(c.get("actor"), { cursor: q.cursor, limit: q.limit }), 200);
    })
    .openapi(get, async (c) => {
      const view = await tenants.get(c.get("actor"), c.req.valid("param").tenantId);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(remove, async (c) => {
      await tenants.delete(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        c.req.valid("param").tenantId,
        c.req.valid("header")["if-match"],
      );
      return c.body(null, 204);
    });
}
