import { z } from "@hono/zod-openapi";
import type { AuditLog } from "../../fleet/audit/service.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses } from "../errors.js";
import { newRouter } from "../router.js";
import { PageQuery, pageOf, TenantIdParam } from "../schemas.js";

const AuditEvent = z
  .object({
    id: z.string(),
    tenantId: z.string().nullable(),
    actor: z.object({ type: z.string(), id: z.string() }),
    action: z.string().openapi({ example: "enrollment_token.create" }),
    target: z.object({ type: z.string(), id: z.string() }),
    requestId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
  })
  .openapi("AuditEvent");

const AuditQuery = PageQuery.extend({ action: z.string().max(100).optional() });
const AuditPage = pageOf(AuditEvent, "AuditEventPage");
const tags = ["Audit"];

const tenantEvents = guardedRoute("admin", {
  method: "get",
  path: "/tenants/{tenantId}/audit-events",
  tags,
  summary: "A tenant's audit trail, newest first",
  request: { params: TenantIdParam, query: AuditQuery },
  responses: {
    200: { description: "A page of audit events", content: { "application/json": { schema: AuditPage } } },
    ...commonErrorResponses,
  },
});

const operatorEvents = guardedRoute("operator", {
  method: "get",
  path: "/audit-events",
  tags,
  summary: "Operator-level audit trail, newest first",
  request: { query: AuditQuery },
  responses: {
    200: { description: "A page of audit events", content: { "application/json": { schema: AuditPage } } },
    ...commonErrorResponses,
  },
});

export function auditRoutes(audit: AuditLog) {
  return newRouter()
    .openapi(tenantEvents, async (c) => {
      const { tenantId } = c.req.valid("param");
      const q = c.req.valid("query");
      return c.json(await audit.listForTenant(c.get("actor"), tenantId, q), 200);
    })
    .openapi(operatorEvents, async (c) => {
      return c.json(await audit.listOperatorEvents(c.get("actor"), c.req.valid("query")), 200);
    });
}
