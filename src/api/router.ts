/** Every resource router is built here, so all share one validation hook. */
import { OpenAPIHono } from "@hono/zod-openapi";
import { ValidationError } from "../errors.js";
import type { ApiEnv } from "./env.js";
import { zodIssuesToFieldIssues } from "./errors.js";

const TARGET_NAMES: Record<string, string> = {
  json: "request body",
  query: "query parameters",
  param: "path parameters",
  header: "headers",
};

/** A router whose request validation failures become 400 problems with field paths. */
export function newRouter(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ValidationError(
          `invalid ${TARGET_NAMES[result.target] ?? result.target}`,
          zodIssuesToFieldIssues(result.error.issues),
        );
      }
    },
  });
}
