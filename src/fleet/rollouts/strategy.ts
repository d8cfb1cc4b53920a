/**
 * A rollout strategy: how many agents go first (the canary), the cumulative waves after it, how
 * long each agent bakes, and how many failures the rollout tolerates. Checked here (plain code,
 * used by the REST route, the assignment default strategy and GitOps bundles alike), with every
 * problem named by its JSON path, and resolved against a population into wave sizes.
 */
import type { FieldIssue } from "../../errors.js";
import { UnprocessableError } from "../../errors.js";
import { parseSelectorInput } from "../selector.js";

/** A count of agents, or a share of the population ("25%"). */
export type Amount = number | `${number}%`;

export interface RolloutStrategy {
  /** Agents that go first, alone. */
  canary: Amount;
  /** Label selector of the canary agents (instead of the instance-uid hash order). */
  canarySelector?: string | undefined;
  /** Cumulative shares of the population after the canary; the last one is "100%". */
  waves: `${number}%`[];
  /** How long an agent must stay healthy and connected after APPLIED to count as succeeded. */
  bakeSeconds: number;
  /** Failures tolerated; one more pauses the rollout. */
  maxFailures: Amount;
}

export const DEFAULT_STRATEGY: RolloutStrategy = {
  canary: 1,
  waves: ["100%"],
  bakeSeconds: 60,
  maxFailures: 0,
};

const PERCENT = /^(\d{1,3}(?:\.\d+)?)%$/;
const MAX_BAKE_SECONDS = 7 * 24 * 3600;

function percentOf(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  const m = PERCENT.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= 0 && n <= 100 ? n : undefined;
}

function amountProblem(v: unknown): string | undefined {
  if (typeof v === "number")
    return Number.isInteger(v) && v >= 0 ? undefined : "a count must be an integer ≥ 0";
  if (percentOf(v) !== undefined) return undefined;
  return 'a count (integer ≥ 0) or a percentage ("10%")';
}

/** Every problem of a strategy given as JSON, with paths under `path`. */
export function strategyProblems(input: unknown, path = "strategy"): FieldIssue[] {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return [{ path, message: "an object" }];
  const s = input as Record<string, unknown>;
  const issues: FieldIssue[] = [];
  const known = new Set(["canary", "canarySelector", "waves", "bakeSeconds", "maxFailures"]);
  for (const key of Object.keys(s))
    if (!known.has(key)) issues.push({ path: `${path}.${key}`, message: "unknown field" });
  for (const key of ["canary", "maxFailures"] as const) {
    if (s[key] === undefined) continue;
    const problem = amountProblem(s[key]);
    if (problem) issues.push({ path: `${path}.${key}`, message: problem });
  }
  if (s.canarySelector !== undefined) {
    if (typeof s.canarySelector !== "string")
      issues.push({ path: `${path}.canarySelector`, message: "a label selector" });
    else {
      try {
        parseSelectorInput(s.canarySelector, `${path}.canarySelector`);
      } catch (err) {
        if (err instanceof UnprocessableError) issues.push(...(err.details.issues ?? []));
        else throw err;
      }
    }
  }
  if (s.waves !== undefined) {
    if (!Array.isArray(s.waves) || s.waves.length === 0 || s.waves.length > 20) {
      issues.push({
        path: `${path}.waves`,
        message: 'a list of 1 to 20 cumulative percentages ending at "100%"',
      });
    } else {
      let previous = 0;
      s.waves.forEach((w, i) => {
        const p = percentOf(w);
        if (p === undefined || p === 0)
          issues.push({ path: `${path}.waves[${i}]`, message: 'a percentage above 0 ("25%")' });
        else if (p <= previous)
          issues.push({
            path: `${path}.waves[${i}]`,
            message: "waves are cumulative: each above the one before",
          });
        else previous = p;
      });
      if (percentOf(s.waves.at(-1)) !== 100)
        issues.push({ path: `${path}.waves`, message: 'the last wave must be "100%"' });
    }
  }
  if (s.bakeSeconds !== undefined) {
    const b = s.bakeSeconds;
    if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > MAX_BAKE_SECONDS)
      issues.push({ path: `${path}.bakeSeconds`, message: `an integer from 0 to ${MAX_BAKE_SECONDS}` });
  }
  return issues;
}

/** The strategy with defaults filled in; 422 naming every problem's path. */
export function parseStrategy(input: unknown, path = "strategy"): RolloutStrategy {
  const issues = strategyProblems(input ?? {}, path);
  if (issues.length > 0) throw new UnprocessableError("invalid rollout strategy", issues);
  const s = (input ?? {}) as Partial<RolloutStrategy>;
  return {
    canary: s.canary ?? DEFAULT_STRATEGY.canary,
    ...(s.canarySelector !== undefined ? { canarySelector: s.canarySelector } : {}),
    waves: s.waves ?? DEFAULT_STRATEGY.waves,
    bakeSeconds: s.bakeSeconds ?? DEFAULT_STRATEGY.bakeSeconds,
    maxFailures: s.maxFailures ?? DEFAULT_STRATEGY.maxFailures,
  };
}

/** An amount in agents: a percentage of `population`, rounded up (`ceil`) or down. */
export function agentsOf(amount: Amount, population: number, rounding: "ceil" | "floor"): number {
  if (typeof amount === "number") return Math.min(amount, population);
  const p = percentOf(amount) ?? 0;
  const exact = (p * population) / 100;
  return Math.min(population, rounding === "ceil" ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9));
}

/**
 * The cumulative number of agents each wave may have admitted: index 0 is the canary, then one
 * entry per wave (each at least the one before, the last the whole population).
 */
export function waveTargets(strategy: RolloutStrategy, population: number, canaryAgents: number): number[] {
  const out = [canaryAgents];
  for (const w of strategy.waves) out.push(Math.max(out.at(-1) ?? 0, agentsOf(w, population, "ceil")));
  out[out.length - 1] = population;
  return out;
}
