/** Every resource router is built here, so all share one validation hook. */
import { OpenAPIHono } from "@hono/zod-openapi";
import { UnprocessableError, ValidationError } from "../errors.js";
import type { ApiEnv } from "./env.js";
import { zodIssuesToFieldIssues } from "./errors.js";
import { inputIssues } from "./request-input.js";

const TARGET_NAMES: Record<string, string> = {
  json: "request body",
  query: "query parameters",
  param: "path parameters",
  header: "headers",
};

/**
 * A router whose request validation failures become 400 problems with field paths. Every input
 * also passes the checks of request-input.ts (storable text, no reserved keys) on the raw value
 * the client sent, so no schema has to repeat them and a new field is covered by construction.
 */
export function newRouter(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: async (result, c) => {
      const where = TARGET_NAMES[result.target] ?? result.target;
      // The raw body (cached by Hono): the parsed one has lost what zod dropped (`__proto__`).
      const raw: unknown =
        result.target === "json"
          ? await c.req.json().catch(() => undefined)
          : (result as { data?: unknown }).data;
      const found = inputIssues(raw);
      if (found.reservedKeys.length > 0) {
        throw new UnprocessableError(`invalid ${where}: reserved keys`, found.reservedKeys);
      }
      const schemaIssues = result.success ? [] : zodIssuesToFieldIssues(result.error.issues);
      // Query parameters are strict like bodies: one the route does not declare is a 400 naming
      // it (a misspelt filter would otherwise list everything). The parsed object keeps every
      // declared name (defaults included), so a raw name missing from it is unknown.
      if (result.success && result.target === "query") {
        const parsed = (result as { data?: Record<string, unknown> }).data ?? {};
        for (const name of Object.keys(c.req.queries())) {
          if (!Object.hasOwn(parsed, name))
            schemaIssues.push({ path: name, message: "unknown query parameter" });
        }
      }
      const textPaths = new Set(found.text.map((i) => i.path));
      const issues = [...found.text, ...schemaIssues.filter((i) => !textPaths.has(i.path))];
      if (issues.length > 0) throw new ValidationError(`invalid ${where}`, issues);
    },
  });
}
