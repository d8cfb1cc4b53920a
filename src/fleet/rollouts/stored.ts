/**
 * Between stored rows and the state machine's values, and the views the API shows. Pure.
 */
import type { RolloutAgentStateColumn } from "../../db/schema.js";
import type { RolloutAgentRow, RolloutDetailRow, RolloutRow, StepAgentRow } from "./repository.js";
import { type Counts, countAgents, type RolloutAgent, type RolloutCore } from "./state-machine.js";
import type { RolloutStrategy } from "./strategy.js";

const ms = (d: Date | null) => (d ? d.getTime() : null);
const date = (n: number | null) => (n === null ? null : new Date(n));
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function coreOf(row: RolloutRow, stallMs: number): RolloutCore {
  const strategy = row.strategy as RolloutStrategy;
  return {
    state: row.state,
    reason: row.reason,
    waves: row.waves,
    currentWave: row.current_wave,
    waveStartedAt: row.wave_started_at.getTime(),
    bakeMs: strategy.bakeSeconds * 1000,
    stallMs,
    failureBudget: row.failure_budget,
    acknowledgedFailures: row.acknowledged_failures,
  };
}

/** The columns of the rollout row a transition changes. */
export function corePatch(core: RolloutCore, now: Date) {
  const finished = core.state === "completed" || core.state === "aborted" || core.state === "superseded";
  return {
    state: core.state,
    reason: core.reason,
    current_wave: core.currentWave,
    wave_started_at: new Date(core.waveStartedAt),
    acknowledged_failures: core.acknowledgedFailures,
    updated_at: now,
    ...(finished ? { finished_at: now, lease_owner: null, lease_expires_at: null } : {}),
  };
}

export function agentOf(row: RolloutAgentRow): RolloutAgent {
  return stepAgentOf({
    ...row,
    admitted_ms: ms(row.admitted_at),
    applied_ms: ms(row.applied_at),
    finished_ms: ms(row.finished_at),
  });
}

export function stepAgentOf(row: StepAgentRow): RolloutAgent {
  return {
    uid: row.instance_uid,
    position: row.position,
    canary: row.canary,
    state: row.state,
    reason: row.reason,
    admittedAt: row.admitted_ms,
    appliedAt: row.applied_ms,
    finishedAt: row.finished_ms,
  };
}

export function agentColumns(a: RolloutAgent, now: Date) {
  return {
    instance_uid: a.uid,
    state: a.state as RolloutAgentStateColumn,
    reason: a.reason,
    admitted_at: date(a.admittedAt),
    applied_at: date(a.appliedAt),
    finished_at: date(a.finishedAt),
    updated_at: now,
  };
}

export interface RolloutView {
  id: string;
  assignment: string;
  template: string;
  fromRevision: number;
  toRevision: number;
  state: RolloutCore["state"];
  reason: string | null;
  strategy: RolloutStrategy;
  /** 0 while the canary goes, then the wave number (1-based). */
  currentWave: number;
  /** Cumulative admitted-agent targets: canary, then each wave. */
  waveTargets: number[];
  population: number;
  /** The state machine's counts, and the population's agents that drift (docs/drift.md). */
  counts: Counts & { drifted: number };
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export function rolloutView(row: RolloutDetailRow, counts: Counts & { drifted: number }): RolloutView {
  return {
    id: row.id,
    assignment: row.assignment_name,
    template: row.template_name,
    fromRevision: row.from_version,
    toRevision: row.to_version,
    state: row.state,
    reason: row.reason,
    strategy: row.strategy as RolloutStrategy,
    currentWave: row.current_wave,
    waveTargets: row.waves,
    population: row.population,
    counts,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    finishedAt: iso(row.finished_at),
  };
}

export interface RolloutAgentView {
  instanceUid: string;
  position: number;
  canary: boolean;
  state: RolloutAgentStateColumn;
  reason: string | null;
  admittedAt: string | null;
  appliedAt: string | null;
  finishedAt: string | null;
  /** The agent runs another config than it should (null: not known). */
  drift: boolean | null;
}

export function rolloutAgentView(r: RolloutAgentRow, drift: boolean | null): RolloutAgentView {
  return {
    instanceUid: r.instance_uid,
    position: r.position,
    canary: r.canary,
    state: r.state,
    reason: r.reason,
    admittedAt: iso(r.admitted_at),
    appliedAt: iso(r.applied_at),
    finishedAt: iso(r.finished_at),
    drift,
  };
}

export const emptyCounts = (): Counts => countAgents([]);
