/**
 * Who is calling, and what they may do. Roles are ordered: viewer < editor < admin < operator.
 * A tenant-scoped caller asking about another tenant gets "not found", never "forbidden", so
 * tenant ids cannot be probed.
 */
import type { AdminRole } from "../db/schema.js";
import { ForbiddenError, NotFoundError } from "../errors.js";

export type { AdminRole } from "../db/schema.js";

export interface Actor {
  /** How the caller authenticated. */
  type: "api_key" | "jwt" | "system";
  /** Stable id for audit rows: the API key record id, the JWT subject, or "system". */
  id: string;
  /** NULL for the operator (all tenants). */
  tenantId: string | null;
  role: AdminRole;
}

/** Every mutation carries who did it and the request it came from, for the audit row. */
export interface RequestMeta {
  actor: Actor;
  requestId: string;
}

const RANK: Record<AdminRole, number> = { viewer: 1, editor: 2, admin: 3, operator: 4 };

/** True when `role` is at least `minimum`. */
export function roleAtLeast(role: AdminRole, minimum: AdminRole): boolean {
  return RANK[role] >= RANK[minimum];
}

/**
 * Checks that `actor` may see `tenantId` at all: the operator sees every tenant, a tenant key
 * only its own. Throws NotFoundError for another tenant (no existence leak). Which role an
 * operation needs is not decided here: every REST route declares it (src/api/access.ts,
 * docs/roles.md) and the route's guard enforces it before the service is called; services
 * keep this scoping check so that no caller can reach another tenant's rows through them.
 */
export function scopeToTenant(actor: Actor, tenantId: string): void {
  if (actor.role !== "operator" && actor.tenantId !== tenantId) throw new NotFoundError("tenant");
}

/**
 * The route guard's check: `actor` may see `tenantId` and has at least `minimum` role.
 * NotFoundError for another tenant comes before ForbiddenError, so a low-role key of another
 * tenant learns nothing either.
 */
export function authorizeTenant(actor: Actor, tenantId: string, minimum: AdminRole): void {
  scopeToTenant(actor, tenantId);
  if (!roleAtLeast(actor.role, minimum)) throw new ForbiddenError();
}

/**
 * Actions outside any tenant (creating and deleting tenants, the operator audit trail): the
 * operator's scope, as `scopeToTenant` is a tenant key's.
 */
export function authorizeOperator(actor: Actor): void {
  if (actor.role !== "operator") throw new ForbiddenError("only the operator key may do this");
}

/** The system actor, for work the server does on its own (boot, agents' own actions). */
export const SYSTEM_ACTOR: Actor = { type: "system", id: "system", tenantId: null, role: "operator" };
