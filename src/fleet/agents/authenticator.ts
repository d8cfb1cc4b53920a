/**
 * Authenticates the bearer credential of an OpAMP connection, before any WebSocket exists: an
 * enrollment token (xse_, phase 1) or the agent's own key (xag_, phase 2). Malformed
 * credentials fail without a database query; lookups are group-committed (one statement for the
 * connections of one event-loop turn, which is what a reconnect storm needs).
 */
import { bearerCredential, parseToken } from "../../credentials/index.js";
import type { AgentKeyRow, EnrollmentTokenRow } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { UnauthenticatedError } from "../../errors.js";
import { BatchQueue, databaseBatches } from "../batch-queue.js";
import { findEnrollmentTokensByHash } from "../enrollment/repository.js";
import { enrollmentTokenStatus } from "../enrollment/tokens.js";
import { findAgentKeysByHash } from "./repository.js";
import type { ConnectionAuth } from "./types.js";

/** Looks rows up by credential hash in batches, one result per hash. */
function lookupByHash<R>(
  find: (hashes: readonly Uint8Array[]) => Promise<R[]>,
  hashOf: (row: R) => Uint8Array,
): BatchQueue<Uint8Array, R | undefined> {
  return new BatchQueue(async (hashes) => {
    const rows = new Map((await find(hashes)).map((r) => [Buffer.from(hashOf(r)).toString("hex"), r]));
    return hashes.map((h) => rows.get(Buffer.from(h).toString("hex")));
  }, databaseBatches(500));
}

export class AgentAuthenticator {
  readonly #tokensByHash: BatchQueue<Uint8Array, EnrollmentTokenRow | undefined>;
  readonly #keysByHash: BatchQueue<Uint8Array, AgentKeyRow | undefined>;

  constructor(db: Db) {
    this.#tokensByHash = lookupByHash(
      (hashes) => findEnrollmentTokensByHash(db, hashes),
      (r) => r.token_hash,
    );
    this.#keysByHash = lookupByHash(
      (hashes) => findAgentKeysByHash(db, hashes),
      (r) => r.key_hash,
    );
  }

  /**
   * Resolves the `Authorization` header of a connection attempt.
   * @throws UnauthenticatedError with the reason (missing, malformed, unknown, expired, exhausted,
   *   revoked …) for metrics and the refusal log line; the client always sees a plain 401.
   */
  async authenticate(authorizationHeader: string | undefined): Promise<ConnectionAuth> {
    const bearer = bearerCredential(authorizationHeader);
    if (!bearer) throw new UnauthenticatedError("missing");
    const parsed = parseToken(bearer, ["enrollment", "agent"]);
    if (!parsed) throw new UnauthenticatedError("malformed");
    if (parsed.kind === "enrollment") {
      const token = await this.#tokensByHash.submit(parsed.hash);
      if (!token) throw new UnauthenticatedError("unknown");
      const status = enrollmentTokenStatus(token);
      if (status !== "active") throw new UnauthenticatedError(status);
      return {
        kind: "enrollment",
        tenantId: token.tenant_id,
        tokenId: token.id,
        labels: token.labels,
        allowConfigOnToken: token.allow_config_on_token,
        maxUses: token.max_uses,
      };
    }
    const key = await this.#keysByHash.submit(parsed.hash);
    if (!key) throw new UnauthenticatedError("unknown");
    if (key.revoked_at) throw new UnauthenticatedError("revoked");
    return {
      kind: "agent",
      tenantId: key.tenant_id,
      instanceUid: key.instance_uid,
      keyId: key.id,
      keyCreatedAt: key.created_at,
      firstUse: key.first_used_at === null,
    };
  }
}
