/**
 * Change propagation between replicas (DESIGN.md §8). A change that can affect agents commits a
 * `fleet_events` row and NOTIFYs one coarse channel in the same transaction; every replica reads
 * new rows on the notification or on a short poll, so a missed notification only delays.
 *
 * bigserial ids are taken at insert, not at commit, so a slower transaction can commit a smaller
 * id after a larger one was read. The feed therefore re-reads a short window of recent rows and
 * skips ids it has already dispatched.
 */
import type { DatabaseHandle } from "../db/database.js";
import type { Db, Tx } from "../db/types.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import {
  claimFleetEvent,
  insertFleetEvent,
  newestFleetEventId,
  pruneFleetEvents,
  readFleetEvents,
} from "./events-repository.js";

export const FLEET_EVENTS_CHANNEL = "agent_api_fleet_events";

/** Why a tenant's desired configs may have changed. */
export type ConfigChangeReason = "revision" | "assignment" | "secret" | "retry" | "rollout";

/**
 * What each kind of event carries. `instanceUids` names the agents concerned; a config change
 * without it concerns every agent of the tenant, one with an empty list none (a change that
 * alters nobody's config: replicas drop their cached assignments and re-plan no agent).
 */
export interface FleetEventPayloads {
  "agent.revoked": { instanceUids: string[] };
  "agent.deleted": { instanceUids: string[] };
  "agent.key_rotation_requested": { instanceUids: string[] };
  "agent.labels_changed": { instanceUids: string[] };
  /**
   * Send these agents the restart command. With `perSecond`, the n-th agent of the list gets it
   * n / perSecond seconds after the event is read, on whichever replica holds it: one schedule
   * for the whole fleet, however many replicas share it.
   */
  "agent.restart_requested": { instanceUids: string[]; perSecond?: number };
  "config.changed": {
    reason: ConfigChangeReason;
    instanceUids?: string[];
    template?: string;
    version?: number;
    assignment?: string;
    secret?: string;
  };
  /** The tenant's own-telemetry settings changed (issue 13): re-offer them to its agents. */
  "own_telemetry.changed": Record<string, never>;
  /** A rollout changed state or admitted agents (issue 12): drivers look at it at once. */
  "rollout.changed": { rolloutId: string; assignment: string; state: string };
}

export type FleetEventKind = keyof FleetEventPayloads;

/** A fleet event: a discriminated union on `kind`, so consumers read payloads without casts. */
export type FleetEvent = {
  [K in FleetEventKind]: {
    id: number;
    tenantId: string;
    kind: K;
    payload: FleetEventPayloads[K];
    createdAt: Date;
  };
}[FleetEventKind];

export type FleetEventHandler = (event: FleetEvent) => void | Promise<void>;

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === "string");

/**
 * Checks a stored row's kind and payload (written by another replica, possibly of another
 * version): an event this version does not understand is skipped, never half-read.
 */
export function parseFleetEvent(row: {
  id: number;
  tenant_id: string;
  kind: string;
  payload: unknown;
  created_at: Date;
}): FleetEvent | undefined {
  const base = { id: row.id, tenantId: row.tenant_id, createdAt: row.created_at };
  const p = (row.payload ?? {}) as Record<string, unknown>;
  switch (row.kind) {
    case "agent.revoked":
    case "agent.deleted":
    case "agent.key_rotation_requested":
    case "agent.labels_changed":
      return isStringArray(p.instanceUids)
        ? { ...base, kind: row.kind, payload: { instanceUids: p.instanceUids } }
        : undefined;
    case "agent.restart_requested": {
      if (!isStringArray(p.instanceUids)) return undefined;
      const perSecond = p.perSecond;
      if (perSecond !== undefined && !(typeof perSecond === "number" && perSecond > 0)) return undefined;
      return {
        ...base,
        kind: row.kind,
        payload: { instanceUids: p.instanceUids, ...(perSecond !== undefined ? { perSecond } : {}) },
      };
    }
    case "config.changed": {
      const reason = p.reason;
      if (
        reason !== "revision" &&
        reason !== "assignment" &&
        reason !== "secret" &&
        reason !== "retry" &&
        reason !== "rollout"
      )
        return undefined;
      if (p.instanceUids !== undefined && !isStringArray(p.instanceUids)) return undefined;
      return {
        ...base,
        kind: row.kind,
        payload: {
          reason,
          ...(p.instanceUids ? { instanceUids: p.instanceUids } : {}),
          ...(typeof p.template === "string" ? { template: p.template } : {}),
          ...(typeof p.version === "number" ? { version: p.version } : {}),
          ...(typeof p.assignment === "string" ? { assignment: p.assignment } : {}),
          ...(typeof p.secret === "string" ? { secret: p.secret } : {}),
        },
      };
    }
    case "own_telemetry.changed":
      return { ...base, kind: row.kind, payload: {} };
    case "rollout.changed":
      return typeof p.rolloutId === "string" &&
        typeof p.assignment === "string" &&
        typeof p.state === "string"
        ? {
            ...base,
            kind: row.kind,
            payload: { rolloutId: p.rolloutId, assignment: p.assignment, state: p.state },
          }
        : undefined;
    default:
      return undefined;
  }
}

/** Records an event inside `trx` and wakes every replica up when `trx` commits. */
export async function publishFleetEvent<K extends FleetEventKind>(
  trx: Tx,
  tenantId: string,
  kind: K,
  payload: FleetEventPayloads[K],
): Promise<void> {
  await insertFleetEvent(trx, FLEET_EVENTS_CHANNEL, { tenantId, kind, payload: JSON.stringify(payload) });
}

export interface FleetEventFeedOptions {
  pollIntervalMs: number;
  /** How far back each read looks for late commits. */
  windowMs: number;
  /** Events older than this are deleted. */
  retentionMs: number;
}

/** One per replica: reads new events and hands them to the subscribers in id order. */
export class FleetEventFeed {
  readonly #handlers: FleetEventHandler[] = [];
  readonly #seen = new Map<number, number>();
  #highest = 0;
  #timer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #pulling: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly logger: Logger,
    private readonly options: FleetEventFeedOptions,
    private readonly metrics?: Metrics,
  ) {}

  private get db(): Db {
    return this.database.db;
  }

  subscribe(handler: FleetEventHandler): void {
    this.#handlers.push(handler);
  }

  /** Starts after the newest existing event: history is not replayed. */
  async start(): Promise<void> {
    this.#highest = await newestFleetEventId(this.db);
    this.#unlisten = await this.database.listen(FLEET_EVENTS_CHANNEL, () => this.pull());
    this.#timer = setInterval(() => this.pull(), this.options.pollIntervalMs);
    this.#pruneTimer = setInterval(() => this.#prune(), Math.max(60_000, this.options.retentionMs / 4));
    this.#timer.unref();
    this.#pruneTimer.unref();
  }

  /**
   * Claims `event` for fleet-wide work on behalf of `replicaId`; true for exactly one replica.
   */
  async claim(event: FleetEvent, replicaId: string): Promise<boolean> {
    return claimFleetEvent(this.db, event.id, replicaId);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#pruneTimer);
    await this.#unlisten?.();
    await this.#pulling;
  }

  /** Reads and dispatches new events now; concurrent calls coalesce into one more read. */
  pull(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#pulling) {
      this.#again = true;
      return this.#pulling;
    }
    this.#pulling = (async () => {
      do {
        this.#again = false;
        try {
          await this.#readOnce();
        } catch (err) {
          this.logger.warn({ err }, "reading fleet events failed; the next poll retries");
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#pulling = undefined;
    });
    return this.#pulling;
  }

  async #readOnce(): Promise<void> {
    const since = new Date(Date.now() - this.options.windowMs);
    const rows = await readFleetEvents(this.db, this.#highest, since, 5000);
    const now = Date.now();
    for (const row of rows) {
      const id = Number(row.id);
      if (this.#seen.has(id)) continue;
      this.#seen.set(id, now);
      if (id > this.#highest) this.#highest = id;
      const event = parseFleetEvent({ ...row, id });
      if (!event) {
        this.logger.warn({ eventId: id, kind: row.kind }, "skipping a fleet event this version cannot read");
        continue;
      }
      for (const handler of this.#handlers) {
        try {
          await handler(event);
        } catch (err) {
          this.logger.error({ err, eventId: id, kind: event.kind }, "fleet event handler failed");
        }
      }
      // Wall-clock time on both sides: created_at is the committing transaction's now().
      this.metrics?.fleetEventHandled((Date.now() - event.createdAt.getTime()) / 1000);
    }
    // Forget ids well outside the re-read window.
    for (const [id, at] of this.#seen) if (now - at > this.options.windowMs * 4) this.#seen.delete(id);
  }

  async #prune(): Promise<void> {
    try {
      await pruneFleetEvents(this.db, new Date(Date.now() - this.options.retentionMs));
    } catch (err) {
      this.logger.warn({ err }, "pruning fleet events failed");
    }
  }
}
