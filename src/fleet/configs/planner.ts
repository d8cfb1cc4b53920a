/**
 * Decides which connected agents get a remote config now, and what each agent's delivery row
 * becomes; `deliveries/` records it (the planner decides, deliveries records). Used by the
 * config pusher at the start of a session and on every change that can alter desired configs.
 *
 * Rules (DESIGN.md §6–7, brief §3.3):
 * - Only agents with AcceptsRemoteConfig, on their own key (or a token that allows config).
 * - No matching assignment, or a tie → nothing is sent: an empty config map would stop the
 *   collector, so we never send one by accident.
 * - A render failure is recorded as a failed delivery with its reason; nothing is sent.
 * - The config is sent only when its hash differs from what the agent runs; a hash the agent
 *   reported FAILED is not pushed again until the content changes or an admin retries.
 * - Pre-flight: a config that uses a component the agent's reported build lacks is not sent; its
 *   delivery fails with the reason (`exporter "kafka" is not in this collector's build`). Agents
 *   without a stored component list are not blocked.
 */
import { createHash } from "node:crypto";
import type { Clock } from "../../clock.js";
import { newRecordId } from "../../credentials/index.js";
import type { Db } from "../../db/types.js";
import type { Logger } from "../../logger.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";
import { type DesiredConfigHash, recordDesiredConfigs } from "../agents/drift-repository.js";
import type { Liveness } from "../agents/liveness.js";
import { type AgentForPlanning, findAgentsForPlanning, findOfflineAgentsPage } from "../agents/repository.js";
import type { RemoteConfigState, RemoteConfigStatusReport } from "../agents/types.js";
import { BatchQueue, databaseBatches, runInRounds } from "../batch-queue.js";
import type { ComponentCatalog, ComponentSet } from "../components/catalog.js";
import { missingComponentsMessage } from "../components/collector-config.js";
import type { DeliveryPlanRow, DeliveryRow } from "../deliveries/repository.js";
import type { DeliveryService } from "../deliveries/service.js";
import { type AgentForConfig, attributesOf, type DesiredConfig, type DesiredConfigs } from "./desired.js";

/** What the OpAMP session knows about an agent right now. */
export interface AgentSessionFacts {
  instanceUid: string;
  capabilities: bigint;
  /** On its own key, or on a token that allows config. */
  mayReceiveConfig: boolean;
  /** The last remote config status the agent reported on this connection, if any. */
  reported?: { hash: string; status: RemoteConfigState } | undefined;
}

export interface RemoteConfigOffer {
  /** Hex SHA-256 of the canonical config map. */
  hash: string;
  yaml: string;
}

export interface PlanResult {
  offers: Map<string, RemoteConfigOffer>;
  /** Resolves when the plan's rows are written (at once unless recorded behind the push). */
  recorded: Promise<void>;
  /**
   * Agents whose config could not be rendered because a secret could not be decrypted now (KMS
   * down or throttling): nothing was sent (fail closed); try them again after this many seconds.
   */
  retryAfter: Map<string, number>;
}

const CHUNK = 1000;

/** The render_failed reason of a config the agent's build cannot run. */
export const MISSING_COMPONENTS = "missing_components";

/** A desired config that goes to the agent, or the failure recorded instead. */
type Planned = Extract<DesiredConfig, { kind: "config" | "render_failed" }>;

/** One session's plan, as the session-start batch returns it. */
export interface SessionPlan {
  offer: RemoteConfigOffer | undefined;
  /** Seconds after which to plan again (a secret could not be decrypted now), if any. */
  retryAfter: number | undefined;
}

export class ConfigPlanner {
  /** Session starts planned together: an enrollment storm plans many agents per round trip. */
  readonly #sessions: BatchQueue<{ tenantId: string; facts: AgentSessionFacts }, SessionPlan>;

  constructor(
    private readonly db: Db,
    private readonly desired: DesiredConfigs,
    private readonly deliveries: DeliveryService,
    private readonly components: ComponentCatalog,
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.#sessions = new BatchQueue((items) => this.#planSessions(items), databaseBatches(CHUNK));
  }

  /** Plans one connected agent's config (batched with other sessions starting now). */
  planSession(tenantId: string, facts: AgentSessionFacts): Promise<SessionPlan> {
    return this.#sessions.submit({ tenantId, facts });
  }

  async #planSessions(items: { tenantId: string; facts: AgentSessionFacts }[]): Promise<SessionPlan[]> {
    // One plan per tenant; an agent twice in the batch waits for the next round.
    return runInRounds(
      items,
      (i) => `${i.tenantId}/${i.facts.instanceUid}`,
      async (round) => {
        const results = new Map<(typeof items)[number], SessionPlan>();
        const tenants = new Map<string, (typeof items)[number][]>();
        for (const item of round) {
          const list = tenants.get(item.tenantId) ?? [];
          list.push(item);
          tenants.set(item.tenantId, list);
        }
        for (const [tenantId, of] of tenants) {
          const planned = await this.plan(
            tenantId,
            of.map((i) => i.facts),
          );
          for (const item of of) {
            const uid = item.facts.instanceUid;
            results.set(item, { offer: planned.offers.get(uid), retryAfter: planned.retryAfter.get(uid) });
          }
        }
        return round.map((i) => results.get(i) ?? { offer: undefined, retryAfter: undefined });
      },
    );
  }

  /**
   * Records what offline agents will get when they connect: `pending` rows for the new desired
   * config (an agent already running it stays applied; a failed one stays failed), failed rows
   * for configs that do not render. Nothing is sent; the session start does that. Run by one
   * replica per change (see FleetEventFeed.claim). Returns the number of agents planned.
   */
  async planOffline(tenantId: string, opts: OfflinePlanOptions): Promise<number> {
    if (opts.instanceUids?.length === 0) return 0;
    let after: string | undefined;
    let planned = 0;
    for (;;) {
      // Offline by the same liveness rule the agent views and list filters use.
      const rows = await findOfflineAgentsPage(this.db, {
        tenantId,
        instanceUids: opts.instanceUids,
        afterUid: after,
        limit: CHUNK,
        liveness: this.liveness,
        now: this.clock.now(),
      });
      if (rows.length === 0) break;
      after = rows.at(-1)?.instance_uid;
      const eligible = rows.filter((r) =>
        hasCapability(BigInt(r.capabilities), AgentCapability.AcceptsRemoteConfig),
      );
      const computed = await this.desired.compute(
        tenantId,
        eligible.map((r) => ({
          instanceUid: r.instance_uid,
          labels: r.labels,
          attributes: attributesOf(r.description),
        })),
      );
      const desired = await this.#checked(tenantId, eligible, computed);
      await recordDesiredConfigs(this.db, tenantId, desiredHashes(computed, desired));
      const plans: DeliveryPlanRow[] = [];
      for (const r of eligible) {
        const d = desired.get(r.instance_uid);
        if (!d) continue;
        // A KMS outage is not the template's fault: the agent is planned when it connects.
        if (d.kind === "render_failed" && d.reason === "secret_unavailable") continue;
        const reported = storedStatus(r.remote_config_status as RemoteConfigStatusReport | null);
        const status: DeliveryPlanRow["status"] =
          d.kind === "render_failed"
            ? "failed"
            : reported?.hash === d.hash && reported.status === "APPLIED"
              ? "applied"
              : "pending";
        plans.push(
          planRow(tenantId, r.instance_uid, d, status, d.kind === "render_failed" ? failureMessage(d) : null),
        );
      }
      await this.deliveries.recordPlans(tenantId, plans, []);
      planned += plans.length;
      if (rows.length < CHUNK) break;
    }
    return planned;
  }

  /** Forget cached assignments of a tenant (a config change happened). */
  invalidate(tenantId: string): void {
    this.desired.invalidate(tenantId);
  }

  /**
   * Plans (and records) deliveries for connected agents of one tenant; returns the offers to send.
   * `recordBehindPush`: the offers are returned before their rows are written (a fan-out: the
   * rows follow the push, see DeliveryService.recordPlansBehindPush); otherwise they are written
   * first (a session start: its offer goes out with the reply).
   */
  async plan(
    tenantId: string,
    facts: readonly AgentSessionFacts[],
    opts: { recordBehindPush?: boolean } = {},
  ): Promise<PlanResult> {
    const result: PlanResult = { offers: new Map(), retryAfter: new Map(), recorded: Promise.resolve() };
    const eligible = facts.filter(
      (f) => f.mayReceiveConfig && hasCapability(f.capabilities, AgentCapability.AcceptsRemoteConfig),
    );
    for (let i = 0; i < eligible.length; i += CHUNK) {
      await this.#planChunk(tenantId, eligible.slice(i, i + CHUNK), result, opts.recordBehindPush === true);
    }
    return result;
  }

  async #planChunk(
    tenantId: string,
    facts: readonly AgentSessionFacts[],
    result: PlanResult,
    recordBehindPush: boolean,
  ) {
    const { offers } = result;
    const rows = await findAgentsForPlanning(
      this.db,
      tenantId,
      facts.map((f) => f.instanceUid),
    );
    const byUid = new Map(rows.filter((r) => !r.revoked_at).map((r) => [r.instance_uid, r]));
    const agents: AgentForConfig[] = [];
    for (const f of facts) {
      const row = byUid.get(f.instanceUid);
      if (row)
        agents.push({
          instanceUid: f.instanceUid,
          labels: row.labels,
          attributes: attributesOf(row.description),
        });
    }
    const computed = await this.desired.compute(tenantId, agents);
    const desired = await this.#checked(tenantId, [...byUid.values()], computed);
    const current: { instanceUid: string; hash: string }[] = [];
    for (const [uid, d] of desired) current.push({ instanceUid: uid, hash: d.hash });
    const writeDesired = () => recordDesiredConfigs(this.db, tenantId, desiredHashes(computed, desired));
    // Independent statements: the desired hashes (drift) are written while the deliveries are read
    // (behind a push: with the deliveries, after it).
    const [, currentRows] = await Promise.all([
      recordBehindPush ? undefined : writeDesired(),
      this.deliveries.findCurrent(tenantId, current),
    ]);
    const existing = new Map<string, DeliveryRow>();
    for (const r of currentRows) existing.set(r.instance_uid, r);
    // Only a config that goes (or went) to the agent supersedes its others: while the desired one
    // failed, the agent still runs the previous config, which stays applied.
    const superseding: { instanceUid: string; hash: string }[] = [];

    // What the agents reported is read from here on (live): a report recorded after this instant
    // wins over the offers decided below (see upsertDeliveries).
    const decidedAt = this.clock.date();
    const plans: DeliveryPlanRow[] = [];
    for (const f of facts) {
      const d = desired.get(f.instanceUid);
      if (!d) continue;
      const row = existing.get(f.instanceUid);
      const reported =
        f.reported ??
        storedStatus(byUid.get(f.instanceUid)?.remote_config_status as RemoteConfigStatusReport | null);
      const decision = decide(d, row, reported);
      if (d.kind === "render_failed" && d.reason === "secret_unavailable") {
        result.retryAfter.set(f.instanceUid, d.retryAfterSeconds ?? 5);
      }
      if (decision.status)
        plans.push(planRow(tenantId, f.instanceUid, d, decision.status, decision.error ?? null));
      if (decision.status && decision.status !== "failed")
        superseding.push({ instanceUid: f.instanceUid, hash: d.hash });
      if (decision.offer && d.kind === "config") offers.set(f.instanceUid, { hash: d.hash, yaml: d.yaml });
    }
    if (recordBehindPush) {
      result.recorded = this.deliveries.recordPlansBehindPush(
        tenantId,
        plans,
        superseding,
        decidedAt,
        writeDesired,
      );
    } else {
      await this.deliveries.recordPlans(tenantId, plans, superseding, decidedAt);
    }
    if (plans.length > 0) {
      this.logger.debug({ tenantId, planned: plans.length, offered: offers.size }, "deliveries planned");
    }
  }

  /**
   * The configs (or failures) to plan for these agents: their desired configs, each checked
   * against the agent's build (one read of the builds involved, cached).
   */
  async #checked(
    tenantId: string,
    agents: readonly AgentForPlanning[],
    computed: Map<string, DesiredConfig>,
  ): Promise<Map<string, Planned>> {
    const builds = new Map(agents.map((a) => [a.instance_uid, a.available_components_hash]));
    const sets = await this.components.findMany(
      tenantId,
      agents.flatMap((a) => (a.available_components_hash ? [a.available_components_hash] : [])),
    );
    const out = new Map<string, Planned>();
    for (const [uid, d] of computed) {
      const build = builds.get(uid);
      if (d.kind === "config") out.set(uid, this.#preflight(d, build ? sets.get(build) : undefined));
      else if (d.kind === "render_failed") out.set(uid, d);
    }
    return out;
  }

  /**
   * The pre-flight check of one agent's config against its build. A config using a component the
   * build lacks becomes a failure keyed by the config AND the build, so the same config goes out
   * once the agent reports a build that has the component. The components a config uses are
   * memoized per config hash: a fan-out of one revision parses its YAML once.
   * Rollouts (issue 9) hook in here: an agent is admitted to a rollout wave only past this check.
   */
  #preflight(d: Extract<DesiredConfig, { kind: "config" }>, set: ComponentSet | undefined): Planned {
    const missing = this.components.missing(set, d.hash, d.yaml);
    if (!set || missing.length === 0) return d;
    return {
      kind: "render_failed",
      resolution: d.resolution,
      assignment: d.assignment,
      revision: d.revision,
      reason: MISSING_COMPONENTS,
      message: missingComponentsMessage(missing),
      hash: createHash("sha256").update(`missing-components\n${d.hash}\n${set.hash}`).digest("hex"),
    };
  }
}

/** The error a failed delivery row carries for a config that is not sent. */
function failureMessage(d: Extract<DesiredConfig, { kind: "render_failed" }>): string {
  return d.reason === MISSING_COMPONENTS ? d.message : `render failed: ${d.message}`;
}

/**
 * What each planned agent should run, for drift (docs/drift.md): the hash of its config; null
 * when there is none to run (no assignment, a conflict, a config that does not render or does not
 * fit its build). A secret that cannot be decrypted now says nothing about the config: that
 * agent's desired hash is left as it was.
 */
function desiredHashes(
  computed: Map<string, DesiredConfig>,
  planned: Map<string, Planned>,
): DesiredConfigHash[] {
  const out: DesiredConfigHash[] = [];
  for (const uid of computed.keys()) {
    const d = planned.get(uid);
    if (d?.kind === "render_failed" && d.reason === "secret_unavailable") continue;
    out.push({ instanceUid: uid, hash: d?.kind === "config" ? d.hash : null });
  }
  return out;
}

export interface OfflinePlanOptions {
  /** Only these agents (a label change); all of the tenant's otherwise. */
  instanceUids?: readonly string[] | undefined;
}

function storedStatus(s: RemoteConfigStatusReport | null | undefined) {
  return s?.lastRemoteConfigHash ? { hash: s.lastRemoteConfigHash, status: s.status } : undefined;
}

type Decision = { offer: boolean; status?: DeliveryPlanRow["status"]; error?: string };

/** The push decision for one agent (pure). */
function decide(
  d: Extract<DesiredConfig, { kind: "config" | "render_failed" }>,
  row: DeliveryRow | undefined,
  reported: { hash: string; status: RemoteConfigState } | undefined,
): Decision {
  if (d.kind === "render_failed") return { offer: false, status: "failed", error: failureMessage(d) };
  // An admin retry reopened the row: push again whatever the agent last said about it.
  if (row?.status === "pending" && reported?.hash !== d.hash) return { offer: true, status: "offered" };
  if (row?.status === "pending" && reported?.status === "FAILED") return { offer: true, status: "offered" };
  if (reported?.hash === d.hash) {
    if (reported.status === "APPLIED") return { offer: false, status: "applied" };
    if (reported.status === "APPLYING") return { offer: false, status: "applying" };
    if (reported.status === "FAILED") return { offer: false, status: "failed" };
  }
  if (row?.status === "failed") return { offer: false };
  return { offer: true, status: "offered" };
}

function planRow(
  tenantId: string,
  instanceUid: string,
  d: Extract<DesiredConfig, { kind: "config" | "render_failed" }>,
  status: DeliveryPlanRow["status"],
  error: string | null,
): DeliveryPlanRow {
  return {
    id: newRecordId("dlv"),
    tenant_id: tenantId,
    instance_uid: instanceUid,
    config_hash: d.hash,
    template_id: d.assignment.row.template_id,
    revision_id: d.revision?.id ?? null,
    assignment_id: d.assignment.id,
    status,
    error_message: error,
    overlay_revision_ids: d.kind === "config" ? d.layers.slice(1).map((l) => l.revision.id) : [],
  };
}
