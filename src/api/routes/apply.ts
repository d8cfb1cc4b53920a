import { z } from "@hono/zod-openapi";
import type { ApplyService } from "../../fleet/configs/apply.js";
import { guardedRoute } from "../access.js";
import { commonErrorResponses, conflictResponse, unprocessableResponse } from "../errors.js";
import { newRouter } from "../router.js";
import { IdempotencyKeyHeader, TenantIdParam } from "../schemas.js";
import { AssignmentBody } from "./assignments.js";
import { ObjectName } from "./config-templates.js";

const Bundle = z
  .strictObject({
    source: z.string().min(1).max(200).openapi({
      description: "Marker written on every applied object; prune deletes only objects with the same one",
      example: "git:acme/fleet-config",
    }),
    templates: z
      .array(
        z.strictObject({
          name: ObjectName,
          content: z
            .string()
            .min(1)
            .max(256 * 1024),
          description: z.string().max(1000).optional(),
        }),
      )
      .max(1000)
      .default([]),
    assignments: z
      .array(AssignmentBody.extend({ name: ObjectName }))
      .max(1000)
      .default([]),
  })
  .openapi("ApplyBundle");

const Answer = z
  .object({
    dryRun: z.boolean(),
    changes: z.array(
      z.object({
        kind: z.enum(["template", "assignment"]),
        name: z.string(),
        action: z.enum(["create", "update", "unchanged", "delete"]),
        detail: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
    summary: z.object({
      create: z.number().int(),
      update: z.number().int(),
      unchanged: z.number().int(),
      delete: z.number().int(),
    }),
  })
  .openapi("ApplyResult");

const booleanParam = z
  .enum(["true", "false", "1", "0"])
  .optional()
  .transform((v) => v === "true" || v === "1");

const apply = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/apply",
  tags: ["GitOps"],
  summary: "Apply a declarative bundle atomically; dryRun=true answers the diff only",
  request: {
    headers: IdempotencyKeyHeader,
    params: TenantIdParam,
    query: z.object({ dryRun: booleanParam, prune: booleanParam }),
    body: { required: true, content: { "application/json": { schema: Bundle } } },
  },
  responses: {
    200: {
      description: "The changes (made, or that would be made)",
      content: { "application/json": { schema: Answer } },
    },
    ...commonErrorResponses,
    ...conflictResponse,
    ...unprocessableResponse,
  },
});

export function applyRoutes(service: ApplyService) {
  return newRouter().openapi(apply, async (c) => {
    const { tenantId } = c.req.valid("param");
    const { dryRun, prune } = c.req.valid("query");
    const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
    return c.json(await service.apply(meta, tenantId, c.req.valid("json"), { dryRun, prune }), 200);
  });
}
