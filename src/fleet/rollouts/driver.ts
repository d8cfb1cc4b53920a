/**
 * Drives rollouts, one replica per rollout: every tick (on the Clock) a replica takes or renews
 * the lease of the active rollouts nobody else holds (`FOR UPDATE SKIP LOCKED`, with an expiry),
 * then steps each one it holds: it reads the stored rollout and agent rows and what the agents
 * report (liveness, health, the delivery of the target), runs the state machine, and stores the
 * result with its audit rows and fleet events in one transaction. A replica that dies stops
 * renewing; when its lease expires another replica takes over from the stored state.
 */
import type { Clock, ClockTimer } from "../../clock.js";
import type { Db } from "../../db/types.js";
import type { Logger } from "../../logger.js";
import { SYSTEM_ACTOR } from "../actor.js";
import type { Liveness } from "../agents/liveness.js";
import type { AuditLog } from "../audit/service.js";
import type { FleetEvent } from "../events.js";
import { recordTransition } from "./effects.js";
import {
  claimRolloutLeases,
  listStepAgents,
  lockRollout,
  type ObservedAgentRow,
  observeRolloutAgents,
  releaseRolloutLeases,
  updateRollout,
  updateRolloutAgents,
} from "./repository.js";
import type { RolloutService } from "./service.js";
import { advance, type Observation } from "./state-machine.js";
import { agentColumns, coreOf, corePatch, stepAgentOf } from "./stored.js";

export interface RolloutDriverOptions {
  replicaId: string;
  /** How often the driver looks at its rollouts. */
  tickMs: number;
  /** A lease not renewed for this long is free for another replica. */
  leaseMs: number;
  stallMs: number;
}

const MAX_LEASES = 50;
const NOT_REPORTED: Observation = { online: false, healthy: null, delivery: "waiting" };

export class RolloutDriver {
  #timer: ClockTimer | undefined;
  /** A one-off look when a bake or stall timeout of a driven rollout ends (between ticks). */
  #wake: ClockTimer | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly db: Db,
    private readonly rollouts: RolloutService,
    private readonly audit: AuditLog,
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: RolloutDriverOptions,
  ) {}

  /** Starts ticking (again, after a stop). */
  start(): void {
    this.#stopped = false;
    this.#timer?.cancel();
    this.#timer = this.clock.setInterval(() => this.tick(), this.options.tickMs);
  }

  /** A FleetEventFeed subscriber: a rollout that changed is looked at now, not at the next tick. */
  onFleetEvent(event: FleetEvent): void {
    if (
      event.kind === "rollout.changed" &&
      (event.payload.state === "running" || event.payload.state === "paused")
    )
      void this.tick();
  }

  /** One pass over the rollouts this replica drives; concurrent calls coalesce into one more. */
  tick(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          await this.#pass();
        } catch (err) {
          this.logger.warn({ err }, "driving rollouts failed; the next tick retries");
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<void> {
    this.#wake?.cancel();
    this.#wake = undefined;
    let wakeAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const ids = await this.db
      .transaction()
      .execute((trx) =>
        claimRolloutLeases(
          trx,
          this.options.replicaId,
          new Date(now),
          new Date(now + this.options.leaseMs),
          MAX_LEASES,
        ),
      );
    for (const id of ids) {
      if (this.#stopped) return;
      const next = await this.#step(id);
      if (next !== undefined && next < wakeAt) wakeAt = next;
    }
    // A wave's end is judged when its last bake ends, not up to a tick later.
    if (Number.isFinite(wakeAt) && !this.#stopped && wakeAt - this.clock.now() < this.options.tickMs)
      this.#wake = this.clock.setTimeout(() => this.tick(), Math.max(0, wakeAt - this.clock.now()));
  }

  /** Steps one rollout; returns when the clock alone changes something next. */
  async #step(id: string): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await lockRollout(trx, id);
      // Another replica took it over (this one was too slow to renew), or it finished meanwhile.
      if (!row || row.lease_owner !== this.options.replicaId) return undefined;
      if (row.state !== "running" && row.state !== "paused") return undefined;
      const now = this.clock.now();
      const look = async (states: ("pending" | "in_progress")[]) =>
        new Map(
          (await observeRolloutAgents(trx, row, this.liveness.onlineSql(now), states)).map((o) => [
            o.instance_uid,
            observation(o),
          ]),
        );
      const agents = (await listStepAgents(trx, id)).map(stepAgentOf);
      const core = coreOf(row, this.options.stallMs);
      // Pending agents matter only to a step that admits (their liveness decides who): the
      // agents in flight are looked at first, and the pending ones only when the step asks for
      // one. The step is pure, so taking it again with both gives what one look at all would.
      let observed = await look(["in_progress"]);
      let askedPending = false;
      const inFlightOnly = (uid: string) => {
        const o = observed.get(uid);
        if (!o) askedPending = true;
        return o ?? NOT_REPORTED;
      };
      let step = advance(core, agents, inFlightOnly, now);
      if (askedPending) {
        observed = await look(["pending", "in_progress"]);
        step = advance(core, agents, (uid) => observed.get(uid) ?? NOT_REPORTED, now);
      }
      const at = new Date(now);
      await updateRolloutAgents(
        trx,
        id,
        step.changed.map((a) => agentColumns(a, at)),
      );
      await updateRollout(trx, id, corePatch(step.rollout, at));
      if (step.admitted.length === 0 && step.transition === undefined) return step.wakeAt;
      const names = await this.rollouts.names(trx, row);
      const action =
        step.transition === "completed"
          ? "rollout.complete"
          : step.transition === "paused"
            ? "rollout.pause"
            : step.transition === "wave"
              ? "rollout.wave"
              : "rollout.admit";
      await recordTransition(
        trx,
        this.audit,
        { actor: SYSTEM_ACTOR, requestId: `rollout-driver:${this.options.replicaId}` },
        row,
        names,
        {
          action,
          core: step.rollout,
          instanceUids: step.admitted,
          details: { wave: step.rollout.currentWave },
        },
      );
      if (step.transition)
        this.logger.info(
          {
            tenantId: row.tenant_id,
            rolloutId: id,
            transition: step.transition,
            wave: step.rollout.currentWave,
            reason: step.rollout.reason,
          },
          "rollout transition",
        );
      return step.wakeAt;
    });
  }

  /** Stops ticking; `releaseLeases` hands this replica's rollouts over at once (a clean stop). */
  async stop(opts: { releaseLeases: boolean } = { releaseLeases: true }): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#wake?.cancel();
    await this.#running;
    if (opts.releaseLeases) await releaseRolloutLeases(this.db, this.options.replicaId);
  }
}

function observation(o: ObservedAgentRow): Observation {
  return {
    online: o.online,
    healthy: o.healthy,
    delivery:
      o.delivery_status === "applied" ? "applied" : o.delivery_status === "failed" ? "failed" : "waiting",
    error: o.delivery_error,
    appliedAt: o.delivery_applied_ms,
  };
}
