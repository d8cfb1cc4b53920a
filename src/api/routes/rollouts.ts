/**
 * Rollouts (issue 12): start one, list and read them with their agents, pause, resume, abort.
 * The strategy is checked by the service (one checker for this route, assignments and GitOps),
 * so a bad one is a 422 naming the field (`strategy.waves`), and nothing is stored.
 */
import { z } from "@hono/zod-openapi";
import type { RolloutService } from "../../fleet/rollouts/service.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, conflictResponse, unprocessableResponse } from "../errors.js";
import { newRouter } from "../router.js";
import { IdempotencyKeyHeader, json, PageQuery, PositiveInt32, pageOf, TenantIdParam } from "../schemas.js";
import { ObjectName } from "./config-templates.js";

const STATES = ["running", "paused", "completed", "aborted", "superseded"] as const;
const AGENT_STATES = ["pending", "in_progress", "succeeded", "failed", "rolled_back"] as const;

export const StrategySchema = z.unknown().openapi({
  type: "object",
  description:
    "canary: a count or a percentage (default 1); canarySelector: a label selector choosing the canary instead; " +
    'waves: cumulative percentages ending at "100%" (default ["100%"]); bakeSeconds (default 60); ' +
    "maxFailures: a count or a percentage (default 0)",
  example: { canary: 2, waves: ["25%", "100%"], bakeSeconds: 120, maxFailures: 0 },
});

const StartBody = z.strictObject({
  assignment: ObjectName,
  revision: PositiveInt32,
  // null (like absent) means the defaults; a union so that the documented type admits it.
  strategy: z.union([StrategySchema, z.null()]).optional(),
  supersede: z
    .boolean()
    .optional()
    .openapi({ description: "Supersede a running or paused rollout of the assignment instead of a 409" }),
});

const Counts = z.object({
  pending: z.number().int(),
  inProgress: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  rolledBack: z.number().int(),
  drifted: z.number().int().openapi({ description: "Agents of the population that drift (docs/drift.md)" }),
});

const Rollout = z
  .object({
    id: z.string(),
    assignment: z.string(),
    template: z.string(),
    fromRevision: z.number().int(),
    toRevision: z.number().int(),
    state: z.enum(STATES),
    reason: z.string().nullable(),
    strategy: z.object({
      canary: z.union([z.number(), z.string()]),
      canarySelector: z.string().optional(),
      waves: z.array(z.string()),
      bakeSeconds: z.number().int(),
      maxFailures: z.union([z.number(), z.string()]),
    }),
    currentWave: z.number().int().openapi({ description: "0 while the canary goes, then the wave number" }),
    waveTargets: z
      .array(z.number().int())
      .openapi({ description: "Cumulative agents: canary, then each wave" }),
    population: z.number().int(),
    counts: Counts,
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi("Rollout");

const RolloutAgent = z
  .object({
    instanceUid: z.string(),
    position: z.number().int(),
    canary: z.boolean(),
    state: z.enum(AGENT_STATES),
    reason: z.string().nullable(),
    admittedAt: z.string().nullable(),
    appliedAt: z.string().nullable(),
    drift: z
      .boolean()
      .nullable()
      .openapi({ description: "Runs another config than it should (null: not known)" }),
    finishedAt: z.string().nullable(),
  })
  .openapi("RolloutAgent");

const IdParams = TenantIdParam.extend({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const tags = ["Rollouts"];

const start = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/rollouts",
  tags,
  summary: "Start a rollout of an assignment to a revision",
  request: {
    headers: IdempotencyKeyHeader,
    params: TenantIdParam,
    body: { required: true, ...json(StartBody) },
  },
  responses: {
    201: { description: "Started", ...json(Rollout) },
    ...commonErrorResponses,
    ...unprocessableResponse,
  },
});
const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/rollouts",
  tags,
  summary: "List rollouts, newest first",
  request: {
    params: TenantIdParam,
    query: PageQuery.extend({ state: z.enum(STATES).optional(), assignment: ObjectName.optional() }),
  },
  responses: {
    200: { description: "A page of rollouts", ...json(pageOf(Rollout, "RolloutPage")) },
    ...commonErrorResponses,
  },
});
const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/rollouts/{id}",
  tags,
  summary: "Get a rollout",
  request: { params: IdParams },
  responses: { 200: { description: "The rollout", ...json(Rollout) }, ...commonErrorResponses },
});
const agents = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/rollouts/{id}/agents",
  tags,
  summary: "Each agent's rollout state and reason, in admission order",
  request: { params: IdParams, query: PageQuery.extend({ state: z.enum(AGENT_STATES).optional() }) },
  responses: {
    200: { description: "A page of agents", ...json(pageOf(RolloutAgent, "RolloutAgentPage")) },
    ...commonErrorResponses,
  },
});

function verbRoute(verb: "pause" | "resume" | "abort", summary: string) {
  return guardedRoute("editor", {
    method: "post",
    path: `/tenants/{tenantId}/rollouts/{id}/${verb}`,
    tags,
    summary,
    request: { headers: IdempotencyKeyHeader, params: IdParams },
    responses: {
      200: { description: "The rollout after the change", ...json(Rollout) },
      ...commonErrorResponses,
      ...conflictResponse,
    },
  });
}

export function rolloutRoutes(rollouts: RolloutService) {
  const router = newRouter()
    .openapi(start, async (c) => {
      const { tenantId } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      const b = c.req.valid("json");
      const view = await rollouts.create(meta, tenantId, {
        assignment: b.assignment,
        revision: b.revision,
        strategy: b.strategy,
        supersede: b.supersede ?? false,
      });
      return c.json(view, 201);
    })
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await rollouts.list(c.get("actor"), tenantId, c.req.valid("query")), 200);
    })
    .openapi(get, async (c) => {
      const { tenantId, id } = c.req.valid("param");
      return c.json(await rollouts.get(c.get("actor"), tenantId, id), 200);
    })
    .openapi(agents, async (c) => {
      const { tenantId, id } = c.req.valid("param");
      return c.json(await rollouts.agents(c.get("actor"), tenantId, id, c.req.valid("query")), 200);
    });
  for (const [verb, summary] of [
    ["pause", "Pause a running rollout: nobody else gets the target"],
    ["resume", "Resume a paused rollout; failures so far no longer count"],
    ["abort", "Abort: every agent that got the target gets its previous revision back"],
  ] as const) {
    router.openapi(verbRoute(verb, summary), async (c) => {
      const { tenantId, id } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      return c.json(await rollouts.act(meta, tenantId, id, verb), 200);
    });
  }
  return router;
}
