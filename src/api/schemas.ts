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

/**
 * The bounds of every integer a request may carry: the database's integer columns are 32-bit
 * (PostgreSQL `integer`), so a larger number is refused here, as a 400 naming the field, instead
 * of failing in the database. Every integer input is one of these schemas (a test walks
 * /openapi.json for unbounded ones).
 */
export const INT32_MAX = 2_147_483_647;
export const INT32_MIN = -2_147_483_648;

/** An integer in a JSON body: `Int32.min(1)` and the like narrow it further. */
export const Int32 = z.number().int().min(INT32_MIN).max(INT32_MAX);
/** A positive integer in a JSON body (a revision number, a version). */
export const PositiveInt32 = z.number().int().min(1).max(INT32_MAX);
/** A positive integer in a path or query parameter (text coerced to a number). */
export const PositiveInt32Param = z.coerce.number().int().min(1).max(INT32_MAX);

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

/**
 * A string matching `pattern`, documented in /openapi.json with the pattern's source. The OpenAPI
 * generator writes `regex.toString()` minus its slashes, so a regex with flags came out with a
 * literal "/u" at its end and could never match; JSON Schema patterns are ECMA-262 regexes read
 * with Unicode semantics, which is what the `u` flag asks for.
 */
export function matching(pattern: RegExp, message: string) {
  return z.string().regex(pattern, message).openapi({ pattern: pattern.source });
}

export const NameSchema = matching(
  /^[\p{L}\p{N}][\p{L}\p{N} ._:-]*$/u,
  "letters, digits, space and ._:- only, starting with a letter or digit",
)
  .min(1)
  .max(128);

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
