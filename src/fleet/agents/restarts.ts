/**
 * Remote restart (OpAMP `ServerToAgentCommand` Restart): an admin asks one agent, or every agent a
 * selector matches, to restart its collector. The request is one transaction (the restart columns,
 * the audit row and a fleet event); the replica holding each agent sends the command when it reads
 * the event (opamp/server.ts), so it works whichever replica the admin call lands on.
 *
 * Rules:
 * - Only agents that report AcceptsRestartCommand and are online now are asked; for one agent
 *   anything else is a 409 with the reason and nothing is sent or stored.
 * - Many agents are asked at `perSecond`: the n-th gets the command n / perSecond seconds after
 *   the request, so a fleet-wide restart does not stop every collector's telemetry at once.
 * - The agent came back when it reports a health start time other than the one it had reported
 *   when asked (stored with the request; see RESTART_COMPLETED in session-repository.ts).
 */
import type { Clock } from "../../clock.js";
import type { Db, Tx } from "../../db/types.js";
import { ConflictError, NotFoundError } from "../../errors.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";
import { type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { publishFleetEvent } from "../events.js";
import { parseSelectorInput } from "../selector.js";
import type { Liveness } from "./liveness.js";
import { type AgentListRow, findAgent, listAgents, lockAgent, markRestartRequested } from "./repository.js";

/** Why an agent cannot be asked to restart now, or null when it can. */
export type RestartRefusal = "revoked" | "no_restart_capability" | "not_connected";

const REFUSALS: Record<RestartRefusal, string> = {
  revoked: "the agent is revoked",
  no_restart_capability:
    "the agent does not accept restart commands (it does not report the AcceptsRestartCommand capability)",
  not_connected: "the agent is not connected; a restart command can only be sent on a live connection",
};

export interface RestartRequested {
  instanceUid: string;
  restart: { requestedAt: string; completedAt: null };
}

export interface RestartsRequested {
  /** Agents the command is sent to. */
  requested: number;
  /** Matching agents that were not asked, by reason. */
  skipped: { revoked: number; noRestartCapability: number; notConnected: number };
  /** The pace of the commands, and how long until the last one is sent. */
  perSecond: number;
  spreadSeconds: number;
}

/** Agents read per page while a selector is resolved. */
const PAGE = 1000;

export class AgentRestarts {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    /** The pace of restarts requested for many agents at once. */
    private readonly perSecond: number,
  ) {}

  #refusal(row: AgentListRow, now: number): RestartRefusal | null {
    if (row.revoked_at) return "revoked";
    if (!hasCapability(BigInt(row.capabilities), AgentCapability.AcceptsRestartCommand))
      return "no_restart_capability";
    if (this.liveness.statusOf(row, now) !== "online") return "not_connected";
    return null;
  }

  /**
   * Asks one agent to restart.
   * @throws NotFoundError when there is no such agent; ConflictError (409) with the reason when it
   *   cannot take the command now (nothing is sent or stored then).
   */
  async restart(meta: RequestMeta, tenantId: string, instanceUid: string): Promise<RestartRequested> {
    scopeToTenant(meta.actor, tenantId);
    const ref = { tenantId, instanceUid };
    const at = this.clock.date();
    await this.db.transaction().execute(async (trx) => {
      if (!(await lockAgent(trx, ref))) throw new NotFoundError("agent");
      const row = await findAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      const refusal = this.#refusal(row, at.getTime());
      if (refusal) throw new ConflictError(REFUSALS[refusal], { reason: refusal });
      await this.#request(trx, meta, tenantId, [instanceUid], at, {
        action: "agent.restart",
        targetType: "agent",
        targetId: instanceUid,
      });
    });
    return { instanceUid, restart: { requestedAt: at.toISOString(), completedAt: null } };
  }

  /**
   * Asks every agent of the tenant that `selector` matches (an empty selector: all of them) and
   * that can take the command now, paced at `perSecond`; the others are counted as skipped.
   * @throws UnprocessableError (422, with the column) on a selector syntax error.
   */
  async restartMany(meta: RequestMeta, tenantId: string, selector: string): Promise<RestartsRequested> {
    scopeToTenant(meta.actor, tenantId);
    const { requirements } = parseSelectorInput(selector);
    const at = this.clock.date();
    const now = at.getTime();
    const skipped = { revoked: 0, noRestartCapability: 0, notConnected: 0 };
    const chosen: string[] = [];
    await this.db.transaction().execute(async (trx) => {
      let afterUid: string | undefined;
      for (;;) {
        const rows = await listAgents(trx, {
          tenantId,
          requirements,
          afterUid,
          limit: PAGE,
          liveness: this.liveness,
          now,
        });
        for (const row of rows) {
          const refusal = this.#refusal(row, now);
          if (refusal === null) chosen.push(row.instance_uid);
          else if (refusal === "revoked") skipped.revoked++;
          else if (refusal === "no_restart_capability") skipped.noRestartCapability++;
          else skipped.notConnected++;
        }
        if (rows.length < PAGE) break;
        afterUid = rows[rows.length - 1]?.instance_uid;
      }
      await this.#request(trx, meta, tenantId, chosen, at, {
        action: "agent.restart_many",
        targetType: "tenant",
        targetId: tenantId,
        details: { selector, requested: chosen.length, skipped, perSecond: this.perSecond },
      });
    });
    return {
      requested: chosen.length,
      skipped,
      perSecond: this.perSecond,
      spreadSeconds: chosen.length > 1 ? (chosen.length - 1) / this.perSecond : 0,
    };
  }

  /** Stores the request, audits it and tells the replicas (nothing to send: audit only). */
  async #request(
    trx: Tx,
    meta: RequestMeta,
    tenantId: string,
    instanceUids: string[],
    at: Date,
    audit: { action: string; targetType: string; targetId: string; details?: Record<string, unknown> },
  ): Promise<void> {
    await markRestartRequested(trx, tenantId, instanceUids, at);
    await this.audit.record(trx, meta, { tenantId, ...audit });
    if (instanceUids.length === 0) return;
    await publishFleetEvent(trx, tenantId, "agent.restart_requested", {
      instanceUids,
      ...(instanceUids.length > 1 ? { perSecond: this.perSecond } : {}),
    });
  }
}
