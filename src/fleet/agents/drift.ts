/**
 * Drift (docs/drift.md): an agent drifts when the config it runs (the hash it last reported
 * APPLIED) is not the config it should run (the hash the planner last decided for it). The rule
 * itself is the generated column `agents.drift` (migration 20261202T170000Z-agent-drift), so the
 * list filter, the roll-up counts and this view read one fact; this module only words it.
 */
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";
import type { AgentListRow } from "./repository.js";

export interface DriftView {
  /** true: runs another config than it should; false: runs it; null: not known (see reason). */
  drift: boolean | null;
  /** Why it drifts, or why drift is not known; null when it runs what it should. */
  driftReason: string | null;
}

/** The columns the wording reads. */
export type DriftColumns = Pick<
  AgentListRow,
  | "drift"
  | "running_config_hash"
  | "running_template"
  | "running_version"
  | "desired_config_hash"
  | "desired_template"
  | "desired_version"
  | "desired_status"
  | "revoked_at"
  | "capabilities"
>;

/** A config as a human reads it: `fleet-base@3 (9c1d4e5f)`, or the short hash alone. */
function named(hash: string, template: string | null, version: number | null): string {
  const short = hash.slice(0, 8);
  return template !== null && version !== null ? `${template}@${version} (${short})` : short;
}

/** The drift of an agent row, with its reason. */
export function driftView(row: DriftColumns): DriftView {
  if (row.drift === true && row.desired_config_hash) {
    const should = named(row.desired_config_hash, row.desired_template, row.desired_version);
    const runs = row.running_config_hash
      ? `runs ${named(row.running_config_hash, row.running_template, row.running_version)}`
      : "runs no config of ours";
    const delivery = row.desired_status ? `; its delivery is ${row.desired_status}` : "";
    return { drift: true, driftReason: `${runs} but should run ${should}${delivery}` };
  }
  if (row.drift === false) return { drift: false, driftReason: null };
  return { drift: null, driftReason: unknownBecause(row) };
}

/** Why drift is not known: the same conditions, in the same order, as the generated column. */
function unknownBecause(row: DriftColumns): string {
  const caps = BigInt(row.capabilities);
  if (row.revoked_at) return "revoked: it gets no config";
  if (!hasCapability(caps, AgentCapability.AcceptsRemoteConfig)) return "it does not accept remote config";
  if (!hasCapability(caps, AgentCapability.ReportsEffectiveConfig))
    return "it does not report its effective config";
  return "no desired config: no assignment matches it, assignments conflict, or the config does not render or fit its build";
}
