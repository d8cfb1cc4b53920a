/**
 * Who may call each route. Every REST operation is declared with `guardedRoute(role, …)`: its
 * minimum role lives in that one place (DESIGN.md §10, the table in docs/roles.md, which a test
 * compares with /openapi.json). The declaration gives the OpenAPI operation its
 * `x-required-role` and a line in its description, and installs the route's guard, which runs
 * before any request validation:
 *
 * 1. a tenant-scoped route (`{tenantId}` in its path): a key of another tenant gets 404 (no
 *    existence leak, whatever the body), a key of the tenant below the role gets 403; a route
 *    outside any tenant (`/tenants`, `/audit-events`): a key below the role gets 403;
 * 2. an agent-scoped route (`{instanceUid}` too): an agent the tenant does not have gets 404
 *    "agent not found", for every verb, before the handler runs.
 *
 * Services keep only the tenant scoping (`scopeToTenant`); the role is decided here.
 */
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { ForbiddenError } from "../errors.js";
import { type AdminRole, authorizeTenant, roleAtLeast } from "../fleet/actor.js";
import { isStorableText } from "../fleet/storable-text.js";
import type { ApiEnv } from "./env.js";
import { idempotencyConflictResponse } from "./errors.js";

/** The OpenAPI extension that carries an operation's minimum role. */
const REQUIRED_ROLE_EXTENSION = "x-required-role";

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who passes, for the description (roles are ordered: viewer < editor < admin < operator). */
const ROLE_MEANING: Record<AdminRole, string> = {
  viewer: "any key",
  editor: "an editor, admin or operator key",
  admin: "an admin or operator key",
  operator: "the operator key only",
};

/**
 * The guard of a route that needs `role`. Reads the raw path parameters (it runs before their
 * validation); a malformed tenant id or instance uid is left to the validator's 400.
 */
function guard(role: AdminRole): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const actor = c.get("actor");
    const tenantId = c.req.param("tenantId");
    if (tenantId !== undefined) authorizeTenant(actor, tenantId, role);
    else if (!roleAtLeast(actor.role, role)) throw new ForbiddenError();
    const instanceUid = c.req.param("instanceUid");
    // A malformed id (a uid that is no UUID, text the database cannot store) is the validator's
    // 400, never a lookup.
    if (
      tenantId !== undefined &&
      isStorableText(tenantId) &&
      instanceUid !== undefined &&
      CANONICAL_UUID.test(instanceUid)
    )
      await c.get("agentScope").requireAgent(actor, tenantId, instanceUid.toLowerCase());
    await next();
  };
}

/**
 * `createRoute` for an operation that needs at least `role`: the role is shown in the OpenAPI
 * document (`x-required-role`, and the description) and enforced by the route's guard.
 */
export function guardedRoute<
  P extends string,
  R extends Omit<RouteConfig, "path" | "middleware"> & { path: P },
>(role: AdminRole, config: R) {
  const needs = `Required role: **${role}** (${ROLE_MEANING[role]}).`;
  return createRoute({
    ...config,
    // Any POST may carry an Idempotency-Key, and reusing one for another request is a 409: the
    // document says so for every POST, not route by route (schemathesis found it missing).
    responses:
      config.method === "post" ? { ...idempotencyConflictResponse, ...config.responses } : config.responses,
    description: config.description ? `${config.description}\n\n${needs}` : needs,
    [REQUIRED_ROLE_EXTENSION]: role,
    middleware: [guard(role)],
  });
}
