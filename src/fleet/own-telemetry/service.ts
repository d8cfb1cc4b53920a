/**
 * Own telemetry (issue 13): where a tenant's collectors send their own metrics, logs and traces
 * (the tenant's OTLP endpoint and API key on the platform). Stored once per tenant with secret
 * REFERENCES; resolved (secrets decrypted) only when offered to agents, cached in memory briefly,
 * never stored, logged or answered in plain.
 *
 * Resolution fails closed: a secret that cannot be decrypted now (KMS down) means nothing is
 * offered and the caller retries later; a secret that no longer exists, or whose value a header
 * cannot carry, means nothing is offered until the settings or the secret change.
 */
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/types.js";
import { NotFoundError, PreconditionFailedError, UnprocessableError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { SecretNotFoundError, type SecretResolver, SecretUnavailableError } from "../../render/index.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { publishFleetEvent } from "../events.js";
import {
  existingSecretNames,
  findOwnTelemetry,
  lockOwnTelemetry,
  type OwnTelemetryRow,
  tenantExists,
  upsertOwnTelemetry,
} from "./repository.js";
import {
  auditSummary,
  canonicalOwnTelemetry,
  checkOwnTelemetry,
  headerValueProblem,
  type OwnTelemetryDestinations,
  parseStoredOwnTelemetry,
  type StoredDestination,
  type StoredOwnTelemetry,
  TELEMETRY_SIGNALS,
} from "./settings.js";

export interface OwnTelemetryView {
  metrics: StoredDestination | null;
  logs: StoredDestination | null;
  traces: StoredDestination | null;
  updatedAt: string;
  updatedBy: string;
}

/** What agents of a tenant are offered now. */
export type OwnTelemetryResolution =
  /** The tenant never set own telemetry: offer nothing (agents keep what they run). */
  | { state: "unset" }
  /** Offer these (all signals absent after a DELETE: agents are told to stop). */
  | { state: "ready"; destinations: OwnTelemetryDestinations }
  /** A secret cannot be decrypted now: offer nothing, ask again after this many seconds. */
  | { state: "unavailable"; retryAfterSeconds: number }
  /** A secret is gone or unusable as a header: offer nothing until something changes. */
  | { state: "broken" };

/** How long a resolution is reused (fleet events invalidate it sooner). */
const RESOLUTION_TTL_MS = 60_000;
const MAX_UNAVAILABLE_CACHE_MS = 30_000;

function view(row: OwnTelemetryRow): OwnTelemetryView {
  const settings = parseStoredOwnTelemetry(row.settings);
  return {
    metrics: settings.metrics ?? null,
    logs: settings.logs ?? null,
    traces: settings.traces ?? null,
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}

export class OwnTelemetryService {
  readonly #cache = new Map<
    string,
    { generation: number; expires: number; result: Promise<OwnTelemetryResolution> }
  >();
  /** Per tenant: bumped by every invalidation, from one counter, so it only grows. */
  readonly #generations = new Map<string, number>();
  #counter = 0;

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretResolver,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** The tenant's settings; 404 when none are set. */
  async get(actor: Actor, tenantId: string): Promise<OwnTelemetryView> {
    scopeToTenant(actor, tenantId);
    const row = await findOwnTelemetry(this.db, tenantId);
    if (!row || row.settings === null) throw new NotFoundError("own-telemetry settings");
    return view(row);
  }

  /**
   * Creates or replaces the settings. Refused (422 with the field path, nothing stored):
   * an endpoint that is not an absolute http(s) URL, a header the supervisor cannot carry, a
   * reference to a secret the tenant does not have.
   */
  async put(
    meta: RequestMeta,
    tenantId: string,
    input: StoredOwnTelemetry,
    ifMatch?: string,
  ): Promise<{ view: OwnTelemetryView; created: boolean }> {
    scopeToTenant(meta.actor, tenantId);
    const { settings, issues, secrets } = checkOwnTelemetry(input);
    if (issues.length > 0) throw new UnprocessableError("invalid own-telemetry settings", issues);
    return this.db.transaction().execute(async (trx) => {
      if (!(await tenantExists(trx, tenantId))) throw new NotFoundError("tenant");
      const current = await lockOwnTelemetry(trx, tenantId);
      const currentView = current && current.settings !== null ? view(current) : undefined;
      if (ifMatch !== undefined) {
        if (!currentView)
          throw new PreconditionFailedError("no own-telemetry settings exist to match If-Match");
        checkIfMatch(ifMatch, currentView);
      }
      const names = [...new Set(secrets.map((s) => s.name))];
      const known = new Set(await existingSecretNames(trx, tenantId, names));
      const missing = secrets.filter((s) => !known.has(s.name));
      if (missing.length > 0) {
        throw new UnprocessableError(
          "the settings reference secrets the tenant does not have",
          missing.map((s) => ({ path: s.path, message: `no secret "${s.name}"` })),
        );
      }
      if (
        current &&
        currentView &&
        canonicalOwnTelemetry(parseStoredOwnTelemetry(current.settings)) === canonicalOwnTelemetry(settings)
      ) {
        return { view: currentView, created: false };
      }
      const row = await upsertOwnTelemetry(trx, {
        tenant_id: tenantId,
        settings: JSON.stringify(settings),
        updated_at: this.clock.date(),
        updated_by: meta.actor.id,
      });
      await this.audit.record(trx, meta, {
        tenantId,
        action: currentView ? "own_telemetry.update" : "own_telemetry.create",
        targetType: "own_telemetry",
        targetId: tenantId,
        details: auditSummary(settings),
      });
      await publishFleetEvent(trx, tenantId, "own_telemetry.changed", {});
      return { view: view(row), created: !currentView };
    });
  }

  /** Removes the settings: connected and returning agents are told to stop sending. */
  async delete(meta: RequestMeta, tenantId: string, ifMatch?: string): Promise<void> {
    scopeToTenant(meta.actor, tenantId);
    await this.db.transaction().execute(async (trx) => {
      const current = await lockOwnTelemetry(trx, tenantId);
      if (!current || current.settings === null) throw new NotFoundError("own-telemetry settings");
      if (ifMatch !== undefined) checkIfMatch(ifMatch, view(current));
      // The row stays, settings NULL: an agent offline now is told to stop when it comes back.
      await upsertOwnTelemetry(trx, {
        tenant_id: tenantId,
        settings: null,
        updated_at: this.clock.date(),
        updated_by: meta.actor.id,
      });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "own_telemetry.delete",
        targetType: "own_telemetry",
        targetId: tenantId,
        details: auditSummary(parseStoredOwnTelemetry(current.settings)),
      });
      await publishFleetEvent(trx, tenantId, "own_telemetry.changed", {});
    });
  }

  /** A number that grows whenever the tenant's settings or secrets may have changed (this replica). */
  generation(tenantId: string): number {
    return this.#generations.get(tenantId) ?? 0;
  }

  /** Forgets the tenant's resolution (its settings or a secret changed, here or on another replica). */
  invalidate(tenantId: string): void {
    this.#cache.delete(tenantId);
    this.#generations.set(tenantId, ++this.#counter);
  }

  /**
   * What the tenant's agents are offered now, with the generation it was computed at. Shared by
   * every session of the tenant for a while, so an agent storm decrypts each secret once.
   */
  async resolve(tenantId: string): Promise<{ generation: number; resolution: OwnTelemetryResolution }> {
    const generation = this.generation(tenantId);
    const now = this.clock.now();
    const cached = this.#cache.get(tenantId);
    if (cached && cached.generation === generation && cached.expires > now) {
      return { generation, resolution: await cached.result };
    }
    const entry = { generation, expires: now + RESOLUTION_TTL_MS, result: this.#resolveNow(tenantId) };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(tenantId, entry);
    try {
      const resolution = await entry.result;
      if (resolution.state === "unavailable") {
        entry.expires = now + Math.min(MAX_UNAVAILABLE_CACHE_MS, resolution.retryAfterSeconds * 1000);
      }
      return { generation, resolution };
    } catch (err) {
      if (this.#cache.get(tenantId) === entry) this.#cache.delete(tenantId);
      throw err;
    }
  }

  async #resolveNow(tenantId: string): Promise<OwnTelemetryResolution> {
    const row = await findOwnTelemetry(this.db, tenantId);
    if (!row) return { state: "unset" };
    const settings = parseStoredOwnTelemetry(row.settings);
    const values = new Map<string, string>();
    const destinations: OwnTelemetryDestinations = {};
    for (const signal of TELEMETRY_SIGNALS) {
      const d = settings[signal];
      if (!d) continue;
      const headers: Array<{ key: string; value: string }> = [];
      for (const [key, ref] of Object.entries(d.headers)) {
        if (typeof ref === "string") {
          headers.push({ key, value: ref });
          continue;
        }
        const path = `${signal}.headers.${key}`;
        let secret = values.get(ref.secret);
        if (secret === undefined) {
          try {
            secret = await this.secrets.resolve(tenantId, ref.secret);
          } catch (err) {
            if (err instanceof SecretUnavailableError) {
              this.logger.warn(
                { tenantId, secret: ref.secret, header: path, reason: err.message },
                "own telemetry not offered now: a secret cannot be decrypted; retrying later",
              );
              return { state: "unavailable", retryAfterSeconds: Math.max(1, err.retryAfterSeconds ?? 5) };
            }
            if (err instanceof SecretNotFoundError) {
              this.logger.warn(
                { tenantId, secret: ref.secret, header: path },
                "own telemetry not offered: the secret it references no longer exists",
              );
              return { state: "broken" };
            }
            throw err;
          }
          values.set(ref.secret, secret);
        }
        const value = `${ref.prefix ?? ""}${secret}`;
        const problem = headerValueProblem(value);
        if (problem) {
          // The reason names the rule, never the value.
          this.logger.warn(
            { tenantId, secret: ref.secret, header: path, problem },
            "own telemetry not offered: a secret's value cannot be sent as a header",
          );
          return { state: "broken" };
        }
        headers.push({ key, value });
      }
      destinations[signal] = { endpoint: d.endpoint, headers };
    }
    return { state: "ready", destinations };
  }
}
