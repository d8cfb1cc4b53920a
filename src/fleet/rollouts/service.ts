/**
 * Rollouts as the admin sees them: start one (explicitly, or from an assignment's default
 * strategy when its revision changes), list and read them with their agents, pause, resume and
 * abort. Each verb is one transaction holding the rollout row's lock, with its audit row and
 * fleet events; the driver (driver.ts) does the rest on the Clock.
 */
import { createHash } from "node:crypto";
import type { Clock } from "../../clock.js";
import { newRecordId } from "../../credentials/index.js";
import type { RolloutAgentStateColumn, RolloutStateColumn } from "../../db/schema.js";
import type { Db, Tx } from "../../db/types.js";
import { ConflictError, NotFoundError, UnprocessableError } from "../../errors.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import { findAgentDrift } from "../agents/drift-repository.js";
import { listAgentsForMatching } from "../agents/repository.js";
import type { AuditLog } from "../audit/service.js";
import { attributesOf } from "../configs/desired.js";
import {
  type AssignmentRow,
  findAssignment,
  findRevision,
  findRevisionById,
  findTemplate,
  listAssignments,
  type RevisionRow,
} from "../configs/repository.js";
import { resolveAssignment } from "../configs/resolve.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import { matchesSelector, parseSelector } from "../selector.js";
import { type RolloutNames, recordTransition } from "./effects.js";
import {
  countDriftedRolloutAgents,
  countRolloutAgents,
  findRollout,
  insertRollout,
  insertRolloutAgents,
  listRolloutAgents,
  listRollouts,
  lockActiveRollout,
  lockRollout,
  type RolloutRow,
  updateRollout,
  updateRolloutAgents,
} from "./repository.js";
import * as machine from "./state-machine.js";
import {
  agentColumns,
  agentOf,
  coreOf,
  corePatch,
  type RolloutAgentView,
  type RolloutView,
  rolloutAgentView,
  rolloutView,
} from "./stored.js";
import { agentsOf, parseStrategy, type RolloutStrategy, waveTargets } from "./strategy.js";

export interface StartRolloutInput {
  assignment: string;
  revision: number;
  strategy?: unknown;
  /** Supersede a running or paused rollout of the same assignment instead of refusing (409). */
  supersede?: boolean;
}

const uidHash = (uid: string) => createHash("sha256").update(uid).digest("hex");

export class RolloutService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly stallMs: number,
  ) {}

  /** POST …/rollouts. Editor. */
  async create(meta: RequestMeta, tenantId: string, input: StartRolloutInput): Promise<RolloutView> {
    scopeToTenant(meta.actor, tenantId);
    const strategy = parseStrategy(input.strategy);
    const id = await this.db.transaction().execute(async (trx) => {
      const assignment = await findAssignment(trx, tenantId, input.assignment);
      if (!assignment) throw new NotFoundError("assignment");
      const to = await findRevision(trx, assignment.template_id, input.revision);
      if (!to)
        throw new UnprocessableError("the rollout names a revision that does not exist", [
          {
            path: "revision",
            message: `template "${assignment.template_name}" has no revision ${input.revision}`,
          },
        ]);
      return this.startInTransaction(trx, meta, assignment, to, strategy, {
        supersede: input.supersede ?? false,
      });
    });
    return this.get(meta.actor, tenantId, id);
  }

  /**
   * Starts a rollout of `assignment` to `to` inside the caller's transaction (the REST verb, a
   * revision of a template whose `latest` assignment has a default strategy, a new pinned
   * revision). `from` is what the assignment means now unless a superseded rollout says otherwise.
   */
  async startInTransaction(
    trx: Tx,
    meta: RequestMeta,
    assignment: AssignmentRow,
    to: RevisionRow,
    strategy: RolloutStrategy,
    opts: { supersede: boolean; from?: RevisionRow | undefined },
  ): Promise<string> {
    const tenantId = assignment.tenant_id;
    const active = await lockActiveRollout(trx, assignment.id);
    if (active && !opts.supersede)
      throw new ConflictError(`assignment "${assignment.name}" already has a ${active.state} rollout`, {
        rolloutId: active.id,
      });
    let from = opts.from;
    if (active) from = await findRevisionById(trx, active.from_revision_id);
    if (!from) {
      const template = await findTemplate(trx, tenantId, (await this.#templateName(trx, assignment)) ?? "");
      from = template
        ? await findRevision(trx, template.id, assignment.revision_version ?? template.latest_version)
        : undefined;
    }
    if (!from) throw new UnprocessableError("the assignment has no revision to roll out from", []);
    if (from.id === to.id)
      throw new UnprocessableError("the assignment is already at this revision", [
        { path: "revision", message: `the assignment already runs revision ${to.version}` },
      ]);
    const now = this.clock.date();
    const id = newRecordId("rol");
    // Agents the superseded rollout gave its target keep it until this one admits them.
    const holds = new Map<string, string>();
    if (active) {
      for (const a of await listRolloutAgents(trx, { rolloutId: active.id }))
        if (machine.isAdmitted(a.state)) holds.set(a.instance_uid, active.to_revision_id);
      await this.#supersede(trx, meta, active, id);
    }
    const population = await this.#population(trx, tenantId, assignment.id);
    const canarySelector = strategy.canarySelector ? parseSelector(strategy.canarySelector) : undefined;
    const ordered = population
      .map((p) => ({
        ...p,
        canaryMatch: canarySelector ? matchesSelector(canarySelector, p.labels) : false,
        hash: uidHash(p.uid),
      }))
      .sort(
        (a, b) =>
          Number(b.canaryMatch) - Number(a.canaryMatch) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0),
      );
    const n = ordered.length;
    const canaryAgents = canarySelector
      ? ordered.filter((p) => p.canaryMatch).length
      : agentsOf(strategy.canary, n, "ceil");
    await insertRollout(trx, {
      id,
      tenant_id: tenantId,
      assignment_id: assignment.id,
      from_revision_id: from.id,
      to_revision_id: to.id,
      state: "running",
      strategy: JSON.stringify(strategy),
      waves: JSON.stringify(waveTargets(strategy, n, canaryAgents)),
      wave_started_at: now,
      failure_budget: agentsOf(strategy.maxFailures, n, "floor"),
      population: n,
      created_by: meta.actor.id,
      created_at: now,
      updated_at: now,
    });
    await insertRolloutAgents(
      trx,
      ordered.map((p, position) => ({
        rollout_id: id,
        tenant_id: tenantId,
        instance_uid: p.uid,
        position,
        canary: position < canaryAgents,
        state: "pending",
        hold_revision_id: holds.get(p.uid) ?? null,
        updated_at: now,
      })),
    );
    const row = await lockRollout(trx, id);
    if (!row) throw new NotFoundError("rollout");
    await recordTransition(trx, this.audit, meta, row, await this.names(trx, row), {
      action: "rollout.start",
      core: coreOf(row, this.stallMs),
      details: { population: n, canary: canaryAgents, ...(active ? { supersedes: active.id } : {}) },
    });
    return id;
  }

  async #templateName(trx: Tx, a: AssignmentRow): Promise<string | undefined> {
    return (await findAssignment(trx, a.tenant_id, a.name))?.template_name;
  }

  /** The agents the assignment selects now (it wins their resolution, or is an overlay over their base) that accept remote config. */
  async #population(trx: Tx, tenantId: string, assignmentId: string) {
    const candidates = (await listAssignments(trx, tenantId)).map((a) => ({
      id: a.id,
      name: a.name,
      priority: a.priority,
      selector: parseSelector(a.selector),
      matchReportedAttributes: a.match_reported_attributes,
      layer: a.layer,
    }));
    const out: { uid: string; labels: Record<string, string> }[] = [];
    for (const agent of await listAgentsForMatching(trx, tenantId)) {
      if (!hasCapability(BigInt(agent.capabilities), AgentCapability.AcceptsRemoteConfig)) continue;
      const { winner, overlays } = resolveAssignment(
        candidates,
        agent.labels,
        attributesOf(agent.description),
      );
      // An overlay applies only over a base: an agent without one gets nothing from it.
      const applies = winner?.id === assignmentId || (winner && overlays.some((o) => o.id === assignmentId));
      if (applies) out.push({ uid: agent.instance_uid, labels: agent.labels });
    }
    return out;
  }

  async #supersede(trx: Tx, meta: RequestMeta, row: RolloutRow, by: string): Promise<void> {
    const core = machine.supersede(coreOf(row, this.stallMs), `superseded by ${by}`);
    await this.#store(trx, row, core, []);
    await recordTransition(trx, this.audit, meta, row, await this.names(trx, row), {
      action: "rollout.supersede",
      core,
    });
  }

  /** The names and versions a rollout's audit rows and assignment updates need. */
  async names(trx: Tx, row: RolloutRow): Promise<RolloutNames> {
    const detail = await findRollout(trx, row.tenant_id, row.id);
    const assignment = detail && (await findAssignment(trx, row.tenant_id, detail.assignment_name));
    const template = assignment && (await findTemplate(trx, row.tenant_id, assignment.template_name));
    if (!detail || !assignment || !template) throw new NotFoundError("rollout");
    return {
      assignment: detail.assignment_name,
      fromVersion: detail.from_version,
      toVersion: detail.to_version,
      assignmentRevision: assignment.revision_version,
      latestVersion: template.latest_version,
    };
  }

  async #store(trx: Tx, row: RolloutRow, core: machine.RolloutCore, changed: machine.RolloutAgent[]) {
    const now = this.clock.date();
    await updateRollout(trx, row.id, corePatch(core, now));
    await updateRolloutAgents(
      trx,
      row.id,
      changed.map((a) => agentColumns(a, now)),
    );
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { cursor?: string; limit: number; state?: RolloutStateColumn; assignment?: string },
  ): Promise<Page<RolloutView>> {
    scopeToTenant(actor, tenantId);
    const before = opts.cursor ? decodeCursor(opts.cursor, CURSORS.rollouts) : undefined;
    let assignmentId: string | undefined;
    if (opts.assignment) {
      const a = await findAssignment(this.db, tenantId, opts.assignment);
      if (!a) return { items: [], nextCursor: null };
      assignmentId = a.id;
    }
    const rows = await listRollouts(this.db, {
      tenantId,
      state: opts.state,
      assignmentId,
      before: before ? { createdAt: before[0], id: before[1] } : undefined,
      limit: opts.limit + 1,
    });
    const counts = await this.#counts(rows.map((r) => r.id));
    return toPage(
      rows,
      opts.limit,
      CURSORS.rollouts,
      (r) => [r.created_at.toISOString(), r.id],
      (r) => rolloutView(r, counts.get(r.id) ?? { ...machine.countAgents([]), drifted: 0 }),
    );
  }

  async #counts(ids: string[]): Promise<Map<string, machine.Counts & { drifted: number }>> {
    const [byState, drifted] = await Promise.all([
      countRolloutAgents(this.db, ids),
      countDriftedRolloutAgents(this.db, ids),
    ]);
    const groups = new Map<string, { state: RolloutAgentStateColumn; n: number }[]>();
    for (const r of byState) groups.set(r.rollout_id, [...(groups.get(r.rollout_id) ?? []), r]);
    const driftedOf = new Map(drifted.map((d) => [d.rollout_id, d.n]));
    return new Map(
      [...groups].map(([id, list]) => [
        id,
        { ...machine.countAgents(list), drifted: driftedOf.get(id) ?? 0 },
      ]),
    );
  }

  async get(actor: Actor, tenantId: string, id: string): Promise<RolloutView> {
    scopeToTenant(actor, tenantId);
    const row = await findRollout(this.db, tenantId, id);
    if (!row) throw new NotFoundError("rollout");
    return rolloutView(row, (await this.#counts([id])).get(id) ?? { ...machine.countAgents([]), drifted: 0 });
  }

  async agents(
    actor: Actor,
    tenantId: string,
    id: string,
    opts: { cursor?: string; limit: number; state?: RolloutAgentStateColumn },
  ): Promise<Page<RolloutAgentView>> {
    scopeToTenant(actor, tenantId);
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.rolloutAgents)[0] : undefined;
    if (!(await findRollout(this.db, tenantId, id))) throw new NotFoundError("rollout");
    const rows = await listRolloutAgents(this.db, {
      rolloutId: id,
      state: opts.state,
      afterPosition: after,
      limit: opts.limit + 1,
    });
    const drift = new Map(
      (
        await findAgentDrift(
          this.db,
          tenantId,
          rows.map((r) => r.instance_uid),
        )
      ).map((d) => [d.instance_uid, d.drift]),
    );
    return toPage(
      rows,
      opts.limit,
      CURSORS.rolloutAgents,
      (r) => [r.position],
      (r) => rolloutAgentView(r, drift.get(r.instance_uid) ?? null),
    );
  }

  /** pause | resume | abort. Editor; 409 when the rollout's state does not allow it. */
  async act(
    meta: RequestMeta,
    tenantId: string,
    id: string,
    verb: "pause" | "resume" | "abort",
  ): Promise<RolloutView> {
    scopeToTenant(meta.actor, tenantId);
    await this.db.transaction().execute(async (trx) => {
      const found = await findRollout(trx, tenantId, id);
      const row = found && (await lockRollout(trx, id));
      if (!row) throw new NotFoundError("rollout");
      const core = coreOf(row, this.stallMs);
      const agents = (await listRolloutAgents(trx, { rolloutId: id })).map(agentOf);
      const by = `${meta.actor.type}:${meta.actor.id}`;
      try {
        if (verb === "pause") {
          const next = machine.pause(core, machine.manualPauseReason(by));
          await this.#store(trx, row, next, []);
          await recordTransition(trx, this.audit, meta, row, await this.names(trx, row), {
            action: "rollout.pause",
            core: next,
          });
        } else if (verb === "resume") {
          const next = machine.resume(core, agents);
          await this.#store(trx, row, next, []);
          await recordTransition(trx, this.audit, meta, row, await this.names(trx, row), {
            action: "rollout.resume",
            core: next,
          });
        } else {
          const out = machine.abort(core, agents, this.clock.now(), `aborted by ${by}`);
          const names = await this.names(trx, row);
          await this.#store(trx, row, out.rollout, out.changed);
          await recordTransition(trx, this.audit, meta, row, names, {
            action: "rollout.abort",
            core: out.rollout,
            instanceUids: out.returned,
          });
        }
      } catch (err) {
        if (err instanceof machine.TransitionError)
          throw new ConflictError(err.message, { state: core.state });
        throw err;
      }
    });
    return this.get(meta.actor, tenantId, id);
  }
}
