/**
 * The audit trail: one row per mutation, written in the mutation's own transaction so it can
 * never disagree with the state it describes. Details never carry secret values or token
 * plaintext (ids and display prefixes only).
 */
import { newRecordId } from "../../credentials/index.js";
import type { AuditEventRow } from "../../db/schema.js";
import type { Db, Tx } from "../../db/types.js";
import type { Metrics } from "../../metrics.js";
import { type Actor, authorizeOperator, type RequestMeta, scopeToTenant } from "../actor.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import { insertAuditEvent, listAuditEvents } from "./repository.js";

export interface AuditEntry {
  tenantId: string | null;
  action: string;
  targetType: string;
  targetId: string;
  details?: Record<string, unknown>;
}

export interface AuditQuery {
  cursor?: string;
  limit: number;
  action?: string;
}

export interface AuditEventView {
  id: string;
  tenantId: string | null;
  actor: { type: string; id: string };
  action: string;
  target: { type: string; id: string };
  requestId: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

function toView(row: AuditEventRow): AuditEventView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    actor: { type: row.actor_type, id: row.actor_id },
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    requestId: row.request_id,
    details: row.details,
    createdAt: row.created_at.toISOString(),
  };
}

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly metrics: Metrics,
  ) {}

  /** Records `entry` inside `trx`; the caller's transaction commits or rolls back both. */
  async record(trx: Tx, meta: RequestMeta, entry: AuditEntry): Promise<void> {
    await insertAuditEvent(trx, {
      id: newRecordId("aud"),
      tenant_id: entry.tenantId,
      actor_type: meta.actor.type,
      actor_id: meta.actor.id,
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId,
      request_id: meta.requestId,
      details: JSON.stringify(entry.details ?? {}),
    });
    this.metrics.auditEvent(entry.action);
  }

  /** A tenant's audit trail, newest first. */
  async listForTenant(actor: Actor, tenantId: string, opts: AuditQuery): Promise<Page<AuditEventView>> {
    scopeToTenant(actor, tenantId);
    return this.#list(tenantId, opts);
  }

  /** Events outside any tenant (operator keys, boot), newest first. Operator only. */
  async listOperatorEvents(actor: Actor, opts: AuditQuery): Promise<Page<AuditEventView>> {
    authorizeOperator(actor);
    return this.#list(null, opts);
  }

  async #list(tenantId: string | null, opts: AuditQuery): Promise<Page<AuditEventView>> {
    const before = opts.cursor ? decodeCursor(opts.cursor, CURSORS.auditEvents)[0] : undefined;
    const rows = await listAuditEvents(this.db, {
      tenantId,
      before,
      action: opts.action,
      limit: opts.limit + 1,
    });
    return toPage(rows, opts.limit, CURSORS.auditEvents, (r) => [r.id], toView);
  }
}
