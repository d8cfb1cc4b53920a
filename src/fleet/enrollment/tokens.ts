/**
 * Enrollment tokens (xse_): the fleet credential a supervisor's config file carries. Bound to
 * one tenant, carrying the labels its agents get, optionally limited by expiry and use count.
 * The plaintext is returned once at creation; only its SHA-256 is stored.
 */
import { issueToken, keyFingerprint, newRecordId } from "../../credentials/index.js";
import type { EnrollmentTokenRow, Labels } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { NotFoundError, ValidationError } from "../../errors.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import { findTenant } from "../tenants/repository.js";
import {
  findEnrollmentToken,
  insertEnrollmentToken,
  listEnrollmentTokens,
  lockEnrollmentToken,
  revokeEnrollmentToken,
} from "./repository.js";

export interface EnrollmentTokenView {
  id: string;
  tenantId: string;
  name: string;
  labels: Labels;
  displayPrefix: string;
  fingerprint: string;
  expiresAt: string | null;
  maxUses: number | null;
  useCount: number;
  allowConfigOnToken: boolean;
  status: "active" | "expired" | "exhausted" | "revoked";
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Why a token cannot enroll right now, or "active". */
export function enrollmentTokenStatus(
  row: EnrollmentTokenRow,
  now = Date.now(),
): EnrollmentTokenView["status"] {
  if (row.revoked_at) return "revoked";
  if (row.expires_at && row.expires_at.getTime() <= now) return "expired";
  if (row.max_uses !== null && row.use_count >= row.max_uses) return "exhausted";
  return "active";
}

function toView(row: EnrollmentTokenRow): EnrollmentTokenView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    labels: row.labels,
    displayPrefix: row.display_prefix,
    fingerprint: keyFingerprint(row.token_hash),
    expiresAt: row.expires_at?.toISOString() ?? null,
    maxUses: row.max_uses,
    useCount: row.use_count,
    allowConfigOnToken: row.allow_config_on_token,
    status: enrollmentTokenStatus(row),
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

export interface CreateEnrollmentTokenInput {
  name: string;
  labels: Labels;
  expiresAt?: Date;
  maxUses?: number;
  allowConfigOnToken?: boolean;
}

export class EnrollmentTokenService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  /** Creates a token; the plaintext is in the result once and never again. */
  async create(
    meta: RequestMeta,
    tenantId: string,
    input: CreateEnrollmentTokenInput,
  ): Promise<{ view: EnrollmentTokenView; token: string }> {
    scopeToTenant(meta.actor, tenantId);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new ValidationError("expiresAt must be in the future", [
        { path: "expiresAt", message: "in the past" },
      ]);
    }
    const issued = issueToken("enrollment");
    return this.db.transaction().execute(async (trx) => {
      if (!(await findTenant(trx, tenantId))) throw new NotFoundError("tenant");
      const row = await insertEnrollmentToken(trx, {
        id: newRecordId("enr"),
        tenant_id: tenantId,
        name: input.name,
        labels: JSON.stringify(input.labels),
        token_hash: issued.hash,
        display_prefix: issued.displayPrefix,
        expires_at: input.expiresAt ?? null,
        max_uses: input.maxUses ?? null,
        allow_config_on_token: input.allowConfigOnToken ?? false,
        created_by: meta.actor.id,
      });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "enrollment_token.create",
        targetType: "enrollment_token",
        targetId: row.id,
        details: { name: row.name, labels: input.labels, displayPrefix: row.display_prefix },
      });
      return { view: toView(row), token: issued.plaintext };
    });
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<Page<EnrollmentTokenView>> {
    scopeToTenant(actor, tenantId);
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.enrollmentTokens)[0] : undefined;
    const rows = await listEnrollmentTokens(this.db, { tenantId, after, limit: opts.limit + 1 });
    return toPage(rows, opts.limit, CURSORS.enrollmentTokens, (r) => [r.id], toView);
  }

  async get(actor: Actor, tenantId: string, id: string): Promise<EnrollmentTokenView> {
    scopeToTenant(actor, tenantId);
    const row = await findEnrollmentToken(this.db, tenantId, id);
    if (!row) throw new NotFoundError("enrollment token");
    return toView(row);
  }

  /**
   * Revokes a token: new upgrades with it get 401. Agents already holding their own key keep
   * working, but a supervisor restart re-enrolls with this token (released supervisors keep
   * the per-agent key in memory only), so revoke only when those agents should go too.
   */
  async revoke(
    meta: RequestMeta,
    tenantId: string,
    id: string,
    ifMatch?: string,
  ): Promise<EnrollmentTokenView> {
    scopeToTenant(meta.actor, tenantId);
    return this.db.transaction().execute(async (trx) => {
      const row = await lockEnrollmentToken(trx, tenantId, id);
      if (!row) throw new NotFoundError("enrollment token");
      checkIfMatch(ifMatch, toView(row));
      if (row.revoked_at) return toView(row);
      const revoked = await revokeEnrollmentToken(trx, id, meta.actor.id);
      await this.audit.record(trx, meta, {
        tenantId,
        action: "enrollment_token.revoke",
        targetType: "enrollment_token",
        targetId: id,
        details: { displayPrefix: row.display_prefix },
      });
      return toView(revoked);
    });
  }
}
