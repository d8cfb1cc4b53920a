/**
 * Idempotency-Key on POST (see fleet/idempotency/store.ts): a retry with the same key and body
 * gets the first answer again, marked `Idempotent-Replayed: true`; a 5xx answer is not kept,
 * so the retry runs again.
 */
import type { MiddlewareHandler } from "hono";
import { BadRequestError } from "../../errors.js";
import { type IdempotencyStore, requestFingerprint } from "../../fleet/idempotency/store.js";
import type { ApiEnv } from "../env.js";
import { inputIssues } from "../request-input.js";

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

export function idempotency(store: IdempotencyStore): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const key = c.req.header("idempotency-key");
    if (c.req.method !== "POST" || key === undefined) return next();
    if (!KEY_SHAPE.test(key)) {
      throw new BadRequestError("invalid Idempotency-Key", [
        { path: "Idempotency-Key", message: "1-255 visible ASCII characters" },
      ]);
    }
    const scope = c.get("actor").id;
    const fingerprint = requestFingerprint(c.req.method, c.req.path, await c.req.text());
    const stored = await store.find(scope, key, fingerprint);
    if (stored) {
      c.header("Idempotent-Replayed", "true");
      // A kept refusal is replayed as what it was: problem+json.
      const type = stored.status >= 400 ? { "Content-Type": "application/problem+json" } : undefined;
      return c.json(stored.body as object, stored.status as 200, type);
    }
    await next();
    const status = c.res.status;
    if (status >= 500 || !c.res.headers.get("content-type")?.includes("json")) return;
    const body: unknown = await c.res.clone().json();
    // A refusal may echo what it refused (a field path with a NUL in it); text the database
    // cannot store is not kept, and the retry simply runs again.
    if (inputIssues(body).text.length > 0) return;
    await store.save(scope, key, fingerprint, { status, body });
  };
}
