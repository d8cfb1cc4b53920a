/**
 * Replica presence: each process keeps a `replicas` row fresh. Agents whose replica stopped
 * refreshing it count as offline, even if that replica died without saying so.
 */
import { hostname } from "node:os";
import type { Clock, ClockTimer } from "../clock.js";
import type { Db } from "../db/types.js";
import type { Logger } from "../logger.js";
import {
  disconnectReplicaAgents,
  markReplicaStopped,
  updateReplicaHeartbeat,
  upsertReplica,
} from "./replicas-repository.js";

/** Presence heartbeats: well inside REPLICA_STALE_AFTER_MS (agents/liveness.ts). */
const HEARTBEAT_EVERY_MS = 10_000;

export class ReplicaPresence {
  #timer: ClockTimer | undefined;

  constructor(
    private readonly db: Db,
    readonly id: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await upsertReplica(this.db, this.id, hostname(), this.clock.date());
    this.#timer = this.clock.setInterval(
      () =>
        updateReplicaHeartbeat(this.db, this.id, this.clock.date()).catch((err: unknown) =>
          this.logger.warn({ err }, "replica heartbeat failed"),
        ),
      HEARTBEAT_EVERY_MS,
    );
  }

  /** Marks the replica stopped and every agent it held offline. */
  async stop(): Promise<void> {
    this.#timer?.cancel();
    const now = this.clock.date();
    await disconnectReplicaAgents(this.db, this.id, now);
    await markReplicaStopped(this.db, this.id, now);
  }
}
