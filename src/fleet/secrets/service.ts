/**
 * Tenant secrets: write-only values, envelope-encrypted with the KMS (DESIGN.md §9). The value
 * never comes back in any answer, log, error or audit row; it is decrypted only to render a
 * config at delivery time (`resolve`) and to redact it from what agents report (`redact`).
 */
import { newRecordId } from "../../credentials/index.js";
import type { Db, Queryable } from "../../db/types.js";
import {
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  PreconditionFailedError,
  UnavailableError,
  ValidationError,
} from "../../errors.js";
import { type EnvelopeCipher, IntegrityError, KmsUnavailableError } from "../../kms/index.js";
import type { Logger } from "../../logger.js";
import {
  maskSecretValues,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SecretNotFoundError,
  type SecretResolver,
  SecretUnavailableError,
} from "../../render/index.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { publishFleetEvent } from "../events.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import {
  deleteSecret,
  findLatestSecret,
  insertSecret,
  latestRevisionContents,
  listAllSecretVersions,
  listLatestSecrets,
  lockSecretVersions,
  ownTelemetryReferencesSecret,
  type SecretRow,
  updateEnvelope,
} from "./repository.js";

/** Very short values would mask ordinary words in what agents report; they are left alone. */
const MIN_REDACTED_LENGTH = 4;

export interface SecretView {
  name: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
  kmsKeyId: string;
}

export interface SecretDetailView extends SecretView {
  /** Templates whose latest (or assigned) revision references the secret. */
  referencedBy: Array<{ template: string; version: number; inUse: boolean }>;
}

function view(r: SecretRow): SecretView {
  return {
    name: r.name,
    version: r.version,
    updatedAt: r.created_at.toISOString(),
    updatedBy: r.created_by,
    kmsKeyId: r.kms_key_id,
  };
}

/** Does template `content` reference secret `name` through the `secret` helper? */
export function referencesSecret(content: string, name: string): boolean {
  const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`\\bsecret\\s+(["'])${quoted}\\1`).test(content);
}

export function assertSecretName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new ValidationError("invalid secret name", [{ path: "name", message: SECRET_NAME_RULE }]);
  }
}

/** How long a tenant's decrypted secret values are kept for redaction. */
const REDACTION_CACHE_MS = 10_000;

export class SecretService implements SecretResolver {
  /** Per tenant: the values to redact, newest secret versions. */
  readonly #redactionValues = new Map<string, { values: string[]; expires: number }>();
  /**
   * A tenant's redaction list being read: the calls that miss the cache meanwhile share it (a
   * fan-out's APPLIED reports, each with an effective config, arrive together; once the list had
   * expired each of them read it, one statement per agent).
   */
  readonly #redactionLoads = new Map<string, Promise<string[]>>();
  /** Bumped by every invalidation: a list read across one is not cached. */
  #generation = 0;

  constructor(
    private readonly db: Db,
    private readonly cipher: EnvelopeCipher,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    private readonly maxValueBytes: number,
  ) {}

  /** Creates the secret or a new version of it. Editor. KMS down → 503 with Retry-After. */
  async put(
    meta: RequestMeta,
    tenantId: string,
    name: string,
    value: string,
    ifMatch?: string,
  ): Promise<{ view: SecretView; created: boolean }> {
    scopeToTenant(meta.actor, tenantId);
    assertSecretName(name);
    if (Buffer.byteLength(value, "utf8") > this.maxValueBytes)
      throw new PayloadTooLargeError(this.maxValueBytes);
    let envelope: Awaited<ReturnType<EnvelopeCipher["seal"]>>;
    try {
      envelope = await this.cipher.seal({ tenantId, secretName: name }, value);
    } catch (err) {
      if (err instanceof KmsUnavailableError) {
        throw new UnavailableError(
          "the key management service is unavailable; try again",
          err.retryAfterSeconds,
        );
      }
      throw err;
    }
    const result = await this.db.transaction().execute(async (trx) => {
      const versions = await lockSecretVersions(trx, tenantId, name);
      await this.#checkIfMatch(trx, tenantId, name, ifMatch);
      const version = (versions[0]?.version ?? 0) + 1;
      const row = await insertSecret(trx, {
        id: newRecordId("sec"),
        tenant_id: tenantId,
        name,
        version,
        envelope: JSON.stringify(envelope),
        kms_key_id: envelope.keyId,
        created_by: meta.actor.id,
      });
      await this.audit.record(trx, meta, {
        tenantId,
        action: version === 1 ? "secret.create" : "secret.update",
        targetType: "secret",
        targetId: name,
        details: { version, kmsKeyId: envelope.keyId },
      });
      await publishFleetEvent(trx, tenantId, "config.changed", { reason: "secret", secret: name });
      return { view: view(row), created: version === 1 };
    });
    // After the commit: a redaction list read before it (without the new value) is dropped now,
    // and the next one reads the new version.
    this.invalidate(tenantId);
    return result;
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<Page<SecretView>> {
    scopeToTenant(actor, tenantId);
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.secrets)[0] : undefined;
    const rows = await listLatestSecrets(this.db, tenantId, after, opts.limit + 1);
    return toPage(rows, opts.limit, CURSORS.secrets, (r) => [r.name], view);
  }

  async get(actor: Actor, tenantId: string, name: string): Promise<SecretDetailView> {
    scopeToTenant(actor, tenantId);
    assertSecretName(name);
    const row = await findLatestSecret(this.db, tenantId, name);
    if (!row) throw new NotFoundError("secret");
    return { ...view(row), referencedBy: await this.#referencedBy(this.db, tenantId, name) };
  }

  /**
   * If-Match against the view a GET shows, read under the lock of the secret's versions. A secret
   * that does not exist matches no tag (RFC 9110 §13.1.1), so If-Match on it is a 412.
   */
  async #checkIfMatch(
    db: Queryable,
    tenantId: string,
    name: string,
    ifMatch: string | undefined,
  ): Promise<void> {
    if (ifMatch === undefined) return;
    const row = await findLatestSecret(db, tenantId, name);
    if (!row)
      throw new PreconditionFailedError("the secret does not exist (If-Match needs a current version)");
    checkIfMatch(ifMatch, { ...view(row), referencedBy: await this.#referencedBy(db, tenantId, name) });
  }

  async #referencedBy(
    db: Queryable,
    tenantId: string,
    name: string,
  ): Promise<SecretDetailView["referencedBy"]> {
    const revisions = await latestRevisionContents(db, tenantId);
    return revisions
      .filter((r) => referencesSecret(r.content, name))
      .map((r) => ({ template: r.template, version: r.version, inUse: r.in_use }))
      .sort((a, b) => a.template.localeCompare(b.template) || a.version - b.version);
  }

  /**
   * Deletes every version; 409 while an assigned revision or the own-telemetry settings reference
   * it, unless forced.
   */
  async delete(
    meta: RequestMeta,
    tenantId: string,
    name: string,
    force: boolean,
    ifMatch?: string,
  ): Promise<void> {
    scopeToTenant(meta.actor, tenantId);
    assertSecretName(name);
    const users = (await this.#referencedBy(this.db, tenantId, name)).filter((r) => r.inUse);
    if (users.length > 0 && !force) {
      throw new ConflictError(
        `secret "${name}" is used by assigned revisions: ${users.map((u) => `${u.template}@${u.version}`).join(", ")} (delete with force=true to break them)`,
        { usedBy: users },
      );
    }
    const ownTelemetry = await ownTelemetryReferencesSecret(this.db, tenantId, name);
    if (ownTelemetry && !force) {
      throw new ConflictError(
        `secret "${name}" is used by the own-telemetry settings (delete with force=true to stop offering them)`,
        { usedBy: [], ownTelemetry: true },
      );
    }
    await this.db.transaction().execute(async (trx) => {
      const versions = await lockSecretVersions(trx, tenantId, name);
      if (versions.length === 0) throw new NotFoundError("secret");
      await this.#checkIfMatch(trx, tenantId, name, ifMatch);
      await deleteSecret(trx, tenantId, name);
      await this.audit.record(trx, meta, {
        tenantId,
        action: "secret.delete",
        targetType: "secret",
        targetId: name,
        details: { versions: versions.length, forced: force && (users.length > 0 || ownTelemetry) },
      });
      await publishFleetEvent(trx, tenantId, "config.changed", { reason: "secret", secret: name });
    });
  }

  /** SecretResolver for rendering: the newest version's plaintext. */
  async resolve(tenantId: string, name: string): Promise<string> {
    const row = await findLatestSecret(this.db, tenantId, name);
    if (!row) throw new SecretNotFoundError(name);
    try {
      return await this.cipher.open({ tenantId, secretName: name }, row.envelope);
    } catch (err) {
      if (err instanceof KmsUnavailableError) {
        throw new SecretUnavailableError(
          name,
          `secret "${name}" cannot be decrypted now: ${err.message}`,
          err.retryAfterSeconds,
        );
      }
      if (err instanceof IntegrityError) {
        this.logger.error({ tenantId, secret: name }, "stored secret does not verify");
        throw new SecretUnavailableError(name, `secret "${name}" does not verify: ${err.message}`);
      }
      throw new SecretUnavailableError(
        name,
        `secret "${name}" cannot be decrypted: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Masks the tenant's secret values in `texts` (SECRET_MASK, in every form the renderer writes
   * them in). Used on agent-reported effective configs before they are stored or shown.
   * Fails closed: when any of the tenant's secrets cannot be decrypted now (KMS down, a damaged
   * envelope), its value cannot be masked, so this throws UnavailableError and the caller must
   * neither store nor show the texts (a secret must never be stored in clear).
   */
  async redact(tenantId: string, texts: string[]): Promise<string[]> {
    const values = await this.#valuesToRedact(tenantId);
    if (values.length === 0) return texts;
    return texts.map((t) => maskSecretValues(t, values, MIN_REDACTED_LENGTH));
  }

  /** Forgets cached values of a tenant (a secret changed, here or on another replica). */
  invalidate(tenantId: string): void {
    this.#redactionValues.delete(tenantId);
    // A read begun before the change is not shared with later calls: they read the new values.
    this.#redactionLoads.delete(tenantId);
    this.#generation++;
  }

  async #valuesToRedact(tenantId: string): Promise<string[]> {
    const cached = this.#redactionValues.get(tenantId);
    if (cached && cached.expires > Date.now()) return cached.values;
    const loading = this.#redactionLoads.get(tenantId);
    if (loading) return loading;
    const load = this.#readValuesToRedact(tenantId).finally(() => {
      if (this.#redactionLoads.get(tenantId) === load) this.#redactionLoads.delete(tenantId);
    });
    this.#redactionLoads.set(tenantId, load);
    return load;
  }

  async #readValuesToRedact(tenantId: string): Promise<string[]> {
    // A list read while a secret changes may miss the new value: it is used for this call but not
    // cached when an invalidation came in meanwhile (else the new value would go unredacted, and
    // be stored and shown in clear, until the entry expired).
    const generation = this.#generation;
    const rows = await listLatestSecrets(this.db, tenantId);
    const values: string[] = [];
    for (const row of rows) {
      try {
        values.push(await this.cipher.open({ tenantId, secretName: row.name }, row.envelope));
      } catch (err) {
        this.logger.warn(
          { tenantId, secret: row.name, err: (err as Error).message },
          "cannot decrypt a secret to redact it",
        );
        throw new UnavailableError(`secret "${row.name}" cannot be decrypted to mask it now`);
      }
    }
    // Bounded: one entry per tenant seen recently.
    if (this.#redactionValues.size > 10_000) this.#redactionValues.clear();
    if (generation === this.#generation) {
      this.#redactionValues.set(tenantId, { values, expires: Date.now() + REDACTION_CACHE_MS });
    }
    return values;
  }

  /**
   * Re-wraps every stored data key under the KMS's current key (`agent-api secrets rewrap`).
   * Values, ciphertexts and config hashes do not change.
   */
  async rewrapAll(): Promise<{ rewrapped: number; unchanged: number; failed: number }> {
    let after: string | undefined;
    const counts = { rewrapped: 0, unchanged: 0, failed: 0 };
    for (;;) {
      const rows = await listAllSecretVersions(this.db, after, 200);
      if (rows.length === 0) break;
      for (const row of rows) {
        try {
          const next = await this.cipher.rewrap(
            { tenantId: row.tenant_id, secretName: row.name },
            row.envelope,
          );
          if (!next) {
            counts.unchanged++;
            continue;
          }
          await updateEnvelope(this.db, row.id, JSON.stringify(next), next.keyId);
          counts.rewrapped++;
        } catch (err) {
          counts.failed++;
          this.logger.error({ secretId: row.id, err: (err as Error).message }, "rewrap failed");
        }
      }
      after = rows.at(-1)?.id;
    }
    return counts;
  }
}
