import { z } from "@hono/zod-openapi";
import type { AgentAdmin } from "../../fleet/agents/admin.js";
import type { AgentRestarts } from "../../fleet/agents/restarts.js";
import { etagOf } from "../../fleet/etag.js";
import { guardedRoute } from "../access.js";
import {
  commonErrorResponses,
  conflictResponse,
  preconditionResponse,
  unprocessableResponse,
} from "../errors.js";
import { newRouter } from "../router.js";
import { IdempotencyKeyHeader, IfMatchHeader, PageQuery, pageOf, TenantIdParam } from "../schemas.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const AgentParams = TenantIdParam.extend({
  instanceUid: z
    .string()
    .toLowerCase()
    .regex(UUID, "must be a canonical UUID")
    .openapi({ param: { name: "instanceUid", in: "path" }, example: "01890a5d-ac96-774b-bcce-b302099a8057" }),
});

const Agent = z
  .object({
    instanceUid: z.string(),
    tenantId: z.string(),
    status: z.enum(["online", "offline"]),
    attention: z.enum(["revoked", "needs_accepts_opamp_connection_settings"]).nullable().openapi({
      description: "Why the agent gets no config from the server, if anything stands in the way",
    }),
    labels: z.record(z.string(), z.string()),
    description: z
      .object({
        identifying: z.record(z.string(), z.string()),
        nonIdentifying: z.record(z.string(), z.string()),
      })
      .nullable(),
    capabilities: z.object({ bits: z.string(), names: z.array(z.string()) }),
    customCapabilities: z
      .array(z.string())
      .openapi({ description: "Custom capabilities the agent reported (reverse-DNS names)" }),
    health: z.unknown(),
    remoteConfigStatus: z.unknown(),
    runningConfig: z
      .object({
        configHash: z.string(),
        template: z.string().nullable(),
        version: z.number().int().nullable(),
        since: z.string().nullable(),
      })
      .nullable()
      .openapi({ description: "The config the agent last reported applied: what it runs now" }),
    drift: z.boolean().nullable().openapi({
      description:
        "It runs another config than it should (the hash it reported APPLIED is not its desired config's); null: not known (docs/drift.md)",
    }),
    driftReason: z.string().nullable().openapi({
      description: "Why it drifts, or why drift is not known; null when it runs what it should",
      example: "runs fleet-base@2 (3f2a1b2c) but should run fleet-base@3 (9c1d4e5f); its delivery is failed",
    }),
    connection: z.object({
      transport: z.string().nullable(),
      connectedAt: z.string().nullable(),
      disconnectedAt: z
        .string()
        .nullable()
        .openapi({ description: "When the last connection ended; null while connected" }),
      lastSeenAt: z.string().nullable(),
      heartbeatIntervalSeconds: z.number().int(),
    }),
    enrollmentTokenId: z.string().nullable(),
    enrolledAt: z.string(),
    keyConfirmedAt: z.string().nullable(),
    keyRotationRequestedAt: z.string().nullable(),
    restart: z.object({ requestedAt: z.string(), completedAt: z.string().nullable() }).nullable().openapi({
      description:
        "The last restart asked for; completedAt is when the agent reported a new start time (null: not back yet)",
    }),
    revokedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Agent");

const ComponentEntries = z.array(
  z.object({
    type: z.string(),
    module: z.string().nullable().openapi({ description: "Go module and version (code.namespace)" }),
  }),
);

const AvailableComponents = z
  .object({
    hash: z.string(),
    status: z.enum(["reported", "refused", "awaiting"]).openapi({
      description:
        "reported: the build's list is stored; refused: it was not accepted (see refusal); awaiting: asked for, not received",
    }),
    refusal: z.string().nullable(),
    reportedAt: z.string().nullable(),
    receivers: ComponentEntries,
    processors: ComponentEntries,
    exporters: ComponentEntries,
    extensions: ComponentEntries,
    connectors: ComponentEntries,
  })
  .nullable()
  .openapi("AvailableComponents", {
    description:
      "The collector build's components (AvailableComponents); null if the agent never reported them",
  });

const AgentDetail = Agent.extend({
  availableComponents: AvailableComponents,
  effectiveConfig: z
    .object({ files: z.record(z.string(), z.object({ body: z.string(), contentType: z.string() })) })
    .nullable(),
  keys: z.array(
    z.object({
      id: z.string(),
      displayPrefix: z.string(),
      fingerprint: z.string(),
      createdAt: z.string(),
      firstUsedAt: z.string().nullable(),
      lastUsedAt: z.string().nullable(),
      revokedAt: z.string().nullable(),
      revokeReason: z.string().nullable(),
    }),
  ),
}).openapi("AgentDetail");

const ListQuery = PageQuery.extend({
  selector: z.string().max(4096).optional().openapi({
    description: "Kubernetes label selector over server-assigned labels",
    example: "env=prod,region in (eu,us)",
  }),
  status: z.enum(["online", "offline"]).optional(),
  drift: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional()
    .openapi({
      description: "true: agents that drift; false: agents known to run what they should (unknown: neither)",
    }),
  q: z.string().max(200).optional().openapi({ description: "Text in the uid, description or labels" }),
});

const PatchAgent = z.strictObject({
  labels: z
    .record(z.string(), z.string().nullable())
    .openapi({ description: "JSON merge patch of the labels: a key set to null is removed" }),
});

const tags = ["Agents"];
const detail = { content: { "application/json": { schema: AgentDetail } } };

const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/agents",
  tags,
  summary: "List agents (filter by selector, status, text; cursor pages)",
  request: { params: TenantIdParam, query: ListQuery },
  responses: {
    200: {
      description: "A page of agents",
      content: { "application/json": { schema: pageOf(Agent, "AgentPage") } },
    },
    ...commonErrorResponses,
    ...unprocessableResponse,
  },
});

const FleetSummary = z
  .object({
    agents: z.object({
      total: z.number().int(),
      online: z.number().int(),
      offline: z.number().int(),
      attention: z.number().int().openapi({ description: "Revoked, or unable to receive its own key" }),
      drift: z.number().int().openapi({ description: "Running something other than what it should" }),
    }),
    labels: z
      .array(
        z.object({
          label: z.string().openapi({ example: "env=prod" }),
          total: z.number().int(),
          online: z.number().int(),
        }),
      )
      .openapi({ description: "The most common labels (key=value), most agents first (100 at most)" }),
  })
  .openapi("FleetSummary");

const summary = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/fleet",
  tags,
  summary: "The fleet at a glance: agents by status, attention and drift, and by label",
  request: { params: TenantIdParam },
  responses: {
    200: {
      description: "Counts over every agent of the tenant",
      content: { "application/json": { schema: FleetSummary } },
    },
    ...commonErrorResponses,
  },
});

const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/agents/{instanceUid}",
  tags,
  summary: "Get an agent: description, capabilities, health, effective config, keys",
  request: { params: AgentParams },
  responses: { 200: { description: "The agent", ...detail }, ...commonErrorResponses },
});

const patch = guardedRoute("editor", {
  method: "patch",
  path: "/tenants/{tenantId}/agents/{instanceUid}",
  tags,
  summary: "Change an agent's server-assigned labels",
  request: {
    params: AgentParams,
    headers: IfMatchHeader,
    body: { required: true, content: { "application/json": { schema: PatchAgent } } },
  },
  responses: {
    200: { description: "The agent", ...detail },
    ...commonErrorResponses,
    ...preconditionResponse,
  },
});

const revoke = guardedRoute("admin", {
  method: "post",
  path: "/tenants/{tenantId}/agents/{instanceUid}/revoke",
  tags,
  summary: "Revoke an agent: its keys stop working and its connection is closed",
  request: { headers: IdempotencyKeyHeader, params: AgentParams },
  responses: { 200: { description: "The agent, now revoked", ...detail }, ...commonErrorResponses },
});

const rotate = guardedRoute("admin", {
  method: "post",
  path: "/tenants/{tenantId}/agents/{instanceUid}/rotate-key",
  tags,
  summary: "Offer the agent a new key; the current one works until the new one is used",
  request: { headers: IdempotencyKeyHeader, params: AgentParams },
  responses: {
    200: { description: "The agent, rotation pending", ...detail },
    ...commonErrorResponses,
    ...unprocessableResponse,
  },
});

const remove = guardedRoute("admin", {
  method: "delete",
  path: "/tenants/{tenantId}/agents/{instanceUid}",
  tags,
  summary:
    "Delete an agent and its keys (its delivery history is kept); a revoked agent can then enroll again",
  request: { params: AgentParams, headers: IfMatchHeader },
  responses: { 204: { description: "Deleted" }, ...commonErrorResponses, ...preconditionResponse },
});

const RestartAccepted = z
  .object({
    instanceUid: z.string(),
    restart: z.object({ requestedAt: z.string(), completedAt: z.null() }),
  })
  .openapi("RestartAccepted");

const RestartMany = z
  .strictObject({
    selector: z.string().max(4096).openapi({
      description: "Label selector over server-assigned labels; an empty selector matches every agent",
      example: "env=prod",
    }),
  })
  .openapi("RestartMany");

const RestartsAccepted = z
  .object({
    requested: z.number().int().openapi({ description: "Agents the restart command is sent to" }),
    skipped: z
      .object({
        revoked: z.number().int(),
        noRestartCapability: z.number().int(),
        notConnected: z.number().int(),
      })
      .openapi({ description: "Matching agents that were not asked, by reason" }),
    perSecond: z.number().openapi({ description: "The pace of the commands (RESTART_RATE_PER_SECOND)" }),
    spreadSeconds: z.number().openapi({ description: "How long after the request the last command goes" }),
  })
  .openapi("RestartsAccepted");

const restartOne = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/agents/{instanceUid}/restart",
  tags,
  summary: "Restart the agent's collector (OpAMP Restart command)",
  description:
    "202 when the command is sent to the connected agent; 409 with the reason when the agent does not report AcceptsRestartCommand, is not connected or is revoked (nothing is sent then).",
  request: { headers: IdempotencyKeyHeader, params: AgentParams },
  responses: {
    202: { description: "The command is sent", content: { "application/json": { schema: RestartAccepted } } },
    ...commonErrorResponses,
    ...conflictResponse,
  },
});

const restartMany = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/agents/restart",
  tags,
  summary: "Restart every connected agent a selector matches, paced",
  request: {
    headers: IdempotencyKeyHeader,
    params: TenantIdParam,
    body: { required: true, content: { "application/json": { schema: RestartMany } } },
  },
  responses: {
    202: {
      description: "How many agents are asked, and how many were skipped",
      content: { "application/json": { schema: RestartsAccepted } },
    },
    ...commonErrorResponses,
    ...unprocessableResponse,
  },
});

export function agentRoutes(agents: AgentAdmin, restarts: AgentRestarts) {
  return newRouter()
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await agents.list(c.get("actor"), tenantId, c.req.valid("query")), 200);
    })
    .openapi(summary, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await agents.summary(c.get("actor"), tenantId), 200);
    })
    .openapi(get, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const view = await agents.get(c.get("actor"), tenantId, instanceUid);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(patch, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const view = await agents.patchLabels(
        { actor: c.get("actor"), requestId: c.get("requestId") },
        tenantId,
        instanceUid,
        c.req.valid("json").labels,
        c.req.valid("header")["if-match"],
      );
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(revoke, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(await agents.revoke(meta, tenantId, instanceUid), 200);
    })
    .openapi(rotate, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(await agents.requestKeyRotation(meta, tenantId, instanceUid), 200);
    })
    .openapi(restartMany, async (c) => {
      const { tenantId } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(await restarts.restartMany(meta, tenantId, c.req.valid("json").selector), 202);
    })
    .openapi(restartOne, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(await restarts.restart(meta, tenantId, instanceUid), 202);
    })
    .openapi(remove, async (c) => {
      const { tenantId, instanceUid } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      await agents.delete(meta, tenantId, instanceUid, c.req.valid("header")["if-match"]);
      return c.body(null, 204);
    });
}
