import { retryingDeadlocks } from "../db/errors.js";
import type { Queryable } from "../db/types.js";

/** Registers a replica, or brings a known id back: a fresh heartbeat, no longer stopped. */
export async function upsertReplica(db: Queryable, id: string, hostname: string, at: Date): Promise<void> {
  await db
    .insertInto("replicas")
    .values({ id, hostname, heartbeat_at: at })
    .onConflict((oc) => oc.column("id").doUpdateSet({ heartbeat_at: at, stopped_at: null }))
    .execute();
}

/** Stamps the replica's heartbeat with `at` (the liveness rule reads it with the same clock). */
export async function updateReplicaHeartbeat(db: Queryable, id: string, at: Date): Promise<void> {
  await db.updateTable("replicas").set({ heartbeat_at: at }).where("id", "=", id).execute();
}

/** Every agent the replica holds becomes disconnected at `at` (served by the connected partial index). */
export async function disconnectReplicaAgents(db: Queryable, replicaId: string, at: Date): Promise<void> {
  // Its rows are also written by the last session ends and heartbeats of a draining replica.
  await retryingDeadlocks(() =>
    db
      .updateTable("agents")
      .set({ replica_id: null, connection_id: null, disconnected_at: at })
      .where("replica_id", "=", replicaId)
      .execute(),
  );
}

/** Marks the replica stopped at `at`. */
export async function markReplicaStopped(db: Queryable, id: string, at: Date): Promise<void> {
  await db.updateTable("replicas").set({ stopped_at: at }).where("id", "=", id).execute();
}
