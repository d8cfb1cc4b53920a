import { z } from "@hono/zod-openapi";
import type { ConfigExplainer } from "../../fleet/configs/explain.js";
import type { DeliveryService } from "../../fleet/deliveries/service.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses } from "../errors.js";
import { newRouter } from "../router.js";
import {
  DeliveryCounts,
  IdempotencyKeyHeader,
  json,
  PageQuery,
  PositiveInt32,
  pageOf,
  TenantIdParam,
} from "../schemas.js";
import { AgentParams } from "./agents.js";
import { ObjectName } from "./config-templates.js";

const STATUSES = ["pending", "offered", "applying", "applied", "failed", "superseded", "stalled"] as const;

const Delivery = z
  .object({
    id: z.string(),
    instanceUid: z.string(),
    configHash: z.string(),
    status: z.enum(["pending", "offered", "applying", "applied", "failed", "superseded"]),
    stalled: z.boolean(),
    running: z
      .boolean()
      .openapi({ description: "The agent runs this config now (the last it reported applied)" }),
    errorMessage: z.string().nullable(),
    rolledBackFrom: z.string().nullable(),
    attempts: z.number().int(),
    template: z.string().nullable(),
    assignment: z.string().nullable(),
    revision: z.object({ template: z.string().nullable(), version: z.number().int().nullable() }).nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    offeredAt: z.string().nullable(),
    applyingAt: z.string().nullable(),
    appliedAt: z.string().nullable(),
    failedAt: z.string().nullable(),
    supersededAt: z.string().nullable(),
  })
  .openapi("Delivery");
const DeliveryPage = pageOf(Delivery, "DeliveryPage");

const Explanation = z
  .object({
    instanceUid: z.string(),
    labels: z.record(z.string(), z.string()),
    matching: z.array(
      z.object({
        assignment: z.string(),
        priority: z.number().int(),
        selector: z.string(),
        template: z.string(),
        revision: z.union([z.literal("latest"), z.number().int()]),
        layer: z.enum(["base", "overlay"]),
      }),
    ),
    layers: z
      .array(
        z.object({
          assignment: z.string(),
          template: z.string(),
          revision: z.number().int(),
          priority: z.number().int(),
          layer: z.enum(["base", "overlay"]),
        }),
      )
      .openapi({ description: "Every layer merged into the config, base first (docs/layers.md)" }),
    origins: z
      .array(
        z.object({
          section: z.enum(["receivers", "processors", "exporters", "extensions", "connectors", "pipelines"]),
          name: z.string(),
          setBy: z.array(z.string()),
        }),
      )
      .openapi({
        description:
          "For each top-level component and pipeline, the assignments whose layers set it, in merge order (the last one's values win)",
      }),
    conflictPath: z.string().nullable().openapi({
      description: "Two same-priority overlays set this path (dotted) to different values: nothing is sent",
    }),
    outcome: z.enum(["config", "none", "conflict", "render_failed", "missing_components"]),
    assignment: z.string().nullable(),
    conflict: z.array(z.string()),
    revision: z
      .object({ template: z.string(), version: z.number().int(), contentSha256: z.string() })
      .nullable(),
    renderedConfig: z.string().nullable().openapi({ description: "Rendered YAML with every secret masked" }),
    renderError: z.string().nullable(),
    missingComponents: z
      .array(
        z.object({
          kind: z.enum(["receiver", "processor", "exporter", "extension", "connector"]),
          type: z.string(),
        }),
      )
      .openapi({
        description:
          "Components the config uses that the agent's reported build lacks (outcome missing_components: nothing is sent)",
      }),
    delivery: z
      .object({
        configHash: z.string(),
        status: z.string(),
        errorMessage: z.string().nullable(),
        updatedAt: z.string(),
      })
      .nullable(),
    reported: z.unknown(),
    explanation: z.string(),
  })
  .openapi("AgentConfigExplanation");

const Filters = PageQuery.extend({
  status: z.enum(STATUSES).optional(),
  template: ObjectName.optional(),
  assignment: ObjectName.optional(),
});

const tags = ["Deliveries"];

const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/deliveries",
  tags,
  summary: "Deliveries, newest first; filter by status (incl. stalled), template, assignment",
  request: { params: TenantIdParam, query: Filters },
  responses: { 200: { description: "A page of deliveries", ...json(DeliveryPage) }, ...commonErrorResponses },
});
const rollups = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/deliveries/rollup",
  tags,
  summary: "Delivery counts per revision or per assignment",
  request: {
    params: TenantIdParam,
    query: z.object({ by: z.enum(["revision", "assignment"]).default("revision") }),
  },
  responses: {
    200: {
      description: "Counts",
      ...json(
        z.object({
          items: z.array(
            z.object({
              key: z.string(),
              template: z.string().optional(),
              version: z.number().int().optional(),
              counts: DeliveryCounts,
            }),
          ),
        }),
      ),
    },
    ...commonErrorResponses,
  },
});
const retryAll = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/deliveries/retry",
  tags,
  summary: "Push failed deliveries again, all or one revision's",
  request: {
    headers: IdempotencyKeyHeader,
    params: TenantIdParam,
    body: {
      required: false,
      content: {
        "application/json": {
          schema: z.strictObject({
            template: ObjectName.optional(),
            version: PositiveInt32.optional(),
          }),
        },
      },
    },
  },
  responses: {
    200: {
      description: "Agents whose failed deliveries were reopened",
      ...json(z.object({ agents: z.number().int() })),
    },
    ...commonErrorResponses,
  },
});
const agentDeliveries = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/agents/{instanceUid}/deliveries",
  tags,
  summary: "An agent's delivery history, newest first",
  request: { params: AgentParams, query: PageQuery.extend({ status: z.enum(STATUSES).optional() }) },
  responses: { 200: { description: "A page of deliveries", ...json(DeliveryPage) }, ...commonErrorResponses },
});
const agentRetry = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/agents/{instanceUid}/deliveries/retry",
  tags,
  summary: "Push this agent's failed config again",
  request: { headers: IdempotencyKeyHeader, params: AgentParams },
  responses: {
    200: { description: "Reopened", ...json(z.object({ agents: z.number().int() })) },
    ...commonErrorResponses,
  },
});
const explain = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/agents/{instanceUid}/config",
  tags: ["Agents"],
  summary: "Why the agent gets what it gets, with the rendered config (secrets masked)",
  request: { params: AgentParams },
  responses: { 200: { description: "The explanation", ...json(Explanation) }, ...commonErrorResponses },
});

export function deliveryRoutes(deliveries: DeliveryService, explainer: ConfigExplainer) {
  return newRouter()
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await deliveries.list(c.get("actor"), tenantId, c.req.valid("query")), 200);
    })
    .openapi(rollups, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(
        { items: await deliveries.rollups(c.get("actor"), tenantId, c.req.valid("query").by) },
        200,
      );
    })
    .openapi(retryAll, async (c) => {
      const { tenantId } = c.req.valid("param");
      const body = c.req.valid("json") ?? {};
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(
        await deliveries.retry(meta, tenantId, { template: body.template, version: body.version }),
        200,
      );
    })
    .openapi(agentDeliveries, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const q = c.req.valid("query");
      return c.json(await deliveries.list(c.get("actor"), tenantId, { ...q, instanceUid }), 200);
    })
    .openapi(agentRetry, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(await deliveries.retry(meta, tenantId, { instanceUid }), 200);
    })
    .openapi(explain, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      return c.json(await explainer.explainAgent(c.get("actor"), tenantId, instanceUid), 200);
    });
}
