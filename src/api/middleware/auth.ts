/** Resolves the bearer credential to an Actor; 401 (counted by reason) when it cannot. */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { bearerCredential } from "../../credentials/index.js";
import { UnauthenticatedError } from "../../errors.js";
import type { AdminKeyService } from "../../fleet/admin-keys/service.js";
import type { Metrics } from "../../metrics.js";
import type { ApiEnv } from "../env.js";

/** The cookie the portal sets with its HS256 JWT; read only when JWT_SECRET is set. */
export const JWT_COOKIE = "agent_api_jwt";
/**
 * The header a cookie-authenticated request must carry. A cross-site page cannot add a custom
 * header without a CORS preflight (which this server never grants), so a forged form post or
 * image request riding the cookie is refused: the cookie alone is never a credential.
 */
export const CONSOLE_HEADER = "x-agent-api-console";

export function authenticate(
  adminKeys: AdminKeyService,
  metrics: Metrics,
  options: { jwtCookie: boolean } = { jwtCookie: false },
): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    try {
      const credential = header ? bearerCredential(header) : options.jwtCookie ? cookieJwt(c) : null;
      c.set("actor", await adminKeys.authenticate(credential));
    } catch (err) {
      if (err instanceof UnauthenticatedError) metrics.authFailure("rest", err.reason);
      throw err;
    }
    await next();
  };
}

/** The portal's JWT from its cookie, if the request carries the console header too. */
function cookieJwt(c: Context<ApiEnv>): string | null {
  if (!c.req.header(CONSOLE_HEADER)) return null;
  const token = getCookie(c, JWT_COOKIE);
  // Only a JWT: an API key belongs in the Authorization header, never in a cookie.
  return token && token.split(".").length === 3 ? token : null;
}
