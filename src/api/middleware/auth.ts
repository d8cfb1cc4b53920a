/** Resolves the bearer credential to an Actor; 401 (counted by reason) when it cannot. */
import type { MiddlewareHandler } from "hono";
import { bearerCredential } from "../../credentials/index.js";
import { UnauthenticatedError } from "../../errors.js";
import type { AdminKeyService } from "../../fleet/admin-keys/service.js";
import type { Metrics } from "../../metrics.js";
import type { ApiEnv } from "../env.js";

export function authenticate(adminKeys: AdminKeyService, metrics: Metrics): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    try {
      c.set("actor", await adminKeys.authenticate(bearerCredential(header)));
    } catch (err) {
      if (err instanceof UnauthenticatedError) metrics.authFailure("rest", err.reason);
      throw err;
    }
    await next();
  };
}
