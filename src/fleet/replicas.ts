/**
 * Replica presence: each process keeps a `replicas` row fresh. Agents whose replica stopped
 * refreshing it count as offline, even if that replica died without saying so.
 */
import { hostname } from "node:os";
import type { Db } from "../db/types.js";
import type { Logger } from "../logger.js";
import {
  disconnectReplicaAgents,
  markReplicaStopped,
  updateReplicaHeartbeat,
  upsertReplica,
} from "./replicas-repository.js";

/** A replica whose heartbeat is older than this is considered gone. */
export const REPLICA_STALE_AFTER_MS = 30_000;
const HEARTBEAT_EVERY_MS = 10_000;

export class ReplicaPresence {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    readonly id: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await upsertReplica(this.db, this.id, hostname());
    this.#timer = setInterval(() => {
      updateReplicaHeartbeat(this.db, this.id).catch((err: unknown) =>
        this.logger.warn({ err }, "replica heartbeat failed"),
      );
    }, HEARTBEAT_EVERY_MS);
    this.#timer.unref();
  }

  /** Marks the replica stopped and every agent it held offline. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const now = new Date();
    await disconnectReplicaAgents(this.db, this.id, now);
    await markReplicaStopped(this.db, this.id, now);
  }
}
