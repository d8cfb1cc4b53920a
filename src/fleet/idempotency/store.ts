/**
 * Idempotency-Key on POST: the first answer to (caller, key) is kept for 24 h and replayed for
 * a retry with the same body; the same key with another body is a conflict. Answers are stored
 * with one-time secrets removed (the caller saw them once, on the first answer).
 */
import { createHash } from "node:crypto";
import type { Db } from "../../db/types.js";
import { ConflictError } from "../../errors.js";
import { findRetainedIdempotencyKey, insertIdempotencyKey } from "./repository.js";

export interface StoredAnswer {
  status: number;
  body: unknown;
}

/** Fields that carry a one-time secret in a creation answer. */
const ONE_TIME_SECRET_FIELDS = ["token", "key"] as const;

const RETENTION_HOURS = 24;

/** Fingerprint of a request: method, path and body. */
export function requestFingerprint(method: string, path: string, body: string): string {
  return createHash("sha256").update(`${method}\n${path}\n${body}`).digest("hex");
}

export class IdempotencyStore {
  constructor(private readonly db: Db) {}

  /**
   * The stored answer for (scope, key), if any. Throws ConflictError when the key was used
   * for a different request.
   */
  async find(scope: string, key: string, fingerprint: string): Promise<StoredAnswer | undefined> {
    const row = await findRetainedIdempotencyKey(this.db, scope, key, RETENTION_HOURS);
    if (!row) return undefined;
    if (row.request_hash !== fingerprint) {
      throw new ConflictError("Idempotency-Key was already used for a different request");
    }
    return { status: row.status_code, body: row.response };
  }

  /** Keeps the answer, without one-time secrets. The first writer wins a race. */
  async save(scope: string, key: string, fingerprint: string, answer: StoredAnswer): Promise<void> {
    await insertIdempotencyKey(
      this.db,
      {
        scope,
        key,
        request_hash: fingerprint,
        status_code: answer.status,
        response: JSON.stringify(withoutOneTimeSecrets(answer.body)),
      },
      RETENTION_HOURS,
    );
  }
}

function withoutOneTimeSecrets(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of ONE_TIME_SECRET_FIELDS) {
    if (field in copy) copy[field] = null;
  }
  return copy;
}
