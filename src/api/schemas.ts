/** Request and response pieces shared by several routes. */
import { z } from "@hono/zod-openapi";
import { LABEL_VALUE, labelKeyProblem, labelValueProblem, MAX_LABELS } from "../fleet/labels.js";
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

const LABEL_RULES =
  `At most ${MAX_LABELS} labels, Kubernetes syntax. A key is an optional prefix and "/" ` +
  "(a DNS subdomain: lower-case, at most 253 characters) and a name of 1-63 characters of " +
  "[A-Za-z0-9._-] starting and ending alphanumeric (e.g. `env`, `example.com/team`). A value is " +
  "empty or at most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric. " +
  "A request breaking a rule is answered 400 (problem+json naming the key) and nothing is stored.";

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
  .openapi({
    description: LABEL_RULES,
    example: { env: "prod", region: "eu" },
    maxProperties: MAX_LABELS,
    additionalProperties: { type: "string" as const, maxLength: 63, pattern: LABEL_VALUE.source },
  });

/**
 * The Idempotency-Key header every POST under /api/v1 accepts, for the document: spread into each
 * POST route's `request.headers`. middleware/idempotency.ts enforces it (the route validator sees
 * headers lower-cased, so this canonical spelling documents without validating twice).
 */
export const IdempotencyKeyHeader = z.object({
  "Idempotency-Key": z
    .string()
    .min(1)
    .max(255)
    .optional()
    .openapi({
      param: { name: "Idempotency-Key", in: "header" },
      pattern: "^[\\x21-\\x7e]{1,255}$",
      description:
        "Makes a retried POST safe: a repeat with the same key and the same body (same caller, " +
        "within 24 h) is answered with the first answer again, marked `Idempotent-Replayed: true`, " +
        "and does nothing twice; a replayed creation answer leaves out its one-time secret (`token`, " +
        "`key`). A 5xx answer is not kept (the retry runs again). The same key with another path " +
        "or body is refused with 409. 1-255 visible ASCII characters (400 otherwise).",
      example: "9b2d6f0e-4c1a-4f3e-9a57-2f1c3d4e5f60",
    }),
});

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
