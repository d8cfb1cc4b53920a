/**
 * Delivery tracking (DESIGN.md §7): one row per (agent, desired config hash), moving
 * pending → offered → applying → applied | failed (with the agent's error), or superseded when a
 * newer desired config replaces it. A supervisor's automatic rollback (FAILED for B, then APPLIED
 * for the older A) is recorded on A as `rolledBackFrom: B`. Offered/applying rows with no report
 * for DELIVERY_STALL_SECONDS are shown as stalled.
 */
import type { Clock } from "../../clock.js";
import type { DeliveryStatus } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { NotFoundError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import { countDriftedAgents } from "../agents/drift-repository.js";
import type { RemoteConfigStatusReport } from "../agents/types.js";
import type { AuditLog } from "../audit/service.js";
import { BatchQueue, databaseBatches } from "../batch-queue.js";
import {
  findAssignment,
  findRevision,
  findTemplate,
  listAssignmentNames,
  listRevisionNames,
} from "../configs/repository.js";
import { publishFleetEvent } from "../events.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import {
  applyStatusReports,
  type ChangedDelivery,
  type DeliveryListRow,
  type DeliveryPlanRow,
  type DeliveryRow,
  findDeliveriesForAgents,
  listDeliveries,
  reopenFailed,
  rollup,
  type StatusReportWrite,
  supersedeOthers,
  upsertDeliveries,
} from "./repository.js";

export interface DeliveryView {
  id: string;
  instanceUid: string;
  configHash: string;
  status: DeliveryStatus;
  stalled: boolean;
  /** The agent runs this config now (the last one it reported applied). */
  running: boolean;
  errorMessage: string | null;
  rolledBackFrom: string | null;
  attempts: number;
  template: string | null;
  assignment: string | null;
  revision: { template: string | null; version: number | null } | null;
  createdAt: string;
  updatedAt: string;
  offeredAt: string | null;
  applyingAt: string | null;
  appliedAt: string | null;
  failedAt: string | null;
  supersededAt: string | null;
}

export interface RollupView {
  applied: number;
  failed: number;
  pending: number;
  offered: number;
  applying: number;
  stalled: number;
  superseded: number;
  /** Agents whose desired config comes from here and that run another one (docs/drift.md). */
  drifted: number;
}

export function emptyRollup(): RollupView {
  return {
    applied: 0,
    failed: 0,
    pending: 0,
    offered: 0,
    applying: 0,
    stalled: 0,
    superseded: 0,
    drifted: 0,
  };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export class DeliveryService {
  readonly #statusWrites: BatchQueue<StatusReportWrite, void>;
  /** Per tenant: the last plan write queued behind a push (they run one after another). */
  readonly #planWrites = new Map<string, Promise<void>>();
  /** Per agent (`tenant/uid`): the queued plan write its status reports wait for. */
  readonly #agentPlanWrites = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly stallAfterMs: number,
    private readonly metrics: Metrics,
  ) {
    this.#statusWrites = BatchQueue.ofWrites(async (reports) => {
      for (const changed of await applyStatusReports(db, reports)) this.#logOutcome(changed);
    }, databaseBatches(500));
  }

  /** One line per delivery outcome an agent reported (a repeated report changes no row: no line). */
  #logOutcome(d: ChangedDelivery): void {
    if (d.status === "applying" || d.status === "applied" || d.status === "failed")
      this.metrics.deliveries(d.status);
    const fields = { tenantId: d.tenant_id, instanceUid: d.instance_uid, configHash: d.config_hash };
    if (d.status === "applied") {
      this.logger.info(
        { ...fields, ...(d.rolled_back_from ? { rolledBackFrom: d.rolled_back_from } : {}) },
        d.rolled_back_from ? "agent rolled back to an earlier config" : "delivery applied",
      );
    } else if (d.status === "failed") {
      this.logger.info({ ...fields, error: d.error_message }, "delivery failed");
    }
  }

  #stalledBefore(): Date {
    return new Date(this.clock.now() - this.stallAfterMs);
  }

  /**
   * Records the planner's decisions: each agent's row for its desired hash, and (for agents in
   * `superseding`) every other unfinished or applied row superseded by it. Runs after the
   * tenant's plan writes still queued behind a push, so rows are written in the order decided.
   */
  async recordPlans(
    tenantId: string,
    plans: readonly DeliveryPlanRow[],
    superseding: readonly { instanceUid: string; hash: string }[],
    /** When the planner read what the agents reported (an offer never undoes a later APPLIED). */
    decidedAt?: Date,
  ): Promise<void> {
    await this.#planWrites.get(tenantId);
    await this.#writePlans(tenantId, plans, superseding, decidedAt);
  }

  async #writePlans(
    tenantId: string,
    plans: readonly DeliveryPlanRow[],
    superseding: readonly { instanceUid: string; hash: string }[],
    decidedAt: Date | undefined,
  ): Promise<void> {
    const at = decidedAt ?? this.clock.date();
    await supersedeOthers(this.db, tenantId, superseding, at);
    await upsertDeliveries(this.db, plans, at, at);
    this.metrics.deliveries("offered", plans.filter((p) => p.status === "offered").length);
  }

  /**
   * Records a fan-out's plans behind its push: the offers go out first and the rows follow
   * (README "Configs"). The tenant's plan writes run one after another in the order they were
   * decided, timestamped when decided; each agent's status reports wait for its plan's write, so
   * an APPLIED is never applied before the row it is about exists. `alsoWrite` runs with it (the
   * agents' desired hashes). Resolves when written; a failure is logged here.
   */
  recordPlansBehindPush(
    tenantId: string,
    plans: readonly DeliveryPlanRow[],
    superseding: readonly { instanceUid: string; hash: string }[],
    decidedAt: Date,
    alsoWrite: () => Promise<unknown>,
  ): Promise<void> {
    const write = async () => {
      try {
        await Promise.all([alsoWrite(), this.#writePlans(tenantId, plans, superseding, decidedAt)]);
      } catch (err) {
        this.logger.error(
          { err, tenantId, agents: plans.length },
          "recording a fan-out's deliveries failed; the agents got their configs",
        );
      }
    };
    const previous = this.#planWrites.get(tenantId);
    const written = previous ? previous.then(write) : write();
    this.#planWrites.set(tenantId, written);
    const keys = plans.map((p) => `${tenantId}/${p.instance_uid}`);
    for (const key of keys) this.#agentPlanWrites.set(key, written);
    void written.then(() => {
      if (this.#planWrites.get(tenantId) === written) this.#planWrites.delete(tenantId);
      for (const key of keys)
        if (this.#agentPlanWrites.get(key) === written) this.#agentPlanWrites.delete(key);
    });
    return written;
  }

  /** Resolves once the agent's plan write queued behind a push (if any) is done. */
  async #planWritten(tenantId: string, instanceUid: string): Promise<void> {
    await this.#agentPlanWrites.get(`${tenantId}/${instanceUid}`);
  }

  /** Waits for every plan write queued behind a push (shutdown: before the database closes). */
  async drainPlanWrites(): Promise<void> {
    while (this.#planWrites.size > 0) await Promise.all(this.#planWrites.values());
  }

  /** The rows of these (agent, hash) pairs, where they exist (what the planner decides from). */
  findCurrent(
    tenantId: string,
    pairs: readonly { instanceUid: string; hash: string }[],
  ): Promise<DeliveryRow[]> {
    return findDeliveriesForAgents(this.db, tenantId, pairs);
  }

  #view(r: DeliveryListRow): DeliveryView {
    return {
      id: r.id,
      instanceUid: r.instance_uid,
      configHash: r.config_hash,
      status: r.status,
      stalled: (r.status === "offered" || r.status === "applying") && r.updated_at < this.#stalledBefore(),
      running: r.running,
      errorMessage: r.error_message,
      rolledBackFrom: r.rolled_back_from,
      attempts: r.attempts,
      template: r.template_name,
      assignment: r.assignment_name,
      revision: r.revision_id ? { template: r.template_name, version: r.revision_version } : null,
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
      offeredAt: iso(r.offered_at),
      applyingAt: iso(r.applying_at),
      appliedAt: iso(r.applied_at),
      failedAt: iso(r.failed_at),
      supersededAt: iso(r.superseded_at),
    };
  }

  /**
   * Applies an agent's remote-config status report to its delivery rows (batched with other
   * agents' reports: one statement per batch). Idempotent: a status the row already has writes
   * nothing (full-state reports repeat it).
   */
  async recordStatus(tenantId: string, instanceUid: string, report: RemoteConfigStatusReport): Promise<void> {
    if (!report.lastRemoteConfigHash || report.status === "UNSET") return;
    // Timestamped when heard, written once the row it is about is (a rollout's bake counts from it).
    const at = this.clock.date();
    await this.#planWritten(tenantId, instanceUid);
    await this.#statusWrites.submit({
      tenantId,
      instanceUid,
      configHash: report.lastRemoteConfigHash,
      status: report.status,
      errorMessage: report.errorMessage,
      at,
    });
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: {
      cursor?: string;
      limit: number;
      status?: DeliveryStatus | "stalled";
      instanceUid?: string;
      template?: string;
      assignment?: string;
    },
  ): Promise<Page<DeliveryView>> {
    scopeToTenant(actor, tenantId);
    const before = opts.cursor ? decodeCursor(opts.cursor, CURSORS.deliveries) : undefined;
    const ids = await this.#resolveNames(tenantId, opts.template, opts.assignment);
    if (ids === null) return { items: [], nextCursor: null };
    const rows = await listDeliveries(this.db, {
      tenantId,
      instanceUid: opts.instanceUid,
      status: opts.status,
      templateId: ids.templateId,
      assignmentId: ids.assignmentId,
      stalledBefore: this.#stalledBefore(),
      before: before ? { updatedAt: before[0], id: before[1] } : undefined,
      limit: opts.limit + 1,
    });
    return toPage(
      rows,
      opts.limit,
      CURSORS.deliveries,
      (r) => [r.updated_at.toISOString(), r.id],
      (r) => this.#view(r),
    );
  }

  /** Template/assignment names → ids; null when a named one does not exist (empty result). */
  async #resolveNames(
    tenantId: string,
    template?: string,
    assignment?: string,
  ): Promise<{ templateId?: string; assignmentId?: string } | null> {
    const out: { templateId?: string; assignmentId?: string } = {};
    if (template) {
      const t = await findTemplate(this.db, tenantId, template);
      if (!t) return null;
      out.templateId = t.id;
    }
    if (assignment) {
      const a = await findAssignment(this.db, tenantId, assignment);
      if (!a) return null;
      out.assignmentId = a.id;
    }
    return out;
  }

  /** Roll-ups (applied / failed / pending …) per revision or per assignment, from the same rows. */
  async rollups(
    actor: Actor,
    tenantId: string,
    by: "revision" | "assignment",
  ): Promise<Array<{ key: string; template?: string; version?: number; counts: RollupView }>> {
    scopeToTenant(actor, tenantId);
    const column = by === "revision" ? "revision_id" : "assignment_id";
    const rows = await rollup(this.db, tenantId, column, this.#stalledBefore());
    const byKey = new Map<string, RollupView>();
    for (const r of rows) {
      if (!r.key) continue;
      const counts = byKey.get(r.key) ?? emptyRollup();
      if (r.stalled) counts.stalled += r.n;
      counts[r.status] += r.n;
      byKey.set(r.key, counts);
    }
    // A drifted agent's desired row is one of the rows counted above: its key is there already.
    for (const d of await countDriftedAgents(this.db, tenantId, column)) {
      const counts = d.key ? byKey.get(d.key) : undefined;
      if (counts) counts.drifted = d.n;
    }
    if (by === "assignment") {
      const names = await listAssignmentNames(this.db, tenantId);
      return names
        .filter((n) => byKey.has(n.id))
        .map((n) => ({ key: n.name, counts: byKey.get(n.id) ?? emptyRollup() }));
    }
    const revisions = await listRevisionNames(this.db, tenantId);
    return revisions
      .filter((r) => byKey.has(r.id))
      .map((r) => ({
        key: `${r.name}@${r.version}`,
        template: r.name,
        version: r.version,
        counts: byKey.get(r.id) ?? emptyRollup(),
      }));
  }

  /** Counts for one assignment (for its GET view). */
  async rollupForAssignment(tenantId: string, assignmentId: string): Promise<RollupView> {
    const rows = await rollup(this.db, tenantId, "assignment_id", this.#stalledBefore(), assignmentId);
    const counts = emptyRollup();
    for (const r of rows) {
      if (r.stalled) counts.stalled += r.n;
      counts[r.status] += r.n;
    }
    counts.drifted = (await countDriftedAgents(this.db, tenantId, "assignment_id", assignmentId))[0]?.n ?? 0;
    return counts;
  }

  /**
   * Admin retry: failed deliveries (of one agent, or of one revision, or all of the tenant) may
   * be pushed again; the agents holding them get the config within seconds.
   */
  async retry(
    meta: RequestMeta,
    tenantId: string,
    filter: { instanceUid?: string; template?: string; version?: number },
  ): Promise<{ agents: number }> {
    scopeToTenant(meta.actor, tenantId);
    let revisionId: string | undefined;
    if (filter.template) {
      const t = await findTemplate(this.db, tenantId, filter.template);
      const revision = t && (await findRevision(this.db, t.id, filter.version ?? -1));
      if (!revision) throw new NotFoundError("revision");
      revisionId = revision.id;
    }
    return this.db.transaction().execute(async (trx) => {
      const uids = await reopenFailed(
        trx,
        tenantId,
        { instanceUid: filter.instanceUid, revisionId },
        this.clock.date(),
      );
      await this.audit.record(trx, meta, {
        tenantId,
        action: "delivery.retry",
        targetType: filter.instanceUid ? "agent" : "tenant",
        targetId: filter.instanceUid ?? tenantId,
        details: {
          agents: uids.length,
          ...(filter.template ? { template: filter.template, version: filter.version } : {}),
        },
      });
      if (uids.length > 0)
        await publishFleetEvent(trx, tenantId, "config.changed", { reason: "retry", instanceUids: uids });
      return { agents: uids.length };
    });
  }
}
