/**
 * Tenants: the unit of isolation. Only the operator creates and deletes them; a tenant key sees
 * its own tenant only. Deleting a tenant removes everything it owns (foreign keys cascade);
 * its audit history stays.
 */
import { newTenantId } from "../../credentials/index.js";
import { isUniqueViolation } from "../../db/errors.js";
import type { TenantRow } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { NotFoundError } from "../../errors.js";
import { type Actor, authorizeOperator, type RequestMeta } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import { deleteTenant, findTenant, insertTenant, listTenants, lockTenant } from "./repository.js";

export interface TenantView {
  id: string;
  displayName: string;
  orgId: string | null;
  createdAt: string;
}

function toView(row: TenantRow): TenantView {
  return {
    id: row.id,
    displayName: row.display_name,
    orgId: row.org_id,
    createdAt: row.created_at.toISOString(),
  };
}

export class TenantService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  /** Creates a tenant with an id derived from its display name. Operator only. */
  async create(meta: RequestMeta, input: { displayName: string; orgId?: string }): Promise<TenantView> {
    authorizeOperator(meta.actor);
    // 40 random bits per id: a collision is rare, and simply retried.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          const row = await insertTenant(trx, {
            id: newTenantId(input.displayName),
            display_name: input.displayName,
            org_id: input.orgId ?? null,
            created_by: meta.actor.id,
          });
          await this.audit.record(trx, meta, {
            tenantId: row.id,
            action: "tenant.create",
            targetType: "tenant",
            targetId: row.id,
            details: { displayName: row.display_name },
          });
          return toView(row);
        });
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= 3) throw err;
      }
    }
  }

  /** The operator sees every tenant; a tenant key sees only its own. */
  async list(actor: Actor, opts: { cursor?: string; limit: number }): Promise<Page<TenantView>> {
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.tenants)[0] : undefined;
    const only = actor.role === "operator" ? undefined : (actor.tenantId ?? "");
    const rows = await listTenants(this.db, { after, only, limit: opts.limit + 1 });
    return toPage(rows, opts.limit, CURSORS.tenants, (r) => [r.id], toView);
  }

  /** One tenant; another tenant's id is "not found" for a tenant key. */
  async get(actor: Actor, id: string): Promise<TenantView> {
    if (actor.role !== "operator" && actor.tenantId !== id) throw new NotFoundError("tenant");
    const row = await findTenant(this.db, id);
    if (!row) throw new NotFoundError("tenant");
    return toView(row);
  }

  /** Deletes a tenant and everything it owns. Operator only; honours If-Match. */
  async delete(meta: RequestMeta, id: string, ifMatch?: string): Promise<void> {
    authorizeOperator(meta.actor);
    await this.db.transaction().execute(async (trx) => {
      const row = await lockTenant(trx, id);
      if (!row) throw new NotFoundError("tenant");
      checkIfMatch(ifMatch, toView(row));
      await deleteTenant(trx, id);
      await this.audit.record(trx, meta, {
        tenantId: id,
        action: "tenant.delete",
        targetType: "tenant",
        targetId: id,
        details: { displayName: row.display_name },
      });
    });
  }
}
