/**
 * The agent side of an OpAMP session: begin (enrollment with an xse_ token, or key confirmation
 * with the agent's own xag_ key), reports, liveness, end. Every write of the hot path is
 * group-committed (BatchQueue): an enrollment storm pays one round trip per batch.
 *
 * Rules that hold here:
 * - An agent belongs to one tenant: (tenant_id, instance_uid) is the identity, so another
 *   tenant's token presenting the same uid creates a separate agent and never touches this one.
 * - Enrollment is idempotent per (tenant, uid): released supervisors keep their xag_ key in
 *   memory only and come back with the xse_ token after every restart.
 * - A revoked agent stays revoked: it is held connected, without config, until an admin deletes it.
 * - A new key never invalidates the one in use until it is itself used once (rotation overlap).
 * - Connection timestamps come from the Clock, like the liveness rule that reads them.
 * - A connection whose uid is live elsewhere with another identity (identity.ts), or that asks
 *   for a uid (RequestInstanceUid), is given a new uid and stores nothing under the old one; it
 *   begins again under the new uid (docs/commands-and-identity.md).
 */
import type { Clock, ClockTimer } from "../../clock.js";
import { issueToken, newInstanceUid, newRecordId } from "../../credentials/index.js";
import type { Db } from "../../db/types.js";
import type { Logger } from "../../logger.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";
import { BatchQueue, databaseBatches, runInRounds } from "../batch-queue.js";
import { addEnrollmentTokenUses } from "../enrollment/repository.js";
import { isOtherAgent } from "./identity.js";
import type { Liveness } from "./liveness.js";
import type { ReportColumnsBuilder } from "./report-columns.js";
import {
  type AgentPresenceRow,
  type AgentRef,
  findAgent,
  findAgentPresence,
  insertAgentKey,
} from "./repository.js";
import {
  type ClosedConnection,
  type EnrollmentSessionStart,
  type KeyedSessionStart,
  markAgentsDisconnected,
  type ReportWrite,
  type SessionStartRow,
  startEnrollmentSessions,
  startKeyedSessions,
  storeReports,
  touchAgents,
} from "./session-repository.js";
import type {
  AgentDescriptionReport,
  AgentReport,
  ConnectionAuth,
  ConnectionInfo,
  KnownFacets,
} from "./types.js";

export type { AgentRef } from "./repository.js";

/** What the OpAMP layer needs after the first message of a connection. */
export type SessionStart =
  | {
      outcome: "active";
      ref: AgentRef;
      known: KnownFacets;
      /** Plaintext xag_ key to offer through connection settings on this connection. */
      offerKey: string | null;
      /** The agent cannot switch to its own key and its token does not allow config. */
      needsConnectionSettings: boolean;
      created: boolean;
    }
  | { outcome: "held"; ref: AgentRef; reason: string }
  | {
      /** Nothing was stored: the agent is to continue as `newInstanceUid` (agent_identification). */
      outcome: "reassigned";
      newInstanceUid: string;
      why: "duplicate" | "requested";
    }
  | { outcome: "rejected"; reason: string };

export interface AgentSessionsOptions {
  replicaId: string;
  livenessFlushMs: number;
  /** The liveness rule: "live elsewhere" for duplicate detection. */
  liveness: Liveness;
}

/** How long the end of an enrollment connection waits for the agent's key connection (see end). */
export const SWITCH_GRACE_MS = 3_000;

/** Statements of the OpAMP hot path coalesced per batch (see BatchQueue). */
const HOT_BATCH = databaseBatches(500);

export class AgentSessions {
  /** Agents heard from since the last liveness flush (each session passes the same ref object). */
  readonly #touched = new Set<AgentRef>();
  /** Uses of tokens without max_uses, written with the liveness flush. */
  readonly #tokenUses = new Map<string, number>();
  #flushTimer: ClockTimer | undefined;
  readonly #reportWrites: BatchQueue<ReportWrite, void>;
  readonly #disconnects: BatchQueue<ClosedConnection, void>;
  readonly #enrollmentStarts: BatchQueue<EnrollmentSessionStart, SessionStartRow | undefined>;
  readonly #keyedStarts: BatchQueue<KeyedSessionStart, SessionStartRow | undefined>;
  readonly #deferredEnds = new Map<ClockTimer, ClosedConnection>();
  readonly #presence: BatchQueue<AgentRef, AgentPresenceRow | undefined>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Turns a report into stored columns, secrets masked. */
    private readonly columns: ReportColumnsBuilder,
    private readonly options: AgentSessionsOptions,
  ) {
    this.#reportWrites = BatchQueue.ofWrites((writes) => storeReports(db, writes), HOT_BATCH);
    this.#disconnects = BatchQueue.ofWrites(
      (closed) => markAgentsDisconnected(db, closed, this.clock.date()),
      HOT_BATCH,
    );
    const agentKey = (s: { ref: AgentRef }) => `${s.ref.tenantId}/${s.ref.instanceUid}`;
    this.#enrollmentStarts = new BatchQueue(
      (starts) => runInRounds(starts, agentKey, (round) => startEnrollmentSessions(db, round)),
      HOT_BATCH,
    );
    this.#keyedStarts = new BatchQueue(
      (starts) => runInRounds(starts, agentKey, (round) => startKeyedSessions(db, round)),
      HOT_BATCH,
    );
    this.#presence = new BatchQueue(async (refs) => {
      const rows = new Map(
        (await findAgentPresence(db, refs)).map((r) => [`${r.tenant_id}/${r.instance_uid}`, r]),
      );
      return refs.map((ref) => rows.get(`${ref.tenantId}/${ref.instanceUid}`));
    }, HOT_BATCH);
  }

  /**
   * Handles the first message of a connection: enrollment (xse_) or key confirmation (xag_),
   * plus the reported state and the connection columns, in one statement (one round trip and
   * one commit per phase: enrollment storms are bound by them).
   */
  async begin(
    auth: ConnectionAuth,
    instanceUid: string,
    reported: AgentReport,
    conn: ConnectionInfo,
  ): Promise<SessionStart> {
    const ref: AgentRef = { tenantId: auth.tenantId, instanceUid };
    if (auth.kind === "agent" && auth.instanceUid !== instanceUid) {
      return { outcome: "rejected", reason: "this agent key belongs to another instance_uid" };
    }
    const reassigned = await this.#reassignment(auth, ref, reported, conn.transport);
    if (reassigned) return reassigned;
    // Redacted before the statement: decrypting must not hold the embedded database's one connection.
    const report = await this.columns.of(auth.tenantId, reported, this.clock.date());
    const acceptsSettings = hasCapability(
      reported.capabilities,
      AgentCapability.AcceptsOpAMPConnectionSettings,
    );
    // Fields of this session's log lines (a child logger per enrollment costs more than the line).
    const at = { tenantId: ref.tenantId, instanceUid, transport: conn.transport };
    let offerKey: string | null = null;
    let row: SessionStartRow | undefined;
    if (auth.kind === "enrollment") {
      // Keys offered on earlier enrollment connections and never used are lost with the
      // supervisor's memory (the statement revokes them); a confirmed key stays valid until this
      // new one is used.
      const issued = acceptsSettings ? issueToken("agent") : undefined;
      const start: EnrollmentSessionStart = {
        ref,
        tokenId: auth.tokenId,
        labels: JSON.stringify(auth.labels),
        // Every enrollment through one token would otherwise queue on that token's row lock, so
        // the counter is kept exactly only where it limits something (max_uses set).
        limited: auth.maxUses !== null,
        report,
        conn,
        key: issued && { id: newRecordId("agk"), hash: issued.hash, displayPrefix: issued.displayPrefix },
      };
      // A concurrent first connection of the same uid inserted the row after our snapshot: the
      // second run takes it over like any re-enrollment.
      row = (await this.#enrollmentStarts.submit(start)) ?? (await this.#enrollmentStarts.submit(start));
      if (row?.outcome === "exhausted") {
        this.logger.info(
          { ...at, enrollmentTokenId: auth.tokenId },
          "enrollment refused: the token is exhausted",
        );
        return { outcome: "rejected", reason: "enrollment token is exhausted" };
      }
      if (row?.outcome === "created" && auth.maxUses === null) this.#countUnlimitedUse(auth.tokenId);
      if (row?.outcome === "created" || row?.outcome === "existing") {
        offerKey = issued?.plaintext ?? null;
        this.logger.info(
          {
            ...at,
            enrollmentTokenId: auth.tokenId,
            enrollment: row.outcome === "created" ? "new" : "re-enrollment",
            keyOffered: issued ? { id: start.key?.id, prefix: issued.displayPrefix } : null,
          },
          "agent enrolled",
        );
      }
    } else {
      row = await this.#keyedStarts.submit({
        ref,
        keyId: auth.keyId,
        keyCreatedAt: auth.keyCreatedAt,
        firstUse: auth.firstUse,
        report,
        conn,
      });
      if (row?.outcome === "existing" && auth.firstUse) {
        this.logger.info({ ...at, keyId: auth.keyId }, "agent switched to its own key");
      }
      const rotationPending =
        row?.key_rotation_requested_at != null && row.key_rotation_requested_at > auth.keyCreatedAt;
      if (row?.outcome === "existing" && rotationPending && acceptsSettings) {
        offerKey = await this.mintKey(ref);
      }
    }
    if (!row) return { outcome: "rejected", reason: "agent is not registered" };
    if (row.outcome === "revoked") {
      this.logger.info(at, "revoked agent connected; held without config");
      return {
        outcome: "held",
        ref,
        reason: "this agent was revoked; an admin must delete it before it can enroll again",
      };
    }
    return {
      outcome: "active",
      ref,
      created: row.outcome === "created",
      offerKey,
      needsConnectionSettings: auth.kind === "enrollment" && !acceptsSettings && !auth.allowConfigOnToken,
      known: {
        description: row.has_description,
        health: row.has_health,
        effectiveConfig: row.has_effective_config,
        remoteConfigStatus: row.has_remote_config_status,
      },
    };
  }

  /**
   * Whether this connection must continue under a new uid: it asked for one, or its uid is live
   * on another connection (any replica) of an agent with another identity. Undefined: go on.
   * On an agent key the uid is that key's agent: a clone holding a copy of the key cannot be
   * split off (it has no credential of its own to enroll with), so it is refused instead.
   */
  async #reassignment(
    auth: ConnectionAuth,
    ref: AgentRef,
    reported: AgentReport,
    transport: string,
  ): Promise<SessionStart | undefined> {
    const requested = reported.requestsInstanceUid === true;
    if (!requested && !(await this.#isLiveElsewhere(ref, reported.description))) return undefined;
    const at = { tenantId: ref.tenantId, instanceUid: ref.instanceUid, transport };
    if (auth.kind === "agent") {
      this.logger.warn(
        { ...at, keyId: auth.keyId, requested },
        "agent key presented by another agent; refused",
      );
      return {
        outcome: "rejected",
        reason: requested
          ? "a new instance_uid is assigned on enrollment-token connections only"
          : "this instance_uid is connected as another agent (different identity); restart to enroll anew",
      };
    }
    const newUid = newInstanceUid(this.clock.now());
    this.logger.info(
      { ...at, newInstanceUid: newUid, why: requested ? "requested" : "duplicate" },
      requested ? "instance uid requested; assigned" : "duplicate instance uid; assigned a new one",
    );
    return { outcome: "reassigned", newInstanceUid: newUid, why: requested ? "requested" : "duplicate" };
  }

  /** Whether `ref` is online now with an identity other than the one `description` says. */
  async #isLiveElsewhere(ref: AgentRef, description: AgentDescriptionReport | undefined): Promise<boolean> {
    // Without a description there is nothing to compare: never a duplicate (no read either).
    if (!description) return false;
    const live = await this.#presence.submit(ref);
    if (!live || this.options.liveness.statusOf(live, this.clock.now()) !== "online") return false;
    return isOtherAgent(description, live.description as AgentDescriptionReport | null);
  }

  /** Mints a new key for an agent (offered on its live connection: key rotation). */
  async mintKey(ref: AgentRef): Promise<string> {
    const issued = issueToken("agent");
    await insertAgentKey(this.db, {
      id: newRecordId("agk"),
      tenant_id: ref.tenantId,
      instance_uid: ref.instanceUid,
      key_hash: issued.hash,
      display_prefix: issued.displayPrefix,
    });
    return issued.plaintext;
  }

  /**
   * Stores the facets a later message carried. A heartbeat carries none: it only counts as a
   * sign of life, written in the next batch.
   */
  async recordReport(ref: AgentRef, reported: AgentReport, capabilitiesChanged: boolean): Promise<void> {
    const carriesFacets =
      reported.description !== undefined ||
      reported.health !== undefined ||
      reported.effectiveConfig !== undefined ||
      reported.remoteConfigStatus !== undefined ||
      reported.availableComponents !== undefined ||
      reported.customCapabilities !== undefined;
    if (!carriesFacets && !capabilitiesChanged) {
      this.touch(ref);
      return;
    }
    const columns = await this.columns.of(ref.tenantId, reported, this.clock.date());
    await this.#reportWrites.submit({ ...ref, columns });
  }

  /**
   * The connection closed (or sent agent_disconnect): offline now, unless replaced already.
   *
   * `switchingKeys`: the agent left right after we offered it its key, to reconnect with it (phase
   * 1 of enrollment). Its key connection normally takes the row over within milliseconds, so the
   * end is written after SWITCH_GRACE_MS, and by then usually matches nothing (the row names the
   * new connection): no offline/online flip of the row per enrollment. An agent that does not
   * come back is shown offline after the grace.
   */
  async end(ref: AgentRef, connectionId: string, switchingKeys: boolean): Promise<void> {
    this.#touched.delete(ref);
    const closed = { ...ref, connectionId };
    if (!switchingKeys) {
      await this.#disconnects.submit(closed);
      return;
    }
    const timer = this.clock.setTimeout(() => {
      this.#deferredEnds.delete(timer);
      return this.#disconnects
        .submit(closed)
        .catch((err: unknown) => this.logger.warn({ err }, "marking agent offline failed"));
    }, SWITCH_GRACE_MS);
    this.#deferredEnds.set(timer, closed);
  }

  /** Queues a last_seen update for the next batch. */
  touch(ref: AgentRef): void {
    this.#touched.add(ref);
  }

  /** Starts the batched liveness writer. */
  startLiveness(): void {
    this.#flushTimer = this.clock.setInterval(() => this.flushLiveness(), this.options.livenessFlushMs);
  }

  async stopLiveness(): Promise<void> {
    this.#flushTimer?.cancel();
    // Ends still in their grace are written now, before the database closes.
    const ends = [...this.#deferredEnds];
    this.#deferredEnds.clear();
    for (const [timer] of ends) timer.cancel();
    await Promise.all(ends.map(([, closed]) => this.#disconnects.submit(closed))).catch((err: unknown) =>
      this.logger.warn({ err }, "marking agents offline failed"),
    );
    await this.flushLiveness();
  }

  /** Writes every queued heartbeat in one statement, and the counted token uses. */
  async flushLiveness(): Promise<void> {
    const at = this.clock.date();
    await this.#flushTokenUses(at).catch((err: unknown) =>
      this.logger.warn({ err }, "counting token uses failed"),
    );
    if (this.#touched.size === 0) return;
    const refs = [...this.#touched];
    this.#touched.clear();
    try {
      await touchAgents(this.db, this.options.replicaId, refs, at);
    } catch (err) {
      this.logger.warn({ err, count: refs.length }, "writing heartbeats failed");
    }
  }

  /**
   * Uses of tokens without max_uses are counted in memory and written with the heartbeat batch:
   * one statement per token per flush instead of a row lock per enrollment.
   */
  #countUnlimitedUse(tokenId: string): void {
    this.#tokenUses.set(tokenId, (this.#tokenUses.get(tokenId) ?? 0) + 1);
  }

  async #flushTokenUses(at: Date): Promise<void> {
    if (this.#tokenUses.size === 0) return;
    const uses = [...this.#tokenUses];
    this.#tokenUses.clear();
    for (const [id, n] of uses) await addEnrollmentTokenUses(this.db, id, n, at);
  }

  /** Whether the agent is (still) revoked; asked when a held connection speaks again. */
  async isRevoked(ref: AgentRef): Promise<boolean> {
    const row = await findAgent(this.db, ref);
    return row?.revoked_at != null;
  }
}
