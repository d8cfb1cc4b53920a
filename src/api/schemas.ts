/** Request and response pieces shared by several routes. */
import { z } from "@hono/zod-openapi";
import { labelKeyProblem, labelValueProblem, MAX_LABELS } from "../fleet/labels.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../fleet/pagination.js";

export const TenantIdParam = z.object({
  tenantId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "tenantId", in: "path" }, example: "xs_acmeprod_ab12cd34" }),
});

export const PageQuery = z.object({
  cursor: z
    .string()
    .max(512)
    .optional()
    .openapi({ description: "Opaque cursor from the previous page's nextCursor" }),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
});

/** A page of items with the cursor of the next page (null on the last page). */
export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
}

/** Server-assigned labels, Kubernetes syntax. */
export const LabelsSchema = z
  .record(z.string(), z.string())
  .superRefine((labels, ctx) => {
    const entries = Object.entries(labels);
    if (entries.length > MAX_LABELS)
      ctx.addIssue({ code: "custom", message: `at most ${MAX_LABELS} labels` });
    for (const [key, value] of entries) {
      const keyProblem = labelKeyProblem(key);
      if (keyProblem) ctx.addIssue({ code: "custom", path: [key], message: `label key: ${keyProblem}` });
      const valueProblem = labelValueProblem(value);
      if (valueProblem) ctx.addIssue({ code: "custom", path: [key], message: `label ${valueProblem}` });
    }
  })
  .openapi({ example: { env: "prod", region: "eu" } });

export const NameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[\p{L}\p{N}][\p{L}\p{N} ._:-]*$/u,
    "letters, digits, space and ._:- only, starting with a letter or digit",
  );

export const FutureDateSchema = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

export const IfMatchHeader = z.object({
  "if-match": z.string().optional().openapi({ description: "ETag from a previous read; 412 when stale" }),
});

/** `{ content: { "application/json": { schema } } }`, for route request and response bodies. */
export function json<T extends z.ZodType>(schema: T) {
  return { content: { "application/json": { schema } } };
}

/** Delivery counts by state (roll-ups per revision or assignment). */
export const DeliveryCounts = z
  .object({
    applied: z.number().int(),
    failed: z.number().int(),
    pending: z.number().int(),
    offered: z.number().int(),
    applying: z.number().int(),
    stalled: z.number().int(),
    superseded: z.number().int(),
    drifted: z.number().int().openapi({
      description:
        "Agents whose desired config comes from here and that run another config (docs/drift.md); an agent, not a delivery row",
    }),
  })
  .openapi("DeliveryCounts");
