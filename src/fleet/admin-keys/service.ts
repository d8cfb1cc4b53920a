/**
 * Admin API keys (xsa_) and the REST caller's identity. A tenant key has a role (viewer, editor,
 * admin); the operator key (tenant NULL) manages tenants. Keys are shown once, stored as SHA-256.
 * Optionally, HS256 JWTs from the portal map to the same roles.
 */

import { verify as verifyJwt } from "hono/jwt";
import type { Clock } from "../../clock.js";
import { issueToken, keyFingerprint, newRecordId, parseToken } from "../../credentials/index.js";
import type { AdminApiKeyRow, AdminRole } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { type Actor, type RequestMeta, roleAtLeast, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import { findTenant } from "../tenants/repository.js";
import {
  countLiveOperatorKeys,
  findAdminKey,
  findAdminKeyByHash,
  insertAdminKey,
  listAdminKeys,
  lockAdminKey,
  revokeAdminKey,
  touchAdminKey,
} from "./repository.js";

export interface AdminKeyView {
  id: string;
  tenantId: string | null;
  name: string;
  role: AdminRole;
  displayPrefix: string;
  fingerprint: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function toView(row: AdminApiKeyRow): AdminKeyView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    role: row.role,
    displayPrefix: row.display_prefix,
    fingerprint: keyFingerprint(row.key_hash),
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    expiresAt: row.expires_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

const JWT_ROLES: readonly AdminRole[] = ["operator", "admin", "editor", "viewer"];

export class AdminKeyService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    private readonly jwtSecret: string | undefined,
    /** Key expiry is judged on this clock (tests move a ManualClock past `expiresAt`). */
    private readonly clock: Clock,
  ) {}

  /**
   * Resolves a bearer credential to an Actor. Malformed xsa_ keys fail before any query;
   * unknown, revoked and expired keys fail after one indexed lookup.
   */
  async authenticate(bearer: string | null): Promise<Actor> {
    if (!bearer) throw new UnauthenticatedError("missing");
    if (bearer.startsWith("xsa_")) {
      const parsed = parseToken(bearer, "admin");
      if (!parsed) throw new UnauthenticatedError("malformed");
      const row = await findAdminKeyByHash(this.db, parsed.hash);
      if (!row) throw new UnauthenticatedError("unknown");
      if (row.revoked_at) throw new UnauthenticatedError("revoked");
      if (row.expires_at && row.expires_at.getTime() <= this.clock.now())
        throw new UnauthenticatedError("expired");
      touchAdminKey(this.db, row.id).catch((err: unknown) =>
        this.logger.warn({ err, keyId: row.id }, "could not record key use"),
      );
      return { type: "api_key", id: row.id, tenantId: row.tenant_id, role: row.role };
    }
    if (this.jwtSecret && bearer.split(".").length === 3)
      return this.#authenticateJwt(bearer, this.jwtSecret);
    throw new UnauthenticatedError("malformed");
  }

  async #authenticateJwt(token: string, secret: string): Promise<Actor> {
    let claims: Record<string, unknown>;
    try {
      claims = (await verifyJwt(token, secret, "HS256")) as Record<string, unknown>;
    } catch {
      throw new UnauthenticatedError("jwt_invalid");
    }
    const role = claims.role;
    const sub = claims.sub;
    const tenantId = claims.tenant_id;
    if (typeof sub !== "string" || !JWT_ROLES.includes(role as AdminRole)) {
      throw new UnauthenticatedError("jwt_claims");
    }
    if (role === "operator") return { type: "jwt", id: `jwt:${sub}`, tenantId: null, role: "operator" };
    if (typeof tenantId !== "string") throw new UnauthenticatedError("jwt_claims");
    return { type: "jwt", id: `jwt:${sub}`, tenantId, role: role as AdminRole };
  }

  /**
   * Makes sure an operator key exists. With ADMIN_TOKEN set, registers that key; otherwise,
   * on the first start only, generates one and returns its plaintext for printing once.
   */
  async ensureOperatorKey(adminToken: string | undefined): Promise<{ generated: string | null }> {
    const meta: RequestMeta = {
      actor: { type: "system", id: "system", tenantId: null, role: "operator" },
      requestId: "boot",
    };
    if (adminToken) {
      const parsed = parseToken(adminToken, "admin");
      if (!parsed)
        throw new ValidationError("ADMIN_TOKEN is not an xsa_ key", [
          { path: "ADMIN_TOKEN", message: "malformed" },
        ]);
      const existing = await findAdminKeyByHash(this.db, parsed.hash);
      if (!existing) {
        await this.#insertOperatorKey(meta, "ADMIN_TOKEN", parsed.hash, parsed.displayPrefix);
      } else if (existing.revoked_at || existing.role !== "operator") {
        throw new ValidationError("ADMIN_TOKEN names a revoked or non-operator key", [
          { path: "ADMIN_TOKEN", message: "revoked" },
        ]);
      }
      return { generated: null };
    }
    if ((await countLiveOperatorKeys(this.db)) > 0) return { generated: null };
    const issued = issueToken("admin");
    await this.#insertOperatorKey(meta, "generated at first start", issued.hash, issued.displayPrefix);
    return { generated: issued.plaintext };
  }

  async #insertOperatorKey(
    meta: RequestMeta,
    name: string,
    hash: Uint8Array,
    displayPrefix: string,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await insertAdminKey(trx, {
        id: newRecordId("key"),
        tenant_id: null,
        name,
        role: "operator",
        key_hash: hash,
        display_prefix: displayPrefix,
        created_by: meta.actor.id,
      });
      await this.audit.record(trx, meta, {
        tenantId: null,
        action: "api_key.create",
        targetType: "api_key",
        targetId: row.id,
        details: { role: "operator", displayPrefix },
      });
    });
  }

  /** Creates a tenant key; the plaintext is in the result once and never again. */
  async create(
    meta: RequestMeta,
    tenantId: string,
    input: { name: string; role: Exclude<AdminRole, "operator">; expiresAt?: Date },
  ): Promise<{ view: AdminKeyView; key: string }> {
    scopeToTenant(meta.actor, tenantId);
    // A caller cannot mint a key stronger than itself.
    if (!roleAtLeast(meta.actor.role, input.role))
      throw new ForbiddenError("cannot create a key above your own role");
    if (input.expiresAt && input.expiresAt.getTime() <= this.clock.now()) {
      throw new ValidationError("expiresAt must be in the future", [
        { path: "expiresAt", message: "in the past" },
      ]);
    }
    const issued = issueToken("admin");
    return this.db.transaction().execute(async (trx) => {
      if (!(await findTenant(trx, tenantId))) throw new NotFoundError("tenant");
      const row = await insertAdminKey(trx, {
        id: newRecordId("key"),
        tenant_id: tenantId,
        name: input.name,
        role: input.role,
        key_hash: issued.hash,
        display_prefix: issued.displayPrefix,
        created_by: meta.actor.id,
        expires_at: input.expiresAt ?? null,
      });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "api_key.create",
        targetType: "api_key",
        targetId: row.id,
        details: { name: row.name, role: row.role, displayPrefix: row.display_prefix },
      });
      return { view: toView(row), key: issued.plaintext };
    });
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<Page<AdminKeyView>> {
    scopeToTenant(actor, tenantId);
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.apiKeys)[0] : undefined;
    const rows = await listAdminKeys(this.db, { tenantId, after, limit: opts.limit + 1 });
    return toPage(rows, opts.limit, CURSORS.apiKeys, (r) => [r.id], toView);
  }

  async get(actor: Actor, tenantId: string, id: string): Promise<AdminKeyView> {
    scopeToTenant(actor, tenantId);
    const row = await findAdminKey(this.db, tenantId, id);
    if (!row) throw new NotFoundError("API key");
    return toView(row);
  }

  /** Revokes a key; its next request gets 401. Idempotent for an already revoked key. */
  async revoke(meta: RequestMeta, tenantId: string, id: string, ifMatch?: string): Promise<AdminKeyView> {
    scopeToTenant(meta.actor, tenantId);
    return this.db.transaction().execute(async (trx) => {
      const row = await lockAdminKey(trx, tenantId, id);
      if (!row) throw new NotFoundError("API key");
      checkIfMatch(ifMatch, toView(row));
      if (row.revoked_at) return toView(row);
      const revoked = await revokeAdminKey(trx, id, meta.actor.id);
      await this.audit.record(trx, meta, {
        tenantId,
        action: "api_key.revoke",
        targetType: "api_key",
        targetId: id,
        details: { displayPrefix: row.display_prefix },
      });
      return toView(revoked);
    });
  }
}
