/**
 * Replica presence: each process keeps a `replicas` row fresh. Agents whose replica stopped
 * refreshing it count as offline, even if that replica died without saying so.
 */
import { hostname } from "node:os";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logger.js";

/** A replica whose heartbeat is older than this is considered gone. */
export const REPLICA_STALE_AFTER_MS = 30_000;
const HEARTBEAT_EVERY_MS = 10_000;

export class ReplicaPresence {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    readonly id: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.db
      .insertInto("replicas")
      .values({ id: this.id, hostname: hostname() })
      .onConflict((oc) => oc.column("id").doUpdateSet({ heartbeat_at: new Date(), stopped_at: null }))
      .execute();
    this.#timer = setInterval(() => {
      this.db
        .updateTable("replicas")
        .set({ heartbeat_at: new Date() })
        .where("id", "=", this.id)
        .execute()
        .catch((err: unknown) => this.logger.warn({ err }, "replica heartbeat failed"));
    }, HEARTBEAT_EVERY_MS);
    this.#timer.unref();
  }

  /** Marks the replica stopped and every agent it held offline. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const now = new Date();
    await this.db
      .updateTable("agents")
      .set({ replica_id: null, connection_id: null, disconnected_at: now })
      .where("replica_id", "=", this.id)
      .execute();
    await this.db.updateTable("replicas").set({ stopped_at: now }).where("id", "=", this.id).execute();
  }
}
