/**
 * Decides which connected agents get a remote config now, and records the deliveries. Used by
 * the OpAMP layer at the start of a session and on every change that can alter desired configs.
 *
 * Rules (DESIGN.md §6–7, brief §3.3):
 * - Only agents with AcceptsRemoteConfig, on their own key (or a token that allows config).
 * - No matching assignment, or a tie → nothing is sent: an empty config map would stop the
 *   collector, so we never send one by accident.
 * - A render failure is recorded as a failed delivery with its reason; nothing is sent.
 * - The config is sent only when its hash differs from what the agent runs; a hash the agent
 *   reported FAILED is not pushed again until the content changes or an admin retries.
 */
import type { Kysely } from "kysely";
import { newRecordId } from "../../credentials/index.js";
import type { Database } from "../../db/schema.js";
import type { Logger } from "../../logger.js";
import { CAPABILITY, hasCapability } from "../agents/capabilities.js";
import type { RemoteConfigState, RemoteConfigStatusReport } from "../agents/types.js";
import {
  type DeliveryPlanRow,
  type DeliveryRow,
  findDeliveriesForAgents,
  supersedeOthers,
  upsertDeliveries,
} from "../deliveries/repository.js";
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
  /**
   * Agents whose config could not be rendered because a secret could not be decrypted now (KMS
   * down or throttling): nothing was sent (fail closed); try them again after this many seconds.
   */
  retryAfter: Map<string, number>;
}

const CHUNK = 1000;

export class ConfigPlanner {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly desired: DesiredConfigs,
    private readonly logger: Logger,
  ) {}

  /** Forget cached assignments of a tenant (a config change happened). */
  invalidate(tenantId: string): void {
    this.desired.invalidate(tenantId);
  }

  /** Plans (and records) deliveries for connected agents of one tenant; returns the offers to send. */
  async plan(tenantId: string, facts: readonly AgentSessionFacts[]): Promise<PlanResult> {
    const result: PlanResult = { offers: new Map(), retryAfter: new Map() };
    const eligible = facts.filter(
      (f) => f.mayReceiveConfig && hasCapability(f.capabilities, CAPABILITY.AcceptsRemoteConfig),
    );
    for (let i = 0; i < eligible.length; i += CHUNK) {
      await this.#planChunk(tenantId, eligible.slice(i, i + CHUNK), result);
    }
    return result;
  }

  async #planChunk(tenantId: string, facts: readonly AgentSessionFacts[], result: PlanResult) {
    const { offers } = result;
    const rows = await this.db
      .selectFrom("agents")
      .select(["instance_uid", "labels", "description", "remote_config_status", "revoked_at"])
      .where("tenant_id", "=", tenantId)
      .where(
        "instance_uid",
        "in",
        facts.map((f) => f.instanceUid),
      )
      .execute();
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
    const desired = await this.desired.compute(tenantId, agents);
    const current: { instanceUid: string; hash: string }[] = [];
    for (const [uid, d] of desired)
      if (d.kind === "config" || d.kind === "render_failed") current.push({ instanceUid: uid, hash: d.hash });
    const existing = new Map<string, DeliveryRow>();
    for (const r of await findDeliveriesForAgents(this.db, tenantId, current))
      existing.set(r.instance_uid, r);
    // Only a config that goes (or went) to the agent supersedes its others: while the desired one
    // failed, the agent still runs the previous config, which stays applied.
    const superseding: { instanceUid: string; hash: string }[] = [];

    const plans: DeliveryPlanRow[] = [];
    for (const f of facts) {
      const d = desired.get(f.instanceUid);
      if (!d || (d.kind !== "config" && d.kind !== "render_failed")) continue;
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
    await supersedeOthers(this.db, tenantId, superseding);
    await upsertDeliveries(this.db, plans);
    if (plans.length > 0) {
      this.logger.debug({ tenantId, planned: plans.length, offered: offers.size }, "deliveries planned");
    }
  }
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
  if (d.kind === "render_failed")
    return { offer: false, status: "failed", error: `render failed: ${d.message}` };
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
  };
}
