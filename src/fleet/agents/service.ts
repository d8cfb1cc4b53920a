/**
 * Agents: enrollment (phase 1 with an xse_ token), per-agent keys (xag_, phase 2), the status
 * the OpAMP layer reports, liveness, and the admin operations (labels, revoke, rotate, delete).
 *
 * Rules that hold here:
 * - An agent belongs to one tenant: (tenant_id, instance_uid) is the identity, so another
 *   tenant's token presenting the same uid creates a separate agent and never touches this one.
 * - Enrollment is idempotent per (tenant, uid): released supervisors keep their xag_ key in
 *   memory only and come back with the xse_ token after every restart.
 * - A revoked agent stays revoked: it is held without config until an admin deletes it.
 * - A new key never invalidates the one in use until it is itself used once (rotation overlap).
 */
import type { Kysely, Transaction } from "kysely";
import { issueToken, keyFingerprint, newRecordId, parseToken } from "../../credentials/index.js";
import type { AgentKeyRow, Database, EnrollmentTokenRow, Labels } from "../../db/schema.js";
import {
  NotFoundError,
  PreconditionFailedError,
  UnauthenticatedError,
  UnprocessableError,
  ValidationError,
} from "../../errors.js";
import type { Logger } from "../../logger.js";
import { type Actor, authorizeTenant, type RequestMeta } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { BatchQueue, databaseBatches, runInRounds } from "../batch-queue.js";
import { findEnrollmentTokensByHash } from "../enrollment/repository.js";
import { enrollmentTokenStatus } from "../enrollment/tokens.js";
import { checkIfMatch } from "../etag.js";
import { publishFleetEvent } from "../events.js";
import { labelKeyProblem, labelValueProblem, MAX_LABELS } from "../labels.js";
import { decodeCursor, type Page, toPage } from "../pagination.js";
import { REPLICA_STALE_AFTER_MS } from "../replicas.js";
import { parseSelector, SelectorSyntaxError } from "../selector.js";
import { CAPABILITY, capabilityNames, hasCapability } from "./capabilities.js";
import {
  type AgentListRow,
  type AgentRef,
  type ClosedConnection,
  deleteAgent,
  type EnrollmentSessionStart,
  findAgent,
  findAgentKeysByHash,
  insertAgentKey,
  type KeyedSessionStart,
  listAgentKeys,
  listAgents,
  lockAgent,
  markAgentsDisconnected,
  type ReportColumns,
  type ReportWrite,
  revokeAgentKeys,
  type SessionStartRow,
  startEnrollmentSessions,
  startKeyedSessions,
  storeReports,
  touchAgents,
  updateAgent,
} from "./repository.js";
import type { AgentReport, ConnectionAuth, ConnectionInfo, KnownFacets } from "./types.js";

export type { AgentRef } from "./repository.js";

/** Missed heartbeat intervals after which an agent counts as offline. */
export const MISSED_HEARTBEATS_OFFLINE = 3;

export type AgentStatus = "online" | "offline";

export interface AgentKeyView {
  id: string;
  displayPrefix: string;
  fingerprint: string;
  createdAt: string;
  firstUsedAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokeReason: string | null;
}

export interface AgentView {
  instanceUid: string;
  tenantId: string;
  status: AgentStatus;
  /** Why the agent gets no config from us, or null when nothing stands in the way. */
  attention: "revoked" | "needs_accepts_opamp_connection_settings" | null;
  labels: Labels;
  description: { identifying: Record<string, string>; nonIdentifying: Record<string, string> } | null;
  capabilities: { bits: string; names: string[] };
  health: unknown;
  remoteConfigStatus: unknown;
  connection: {
    transport: string | null;
    connectedAt: string | null;
    disconnectedAt: string | null;
    lastSeenAt: string | null;
    heartbeatIntervalSeconds: number;
  };
  enrollmentTokenId: string | null;
  enrolledAt: string;
  keyConfirmedAt: string | null;
  keyRotationRequestedAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface AgentDetailView extends AgentView {
  effectiveConfig: { files: Record<string, { body: string; contentType: string }> } | null;
  keys: AgentKeyView[];
}

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
  | { outcome: "rejected"; reason: string };

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function keyView(k: AgentKeyRow): AgentKeyView {
  return {
    id: k.id,
    displayPrefix: k.display_prefix,
    fingerprint: keyFingerprint(k.key_hash),
    createdAt: k.created_at.toISOString(),
    firstUsedAt: iso(k.first_used_at),
    lastUsedAt: iso(k.last_used_at),
    revokedAt: iso(k.revoked_at),
    revokeReason: k.revoke_reason,
  };
}

export interface AgentServiceOptions {
  replicaId: string;
  livenessFlushMs: number;
  /** Replaces the tenant's secret values in agent-reported texts (effective config). */
  redact: (tenantId: string, texts: string[]) => Promise<string[]>;
}

/** How long the end of an enrollment connection waits for the agent's key connection (see endSession). */
const SWITCH_GRACE_MS = 3_000;

/** Statements of the OpAMP hot path coalesced per batch (see BatchQueue). */
const HOT_BATCH = databaseBatches(500);

/** Looks rows up by credential hash in batches, one result per hash. */
function lookupByHash<R>(
  find: (hashes: readonly Uint8Array[]) => Promise<R[]>,
  hashOf: (row: R) => Uint8Array,
): BatchQueue<Uint8Array, R | undefined> {
  return new BatchQueue(async (hashes) => {
    const rows = new Map((await find(hashes)).map((r) => [Buffer.from(hashOf(r)).toString("hex"), r]));
    return hashes.map((h) => rows.get(Buffer.from(h).toString("hex")));
  }, HOT_BATCH);
}

export class AgentService {
  /** Agents heard from since the last liveness flush (each session passes the same ref object). */
  readonly #touched = new Set<AgentRef>();
  readonly #tokenUses = new Map<string, number>();
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #tokensByHash: BatchQueue<Uint8Array, EnrollmentTokenRow | undefined>;
  readonly #keysByHash: BatchQueue<Uint8Array, AgentKeyRow | undefined>;
  readonly #reportWrites: BatchQueue<ReportWrite, void>;
  readonly #disconnects: BatchQueue<ClosedConnection, void>;
  readonly #enrollmentStarts: BatchQueue<EnrollmentSessionStart, SessionStartRow | undefined>;
  readonly #keyedStarts: BatchQueue<KeyedSessionStart, SessionStartRow | undefined>;
  readonly #deferredEnds = new Map<NodeJS.Timeout, ClosedConnection>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    private readonly options: AgentServiceOptions,
  ) {
    this.#tokensByHash = lookupByHash(
      (hashes) => findEnrollmentTokensByHash(db, hashes),
      (r) => r.token_hash,
    );
    this.#keysByHash = lookupByHash(
      (hashes) => findAgentKeysByHash(db, hashes),
      (r) => r.key_hash,
    );
    this.#reportWrites = BatchQueue.ofWrites((writes) => storeReports(db, writes), HOT_BATCH);
    this.#disconnects = BatchQueue.ofWrites((closed) => markAgentsDisconnected(db, closed), HOT_BATCH);
    const agentKey = (s: { ref: AgentRef }) => `${s.ref.tenantId}/${s.ref.instanceUid}`;
    this.#enrollmentStarts = new BatchQueue(
      (starts) => runInRounds(starts, agentKey, (round) => startEnrollmentSessions(db, round)),
      HOT_BATCH,
    );
    this.#keyedStarts = new BatchQueue(
      (starts) => runInRounds(starts, agentKey, (round) => startKeyedSessions(db, round)),
      HOT_BATCH,
    );
  }

  // --- OpAMP side -------------------------------------------------------------------------------

  /**
   * Resolves the bearer credential of an OpAMP connection, before any WebSocket exists.
   * Malformed credentials fail without a database query.
   */
  async authenticate(bearer: string | null): Promise<ConnectionAuth> {
    if (!bearer) throw new UnauthenticatedError("missing");
    const parsed = parseToken(bearer, ["enrollment", "agent"]);
    if (!parsed) throw new UnauthenticatedError("malformed");
    if (parsed.kind === "enrollment") {
      const token = await this.#tokensByHash.submit(parsed.hash);
      if (!token) throw new UnauthenticatedError("unknown");
      const status = enrollmentTokenStatus(token);
      if (status !== "active") throw new UnauthenticatedError(status);
      return {
        kind: "enrollment",
        tenantId: token.tenant_id,
        tokenId: token.id,
        labels: token.labels,
        allowConfigOnToken: token.allow_config_on_token,
        maxUses: token.max_uses,
      };
    }
    const key = await this.#keysByHash.submit(parsed.hash);
    if (!key) throw new UnauthenticatedError("unknown");
    if (key.revoked_at) throw new UnauthenticatedError("revoked");
    return {
      kind: "agent",
      tenantId: key.tenant_id,
      instanceUid: key.instance_uid,
      keyId: key.id,
      keyCreatedAt: key.created_at,
      firstUse: key.first_used_at === null,
    };
  }

  /**
   * Handles the first message of a connection: enrollment (xse_) or key confirmation (xag_),
   * plus the reported state and the connection columns, in one statement (one round trip and
   * one commit per phase: enrollment storms are bound by them).
   */
  async beginSession(
    auth: ConnectionAuth,
    instanceUid: string,
    reported: AgentReport,
    conn: ConnectionInfo,
  ): Promise<SessionStart> {
    const ref: AgentRef = { tenantId: auth.tenantId, instanceUid };
    // Redacted before the statement: decrypting must not hold the embedded database's one connection.
    const report = this.#reportColumns(await this.#redacted(auth.tenantId, reported));
    if (auth.kind === "agent" && auth.instanceUid !== instanceUid) {
      return { outcome: "rejected", reason: "this agent key belongs to another instance_uid" };
    }
    const acceptsSettings = hasCapability(reported.capabilities, CAPABILITY.AcceptsOpAMPConnectionSettings);
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
      if (row?.outcome === "exhausted")
        return { outcome: "rejected", reason: "enrollment token is exhausted" };
      if (row?.outcome === "created" && auth.maxUses === null) this.#countUnlimitedUse(auth.tokenId);
      if (row?.outcome === "created" || row?.outcome === "existing") offerKey = issued?.plaintext ?? null;
    } else {
      row = await this.#keyedStarts.submit({
        ref,
        keyId: auth.keyId,
        keyCreatedAt: auth.keyCreatedAt,
        firstUse: auth.firstUse,
        report,
        conn,
      });
      const rotationPending =
        row?.key_rotation_requested_at != null && row.key_rotation_requested_at > auth.keyCreatedAt;
      if (row?.outcome === "existing" && rotationPending && acceptsSettings) {
        offerKey = await this.#mintKey(this.db, ref);
      }
    }
    if (!row) return { outcome: "rejected", reason: "agent is not registered" };
    if (row.outcome === "revoked") {
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

  /** Mints a new key for an agent held on this replica (key rotation on a live connection). */
  async mintRotationKey(ref: AgentRef): Promise<string> {
    return this.#mintKey(this.db, ref);
  }

  async #mintKey(db: Kysely<Database>, ref: AgentRef): Promise<string> {
    const issued = issueToken("agent");
    await insertAgentKey(db, {
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
      reported.availableComponentsHash !== undefined;
    if (!carriesFacets && !capabilitiesChanged) {
      this.touch(ref);
      return;
    }
    const columns = this.#reportColumns(await this.#redacted(ref.tenantId, reported));
    await this.#reportWrites.submit({ ...ref, columns });
  }

  /** Effective config files with the tenant's secret values replaced, before anything stores them. */
  async #redacted(tenantId: string, report: AgentReport): Promise<AgentReport> {
    if (!report.effectiveConfig) return report;
    const entries = Object.entries(report.effectiveConfig.files);
    const bodies = await this.options.redact(
      tenantId,
      entries.map(([, f]) => f.body),
    );
    const files: Record<string, { body: string; contentType: string }> = {};
    entries.forEach(([name, f], i) => {
      files[name] = { body: bodies[i] ?? "", contentType: f.contentType };
    });
    return { ...report, effectiveConfig: { files } };
  }

  #reportColumns(report: AgentReport): ReportColumns {
    return {
      capabilities: report.capabilities.toString(),
      sequence_num: report.sequenceNum.toString(),
      ...(report.description ? { description: JSON.stringify(report.description) } : {}),
      ...(report.health ? { health: JSON.stringify(report.health) } : {}),
      ...(report.effectiveConfig ? { effective_config: JSON.stringify(report.effectiveConfig.files) } : {}),
      ...(report.remoteConfigStatus
        ? { remote_config_status: JSON.stringify(report.remoteConfigStatus) }
        : {}),
      ...(report.availableComponentsHash !== undefined
        ? { available_components_hash: report.availableComponentsHash }
        : {}),
    };
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
  async endSession(ref: AgentRef, connectionId: string, switchingKeys = false): Promise<void> {
    this.#touched.delete(ref);
    const closed = { ...ref, connectionId };
    if (!switchingKeys) {
      await this.#disconnects.submit(closed);
      return;
    }
    const timer = setTimeout(() => {
      this.#deferredEnds.delete(timer);
      this.#disconnects
        .submit(closed)
        .catch((err: unknown) => this.logger.warn({ err }, "marking agent offline failed"));
    }, SWITCH_GRACE_MS);
    timer.unref();
    this.#deferredEnds.set(timer, closed);
  }

  /** Queues a last_seen update for the next batch. */
  touch(ref: AgentRef): void {
    this.#touched.add(ref);
  }

  /** Starts the batched liveness writer. */
  startLiveness(): void {
    this.#flushTimer = setInterval(() => void this.flushLiveness(), this.options.livenessFlushMs);
    this.#flushTimer.unref();
  }

  async stopLiveness(): Promise<void> {
    clearInterval(this.#flushTimer);
    // Ends still in their grace are written now, before the database closes.
    const ends = [...this.#deferredEnds];
    this.#deferredEnds.clear();
    for (const [timer] of ends) clearTimeout(timer);
    await Promise.all(ends.map(([, closed]) => this.#disconnects.submit(closed))).catch((err: unknown) =>
      this.logger.warn({ err }, "marking agents offline failed"),
    );
    await this.flushLiveness();
  }

  /** Writes every queued heartbeat in one statement. */
  async flushLiveness(): Promise<void> {
    await this.#flushTokenUses().catch((err: unknown) =>
      this.logger.warn({ err }, "counting token uses failed"),
    );
    if (this.#touched.size === 0) return;
    const refs = [...this.#touched];
    this.#touched.clear();
    try {
      await touchAgents(this.db, this.options.replicaId, refs);
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

  async #flushTokenUses(): Promise<void> {
    if (this.#tokenUses.size === 0) return;
    const uses = [...this.#tokenUses];
    this.#tokenUses.clear();
    for (const [id, n] of uses) {
      await this.db
        .updateTable("agent_enrollment_tokens")
        .set((eb) => ({ use_count: eb("use_count", "+", n), last_used_at: new Date() }))
        .where("id", "=", id)
        .execute();
    }
  }

  // --- admin side -------------------------------------------------------------------------------

  /** Online = held by a live replica and heard from within ~3 heartbeat intervals. */
  statusOf(row: AgentListRow, now = Date.now()): AgentStatus {
    if (!row.replica_id || !row.last_seen_at || !row.replica_heartbeat_at) return "offline";
    if (now - row.replica_heartbeat_at.getTime() > REPLICA_STALE_AFTER_MS) return "offline";
    const limit = MISSED_HEARTBEATS_OFFLINE * row.heartbeat_interval_s * 1000 + this.options.livenessFlushMs;
    return now - row.last_seen_at.getTime() <= limit ? "online" : "offline";
  }

  #view(row: AgentListRow): AgentView {
    const caps = BigInt(row.capabilities);
    const needsSettings =
      row.key_confirmed_at === null && !hasCapability(caps, CAPABILITY.AcceptsOpAMPConnectionSettings);
    return {
      instanceUid: row.instance_uid,
      tenantId: row.tenant_id,
      status: this.statusOf(row),
      attention: row.revoked_at
        ? "revoked"
        : needsSettings && caps !== 0n
          ? "needs_accepts_opamp_connection_settings"
          : null,
      labels: row.labels,
      description: row.description as AgentView["description"],
      capabilities: { bits: `0x${caps.toString(16)}`, names: capabilityNames(caps) },
      health: row.health,
      remoteConfigStatus: row.remote_config_status,
      connection: {
        transport: row.transport,
        connectedAt: iso(row.connected_at),
        disconnectedAt: iso(row.disconnected_at),
        lastSeenAt: iso(row.last_seen_at),
        heartbeatIntervalSeconds: row.heartbeat_interval_s,
      },
      enrollmentTokenId: row.enrollment_token_id,
      enrolledAt: row.enrolled_at.toISOString(),
      keyConfirmedAt: iso(row.key_confirmed_at),
      keyRotationRequestedAt: iso(row.key_rotation_requested_at),
      revokedAt: iso(row.revoked_at),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { selector?: string; status?: AgentStatus; q?: string; cursor?: string; limit: number },
  ): Promise<Page<AgentView>> {
    authorizeTenant(actor, tenantId, "viewer");
    let requirements: ReturnType<typeof parseSelector>["requirements"] = [];
    if (opts.selector) {
      try {
        requirements = parseSelector(opts.selector).requirements;
      } catch (err) {
        if (err instanceof SelectorSyntaxError) {
          throw new UnprocessableError("invalid label selector", [
            { path: "selector", message: err.message, column: err.column },
          ]);
        }
        throw err;
      }
    }
    const afterUid = opts.cursor ? String(decodeCursor(opts.cursor, 1)[0]) : undefined;
    const now = Date.now();
    const rows = await listAgents(this.db, {
      tenantId,
      requirements,
      status: opts.status,
      text: opts.q,
      afterUid,
      limit: opts.limit + 1,
      onlineSince: new Date(now - MISSED_HEARTBEATS_OFFLINE * 30_000 - this.options.livenessFlushMs),
      replicaFreshSince: new Date(now - REPLICA_STALE_AFTER_MS),
    });
    return toPage(
      rows,
      opts.limit,
      (r) => [r.instance_uid],
      (r) => this.#view(r),
    );
  }

  async get(actor: Actor, tenantId: string, instanceUid: string): Promise<AgentDetailView> {
    authorizeTenant(actor, tenantId, "viewer");
    return this.#detail(this.db, { tenantId, instanceUid });
  }

  /** The detail view, read through `db` (pass the transaction when inside one). */
  async #detail(db: Kysely<Database> | Transaction<Database>, ref: AgentRef): Promise<AgentDetailView> {
    const row = await findAgent(db, ref);
    if (!row) throw new NotFoundError("agent");
    const keys = await listAgentKeys(db, ref);
    return {
      ...this.#view(row),
      effectiveConfig: row.effective_config
        ? await this.#redactStored(ref.tenantId, row.effective_config)
        : null,
      keys: keys.map(keyView),
    };
  }

  /** Stored effective config, redacted again (a secret created after it was stored). */
  async #redactStored(tenantId: string, stored: string) {
    const files = JSON.parse(stored) as Record<string, { body: string; contentType: string }>;
    const redacted = await this.#redacted(tenantId, {
      sequenceNum: 0n,
      capabilities: 0n,
      effectiveConfig: { files },
    });
    return { files: redacted.effectiveConfig?.files ?? {} };
  }

  /**
   * Changes server-assigned labels with JSON merge-patch semantics: a key set to null is
   * removed. Honours If-Match against the agent's current view.
   */
  async patchLabels(
    meta: RequestMeta,
    tenantId: string,
    instanceUid: string,
    patch: Record<string, string | null>,
    ifMatch?: string,
  ): Promise<AgentDetailView> {
    authorizeTenant(meta.actor, tenantId, "editor");
    const ref = { tenantId, instanceUid };
    // If-Match is checked against the view a GET shows (read before the transaction, because it
    // decrypts secrets to redact); the locked row must still be that version.
    const seen = ifMatch !== undefined ? await this.#detail(this.db, ref) : undefined;
    if (seen && ifMatch !== undefined) checkIfMatch(ifMatch, seen);
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (seen && row.updated_at.toISOString() !== seen.updatedAt) throw new PreconditionFailedError();
      const labels: Labels = { ...row.labels };
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete labels[k];
        else labels[k] = v;
      }
      const issues = Object.entries(labels).flatMap(([k, v]) => {
        const problem = labelKeyProblem(k) ?? labelValueProblem(v);
        return problem ? [{ path: `labels.${k}`, message: problem }] : [];
      });
      if (Object.keys(labels).length > MAX_LABELS)
        issues.push({ path: "labels", message: `at most ${MAX_LABELS} labels` });
      if (issues.length) throw new ValidationError("invalid labels", issues);
      await updateAgent(trx, ref, { labels: JSON.stringify(labels) });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.labels_update",
        targetType: "agent",
        targetId: instanceUid,
        details: { before: row.labels, after: labels },
      });
      await publishFleetEvent(trx, tenantId, "agent.labels_changed", { instanceUids: [instanceUid] });
    });
    return this.get(meta.actor, tenantId, instanceUid);
  }

  /**
   * Revokes an agent: all its keys stop working and its live connection is closed on whichever
   * replica holds it. It stays revoked (re-enrollment with the same uid is refused) until deleted.
   */
  async revoke(meta: RequestMeta, tenantId: string, instanceUid: string): Promise<AgentDetailView> {
    authorizeTenant(meta.actor, tenantId, "editor");
    const ref = { tenantId, instanceUid };
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (row.revoked_at) return;
      await updateAgent(trx, ref, { revoked_at: new Date(), revoked_by: meta.actor.id });
      const keys = await revokeAgentKeys(trx, ref, "agent revoked");
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.revoke",
        targetType: "agent",
        targetId: instanceUid,
        details: { keysRevoked: keys },
      });
      await publishFleetEvent(trx, tenantId, "agent.revoked", { instanceUids: [instanceUid] });
    });
    return this.get(meta.actor, tenantId, instanceUid);
  }

  /**
   * Asks for a new key: offered on the live connection by the replica holding it (or on the
   * agent's next connection); the current key works until the new one is first used.
   */
  async requestKeyRotation(
    meta: RequestMeta,
    tenantId: string,
    instanceUid: string,
  ): Promise<AgentDetailView> {
    authorizeTenant(meta.actor, tenantId, "editor");
    const ref = { tenantId, instanceUid };
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (row.revoked_at) throw new UnprocessableError("a revoked agent cannot get a new key");
      await updateAgent(trx, ref, { key_rotation_requested_at: new Date() });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.rotate_key",
        targetType: "agent",
        targetId: instanceUid,
      });
      await publishFleetEvent(trx, tenantId, "agent.key_rotation_requested", { instanceUids: [instanceUid] });
    });
    return this.get(meta.actor, tenantId, instanceUid);
  }

  /** Deletes an agent with its keys and history; a live connection is closed. */
  async delete(meta: RequestMeta, tenantId: string, instanceUid: string): Promise<void> {
    authorizeTenant(meta.actor, tenantId, "editor");
    const ref = { tenantId, instanceUid };
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      await deleteAgent(trx, ref);
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.delete",
        targetType: "agent",
        targetId: instanceUid,
        details: { labels: row.labels },
      });
      await publishFleetEvent(trx, tenantId, "agent.deleted", { instanceUids: [instanceUid] });
    });
  }

  /** Whether the agent is (still) revoked; used when a held connection asks again. */
  async isRevoked(ref: AgentRef): Promise<boolean> {
    const row = await findAgent(this.db, ref);
    return row?.revoked_at != null;
  }
}
