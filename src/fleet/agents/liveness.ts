/**
 * The one liveness rule (STYLE.md 15), in both the forms the server needs: a predicate over an
 * agent row (the agent's own view) and a SQL condition (list filters, the offline planner).
 * Both read the same constants and the same `now`, so the list and the item never disagree.
 *
 * An agent is online while
 * - a replica holds its connection (`replica_id`), and that replica is alive (not stopped, its
 *   presence heartbeat fresher than REPLICA_STALE_AFTER_MS), and
 * - it was heard from within MISSED_HEARTBEATS_OFFLINE of *its own* heartbeat intervals, plus
 *   one liveness flush (heartbeats are written in batches every LIVENESS_FLUSH_MS).
 *
 * This module builds its own SQL fragment (so the rule has one home); it is the one non-repository
 * file in src/fleet allowed to import the query builder for that reason.
 */
import { type Expression, type SqlBool, sql } from "kysely";

/** Missed heartbeat intervals after which an agent counts as offline. */
export const MISSED_HEARTBEATS_OFFLINE = 3;

/** A replica whose presence heartbeat is older than this is considered gone. */
export const REPLICA_STALE_AFTER_MS = 30_000;

export type AgentStatus = "online" | "offline";

/** The columns the rule reads (an agent row joined with its replica's). */
export interface LivenessColumns {
  replica_id: string | null;
  last_seen_at: Date | null;
  heartbeat_interval_s: number;
  replica_heartbeat_at: Date | null;
  replica_stopped_at: Date | null;
}

export class Liveness {
  /** `flushMs`: the liveness flush period, the longest a heard agent can look unheard. */
  constructor(private readonly flushMs: number) {}

  /** How long an agent with this heartbeat interval may stay silent and still be online. */
  silenceAllowedMs(heartbeatIntervalSeconds: number): number {
    return MISSED_HEARTBEATS_OFFLINE * heartbeatIntervalSeconds * 1000 + this.flushMs;
  }

  /** The predicate form. */
  statusOf(row: LivenessColumns, now: number): AgentStatus {
    if (!row.replica_id || !row.last_seen_at || !row.replica_heartbeat_at) return "offline";
    if (row.replica_stopped_at !== null) return "offline";
    if (now - row.replica_heartbeat_at.getTime() >= REPLICA_STALE_AFTER_MS) return "offline";
    const silentFor = now - row.last_seen_at.getTime();
    return silentFor <= this.silenceAllowedMs(row.heartbeat_interval_s) ? "online" : "offline";
  }

  /**
   * The SQL form, over the `agents` table. The live replicas are read once into an array (an
   * InitPlan): as an EXISTS the planner turns it into a join it estimates at one row, and sorts
   * every connected agent instead of reading the connected index in page order (40 ms instead of
   * 1 ms with 10,000 connected).
   */
  onlineSql(now: number): Expression<SqlBool> {
    const heardSince = new Date(now - this.flushMs);
    const replicaFreshSince = new Date(now - REPLICA_STALE_AFTER_MS);
    return sql<SqlBool>`(agents.replica_id is not null
      and agents.last_seen_at >= ${heardSince}::timestamptz
        - agents.heartbeat_interval_s * ${MISSED_HEARTBEATS_OFFLINE} * interval '1 second'
      and agents.replica_id = any (array(select r.id from replicas r where r.stopped_at is null
        and r.heartbeat_at > ${replicaFreshSince}::timestamptz)))`;
  }

  /** The SQL form of "offline" (the negation, null-safe). */
  offlineSql(now: number): Expression<SqlBool> {
    return sql<SqlBool>`not coalesce(${this.onlineSql(now)}, false)`;
  }
}
