/**
 * The rollout state machine, as pure code: given a rollout, its agents, what each agent looks
 * like now (the Observation) and the time, `advance` says what changes: agents that succeed or
 * fail, the rollout pausing itself, waves moving on, agents admitted to the target, completion.
 * Admin verbs (`pause`, `resume`, `abort`, `supersede`) are transitions here too. Nothing here
 * reads a clock or a database: the driver (driver.ts) feeds it stored state and stores the result.
 *
 * Rules (issue 12):
 * - Agents are admitted in `position` order (canary first); the canary wave admits canary agents
 *   only. At most `waves[currentWave]` agents are ever admitted (cumulative).
 * - An admitted agent succeeds when it reported APPLIED for the target and stayed healthy and
 *   connected for the bake; it fails on FAILED, on turning unhealthy or disconnecting before
 *   that, or on no APPLIED within the stall timeout.
 * - More failures (since the last resume) than the budget pause the rollout at once; a paused
 *   rollout admits nobody, but keeps judging the agents already admitted.
 * - A wave ends when every agent it admitted succeeded or failed, nobody online is left to admit
 *   under its target, and (if it admitted anyone) the bake has passed since it started.
 * - Offline agents are skipped (stay pending, reason "offline"); they get the target with the
 *   assignment when the rollout completes.
 */

export type RolloutState = "running" | "paused" | "completed" | "aborted" | "superseded";

/** How the reason of an operator's pause starts; any other paused rollout paused itself. */
export const MANUAL_PAUSE_PREFIX = "paused by ";

/** The reason stored when `by` (an actor, as `type:id`) pauses a rollout. */
export function manualPauseReason(by: string): string {
  return `${MANUAL_PAUSE_PREFIX}${by}`;
}
export type AgentRolloutState = "pending" | "in_progress" | "succeeded" | "failed" | "rolled_back";

/** The rollout's own state (times in epoch milliseconds). */
export interface RolloutCore {
  state: RolloutState;
  reason: string | null;
  /** Cumulative admitted-agent targets: index 0 the canary, the last the whole population. */
  waves: number[];
  currentWave: number;
  waveStartedAt: number;
  bakeMs: number;
  /** An admitted agent with no APPLIED or FAILED after this long fails. */
  stallMs: number;
  /** Failures tolerated since the last resume. */
  failureBudget: number;
  /** Failures an admin accepted by resuming: they no longer count against the budget. */
  acknowledgedFailures: number;
}

export interface RolloutAgent {
  uid: string;
  position: number;
  canary: boolean;
  state: AgentRolloutState;
  reason: string | null;
  admittedAt: number | null;
  /** When APPLIED for the target was first seen: the bake starts. */
  appliedAt: number | null;
  finishedAt: number | null;
}

/** What an agent looks like now. */
export interface Observation {
  online: boolean;
  /** The agent's last reported health; null before any report. */
  healthy: boolean | null;
  /** Its delivery of the target: applied, failed (with the error), or not yet either. */
  delivery: "applied" | "failed" | "waiting";
  error?: string | null | undefined;
  /** When its delivery of the target turned applied, if known (the bake starts then, not at the look). */
  appliedAt?: number | null | undefined;
}

export interface Advance {
  rollout: RolloutCore;
  /** Agents whose state or reason changed (new objects; the inputs are not mutated). */
  changed: RolloutAgent[];
  /** Agents that get the target now. */
  admitted: string[];
  /** The rollout paused itself or completed in this step. */
  transition?: "paused" | "completed" | "wave" | undefined;
  /**
   * The next time at which the clock alone changes something (a bake ends, a stall timeout
   * passes), given the same observations; undefined when only a report can. The driver looks
   * again then, not at its next periodic tick.
   */
  wakeAt?: number | undefined;
}

export const isAdmitted = (s: AgentRolloutState) =>
  s === "in_progress" || s === "succeeded" || s === "failed";
const OFFLINE = "offline";

export interface Counts {
  pending: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  rolledBack: number;
}

/** Counts agents by state; an entry with `n` stands for that many agents (a grouped count). */
export function countAgents(agents: Iterable<{ state: AgentRolloutState; n?: number }>): Counts {
  const c: Counts = { pending: 0, inProgress: 0, succeeded: 0, failed: 0, rolledBack: 0 };
  for (const a of agents) {
    const n = a.n ?? 1;
    if (a.state === "pending") c.pending += n;
    else if (a.state === "in_progress") c.inProgress += n;
    else if (a.state === "succeeded") c.succeeded += n;
    else if (a.state === "failed") c.failed += n;
    else c.rolledBack += n;
  }
  return c;
}

/** Judges one admitted agent; returns the new state and reason, or undefined when unchanged. */
function judge(
  a: RolloutAgent,
  o: Observation,
  r: RolloutCore,
  now: number,
): Partial<RolloutAgent> | undefined {
  if (o.delivery === "failed")
    return {
      state: "failed",
      reason: `the agent reported FAILED${o.error ? `: ${o.error}` : ""}`,
      finishedAt: now,
    };
  if (!o.online) return { state: "failed", reason: "disconnected before the bake ended", finishedAt: now };
  if (o.delivery === "applied") {
    // The bake runs from when the agent applied the target (never before it was admitted, never in
    // the future), not from when this look happened to see it: looks are a second apart.
    const reported = o.appliedAt ?? now;
    const appliedAt = a.appliedAt ?? Math.min(now, Math.max(a.admittedAt ?? reported, reported));
    // Health is judged from the look after APPLIED was first seen: the supervisor reports APPLIED
    // once the collector is healthy, but the health report may come in a message of its own.
    if (o.healthy === false && a.appliedAt !== null)
      return { state: "failed", reason: "unhealthy before the bake ended", appliedAt, finishedAt: now };
    if (now - appliedAt >= r.bakeMs) return { state: "succeeded", reason: null, appliedAt, finishedAt: now };
    return a.appliedAt === null ? { appliedAt } : undefined;
  }
  if (a.admittedAt !== null && now - a.admittedAt >= r.stallMs)
    return {
      state: "failed",
      reason: `no APPLIED within the stall timeout (${Math.round(r.stallMs / 1000)} s)`,
      finishedAt: now,
    };
  return undefined;
}

/** One step of a running or paused rollout at `now`. */
export function advance(
  rollout: RolloutCore,
  agents: readonly RolloutAgent[],
  observe: (uid: string) => Observation,
  now: number,
): Advance {
  const r: RolloutCore = { ...rollout };
  const changed = new Map<string, RolloutAgent>();
  const result: Advance = { rollout: r, changed: [], admitted: [] };
  const current = agents.map((a) => a);
  const done = (): Advance => ({
    ...result,
    changed: [...changed.values()],
    wakeAt: r.state === "running" || r.state === "paused" ? nextWake(r, current, now) : undefined,
  });
  if (r.state !== "running" && r.state !== "paused") return done();
  const update = (i: number, patch: Partial<RolloutAgent>) => {
    const next = { ...(current[i] as RolloutAgent), ...patch };
    current[i] = next;
    changed.set(next.uid, next);
  };

  current.forEach((a, i) => {
    if (a.state !== "in_progress") return;
    const patch = judge(a, observe(a.uid), r, now);
    if (patch) update(i, patch);
  });

  const failures = current.filter((a) => a.state === "failed");
  if (r.state === "running" && failures.length - r.acknowledgedFailures > r.failureBudget) {
    const last = failures.filter((a) => a.finishedAt === now).at(-1) ?? failures.at(-1);
    r.state = "paused";
    r.reason = `${failures.length - r.acknowledgedFailures} agent(s) failed, more than maxFailures (${r.failureBudget}); last: ${last?.uid}: ${last?.reason}`;
    result.transition = "paused";
  }
  if (r.state !== "running") return done();

  for (;;) {
    const target = r.waves[r.currentWave] ?? 0;
    let admittedCount = current.filter((a) => isAdmitted(a.state)).length;
    const canaryOnly = r.currentWave === 0;
    current.forEach((a, i) => {
      if (a.state !== "pending" || admittedCount >= target || (canaryOnly && !a.canary)) return;
      if (observe(a.uid).online) {
        update(i, { state: "in_progress", reason: null, admittedAt: now, appliedAt: null });
        result.admitted.push(a.uid);
        admittedCount++;
      } else if (a.reason !== OFFLINE) update(i, { reason: OFFLINE });
    });
    const inFlight = current.some((a) => a.state === "in_progress");
    const admittedThisWave = current.some((a) => a.admittedAt !== null && a.admittedAt >= r.waveStartedAt);
    const baked = !admittedThisWave || now - r.waveStartedAt >= r.bakeMs;
    if (inFlight || !baked) return done();
    if (r.currentWave >= r.waves.length - 1) {
      r.state = "completed";
      r.reason = null;
      result.transition = "completed";
      return done();
    }
    r.currentWave++;
    r.waveStartedAt = now;
    result.transition = "wave";
  }
}

/**
 * The earliest time after `now` at which an in-flight agent's bake or stall timeout ends; with
 * nobody in flight, when the current wave's bake does (a wave that admitted agents moves on no
 * sooner). An agent's bake never ends before its wave's: it was admitted after the wave began.
 */
function nextWake(r: RolloutCore, agents: readonly RolloutAgent[], now: number): number | undefined {
  let wake = Number.POSITIVE_INFINITY;
  let inFlight = false;
  let admittedThisWave = false;
  for (const a of agents) {
    if (a.admittedAt !== null && a.admittedAt >= r.waveStartedAt) admittedThisWave = true;
    if (a.state !== "in_progress") continue;
    inFlight = true;
    const at = a.appliedAt !== null ? a.appliedAt + r.bakeMs : (a.admittedAt ?? now) + r.stallMs;
    if (at > now && at < wake) wake = at;
  }
  const waveBaked = r.waveStartedAt + r.bakeMs;
  if (r.state === "running" && !inFlight && admittedThisWave && waveBaked > now) wake = waveBaked;
  return Number.isFinite(wake) ? wake : undefined;
}

/** An admin pause: a running rollout admits nobody until resumed. */
export function pause(r: RolloutCore, reason: string): RolloutCore {
  if (r.state !== "running") throw new TransitionError(`a ${r.state} rollout cannot be paused`);
  return { ...r, state: "paused", reason };
}

/** Resume: failures so far are accepted (they no longer count against the budget). */
export function resume(r: RolloutCore, agents: readonly RolloutAgent[]): RolloutCore {
  if (r.state !== "paused") throw new TransitionError(`a ${r.state} rollout cannot be resumed`);
  return {
    ...r,
    state: "running",
    reason: null,
    acknowledgedFailures: agents.filter((a) => a.state === "failed").length,
  };
}

/** Abort: every agent that got the target goes back to its previous revision. */
export function abort(
  r: RolloutCore,
  agents: readonly RolloutAgent[],
  now: number,
  reason: string,
): { rollout: RolloutCore; changed: RolloutAgent[]; returned: string[] } {
  if (r.state !== "running" && r.state !== "paused")
    throw new TransitionError(`a ${r.state} rollout cannot be aborted`);
  const changed = agents
    .filter((a) => isAdmitted(a.state))
    .map((a) => ({ ...a, state: "rolled_back" as const, reason, finishedAt: now }));
  return { rollout: { ...r, state: "aborted", reason }, changed, returned: changed.map((a) => a.uid) };
}

/** A newer rollout of the same assignment took over. */
export function supersede(r: RolloutCore, reason: string): RolloutCore {
  if (r.state !== "running" && r.state !== "paused")
    throw new TransitionError(`a ${r.state} rollout cannot be superseded`);
  return { ...r, state: "superseded", reason };
}

/** A transition the rollout's state does not allow (REST: 409). */
export class TransitionError extends Error {
  override readonly name = "TransitionError";
}
