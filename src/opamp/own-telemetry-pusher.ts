/**
 * The one owner of own-telemetry offers on a replica (issue 13), beside the ConfigPusher: sessions
 * ask it for the tenant's destinations for their first reply (`settingsFor`); the server asks it
 * to push after a change (`pushTo`). A session sends an offer only when its hash differs from the
 * one it last sent on that connection, so repeated pushes never repeat an offer.
 *
 * Fails closed: while a referenced secret cannot be decrypted (KMS down), nothing is offered and
 * the tenant is retried after the KMS's hint, doubling up to 5 minutes, on the Clock.
 */
import type { Clock, ClockTimer } from "../clock.js";
import type { OwnTelemetryService } from "../fleet/own-telemetry/service.js";
import type { Logger } from "../logger.js";
import {
  acceptsOwnTelemetry,
  type OwnTelemetrySettings,
  type OwnTelemetrySource,
} from "./own-telemetry-offer.js";
import type { ConnectionRegistry } from "./registry.js";

const MAX_RETRY_DELAY_MS = 300_000;

export class OwnTelemetryPusher implements OwnTelemetrySource {
  /** A scheduled retry per tenant, and the consecutive failed attempts (reset on success). */
  readonly #retries = new Map<string, ClockTimer>();
  readonly #attempts = new Map<string, number>();
  #stopped = false;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly service: OwnTelemetryService,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async settingsFor(tenantId: string): Promise<OwnTelemetrySettings> {
    try {
      const { generation, resolution } = await this.service.resolve(tenantId);
      if (resolution.state === "unavailable") this.#retryLater(tenantId, resolution.retryAfterSeconds);
      else this.#clearRetry(tenantId);
      return {
        generation,
        destinations: resolution.state === "ready" ? resolution.destinations : undefined,
      };
    } catch (err) {
      this.logger.error({ err, tenantId }, "resolving the tenant's own-telemetry settings failed");
      this.#retryLater(tenantId, 5);
      return { generation: this.service.generation(tenantId), destinations: undefined };
    }
  }

  changedSince(tenantId: string, generation: number): boolean {
    return this.service.generation(tenantId) > generation;
  }

  /** Offers the tenant's current settings to its agents held here that take them and lack them. */
  async pushTo(tenantId: string): Promise<void> {
    const endpoints = this.registry
      .all()
      .filter((e) => e.session.ref?.tenantId === tenantId && acceptsOwnTelemetry(e.session.capabilities));
    if (endpoints.length === 0) return;
    const settings = await this.settingsFor(tenantId);
    for (const endpoint of endpoints) {
      const msg = endpoint.session.ownTelemetryMessage(settings);
      if (msg) endpoint.push(msg);
    }
  }

  #retryLater(tenantId: string, seconds: number): void {
    if (this.#stopped || this.#retries.has(tenantId)) return;
    const attempt = (this.#attempts.get(tenantId) ?? 0) + 1;
    this.#attempts.set(tenantId, attempt);
    const delayMs = Math.min(MAX_RETRY_DELAY_MS, Math.max(1, seconds) * 1000 * 2 ** Math.min(attempt - 1, 8));
    const timer = this.clock.setTimeout(async () => {
      this.#retries.delete(tenantId);
      // A fresh resolution: the cached "unavailable" one must not answer the retry.
      this.service.invalidate(tenantId);
      try {
        await this.pushTo(tenantId);
      } catch (err) {
        this.logger.warn({ err, tenantId }, "own-telemetry retry failed");
      }
    }, delayMs);
    this.#retries.set(tenantId, timer);
  }

  #clearRetry(tenantId: string): void {
    this.#attempts.delete(tenantId);
    this.#retries.get(tenantId)?.cancel();
    this.#retries.delete(tenantId);
  }

  /** Tenants with a retry scheduled now (for tests). */
  get pendingRetries(): number {
    return this.#retries.size;
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#retries.values()) timer.cancel();
    this.#retries.clear();
  }
}
