import { z } from "@hono/zod-openapi";
import type { AssignmentService } from "../../fleet/configs/assignments.js";
import type { ConfigExplainer } from "../../fleet/configs/explain.js";
import { etagOf } from "../../fleet/etag.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, preconditionResponse, unprocessableResponse } from "../errors.js";
import { newRouter } from "../router.js";
import {
  DeliveryCounts,
  IfMatchHeader,
  Int32,
  json,
  PageQuery,
  PositiveInt32,
  pageOf,
  TenantIdParam,
} from "../schemas.js";
import { ObjectName } from "./config-templates.js";
import { StrategySchema } from "./rollouts.js";

const Params = TenantIdParam.extend({
  name: ObjectName.openapi({ param: { name: "name", in: "path" }, example: "prod-base" }),
});

export const AssignmentBody = z.strictObject({
  selector: z.string().max(4096).openapi({ example: "env=prod,region in (eu,us)" }),
  template: ObjectName,
  revision: z.union([z.literal("latest"), PositiveInt32]).default("latest"),
  priority: Int32.min(-1_000_000).max(1_000_000).default(0),
  layer: z.enum(["base", "overlay"]).default("base").openapi({
    description:
      "base: the highest-priority matching base wins (as before); overlay: merged over the winning base in ascending priority (docs/layers.md)",
  }),
  description: z.string().max(1000).optional(),
  matchReportedAttributes: z.boolean().optional().openapi({
    description:
      "Also match agent-reported attributes (off by default: an agent must not be able to claim another fleet's config)",
  }),
  // A union, not .nullable(): the strategy's documented `type: object` would hide the null.
  rollout: z
    .union([StrategySchema, z.null()])
    .optional()
    .openapi({ description: "Default rollout strategy: a new revision then goes out as a rollout" }),
});

const Assignment = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    selector: z.string(),
    matchReportedAttributes: z.boolean(),
    template: z.string(),
    revision: z.union([z.literal("latest"), z.number().int()]),
    priority: z.number().int(),
    layer: z.enum(["base", "overlay"]),
    source: z.string().nullable(),
    rollout: z.record(z.string(), z.unknown()).nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Assignment");
const AssignmentDetail = Assignment.extend({
  status: z.object({
    matchedAgents: z.number().int(),
    winningAgents: z.number().int(),
    conflictingAgents: z.number().int(),
    conflicts: z.array(z.object({ instanceUid: z.string(), tiedWith: z.array(z.string()) })),
    agentsMissingComponents: z.number().int().openapi({
      description: "Agents this assignment wins whose reported build lacks a component of their config",
    }),
    missingComponents: z
      .array(z.object({ instanceUid: z.string(), missing: z.array(z.string()) }))
      .openapi({ description: 'Up to 50 of those agents, with what their build lacks (`exporter "kafka"`)' }),
    deliveries: DeliveryCounts,
  }),
}).openapi("AssignmentDetail");

const tags = ["Assignments"];

const put = guardedRoute("editor", {
  method: "put",
  path: "/tenants/{tenantId}/assignments/{name}",
  tags,
  summary: "Create or replace an assignment",
  request: { params: Params, headers: IfMatchHeader, body: { required: true, ...json(AssignmentBody) } },
  responses: {
    201: { description: "Created", ...json(Assignment) },
    200: { description: "Replaced (or unchanged)", ...json(Assignment) },
    ...commonErrorResponses,
    ...preconditionResponse,
    ...unprocessableResponse,
  },
});
const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/assignments",
  tags,
  summary: "List assignments",
  request: { params: TenantIdParam, query: PageQuery },
  responses: {
    200: { description: "A page of assignments", ...json(pageOf(Assignment, "AssignmentPage")) },
    ...commonErrorResponses,
  },
});
const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/assignments/{name}",
  tags,
  summary: "Get an assignment with the agents it matches, wins and ties on, and its delivery roll-up",
  request: { params: Params },
  responses: { 200: { description: "The assignment", ...json(AssignmentDetail) }, ...commonErrorResponses },
});
const remove = guardedRoute("editor", {
  method: "delete",
  path: "/tenants/{tenantId}/assignments/{name}",
  tags,
  summary: "Delete an assignment",
  request: { params: Params, headers: IfMatchHeader },
  responses: { 204: { description: "Deleted" }, ...commonErrorResponses, ...preconditionResponse },
});

export function assignmentRoutes(assignments: AssignmentService, explainer: ConfigExplainer) {
  return newRouter()
    .openapi(put, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      const b = c.req.valid("json");
      const { view, created } = await assignments.put(
        meta,
        tenantId,
        name,
        {
          selector: b.selector,
          template: b.template,
          revision: b.revision,
          priority: b.priority,
          layer: b.layer,
          description: b.description,
          matchReportedAttributes: b.matchReportedAttributes,
          rollout: b.rollout,
        },
        c.req.valid("header")["if-match"],
      );
      c.header("ETag", etagOf(view));
      return created ? c.json(view, 201) : c.json(view, 200);
    })
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await assignments.list(c.get("actor"), tenantId, c.req.valid("query")), 200);
    })
    .openapi(get, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const view = await assignments.get(c.get("actor"), tenantId, name);
      c.header("ETag", etagOf(view));
      const status = await explainer.assignmentStatus(c.get("actor"), tenantId, name);
      return c.json({ ...view, status }, 200);
    })
    .openapi(remove, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      await assignments.delete(meta, tenantId, name, c.req.valid("header")["if-match"]);
      return c.body(null, 204);
    });
}
