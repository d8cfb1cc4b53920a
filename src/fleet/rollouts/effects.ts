/**
 * What a rollout transition does besides its own rows, inside the same transaction: the audit
 * row, the fleet events (agents admitted or returned get their config through the config pusher
 * on whichever replica holds them), and the assignment's revision on completion or abort.
 */
import type { Tx } from "../../db/types.js";
import type { RequestMeta } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { updateAssignment } from "../configs/repository.js";
import { publishFleetEvent } from "../events.js";
import type { RolloutRow } from "./repository.js";
import type { RolloutCore } from "./state-machine.js";

export interface RolloutNames {
  assignment: string;
  fromVersion: number;
  toVersion: number;
  /** The assignment's revision column now (null: it tracks the template's latest). */
  assignmentRevision: number | null;
  latestVersion: number;
}

/** Records a transition: audit row, fleet events, and the assignment's revision where needed. */
export async function recordTransition(
  trx: Tx,
  audit: AuditLog,
  meta: RequestMeta,
  row: RolloutRow,
  names: RolloutNames,
  transition: {
    action: string;
    core: RolloutCore;
    instanceUids?: string[];
    details?: Record<string, unknown>;
  },
): Promise<void> {
  const { core } = transition;
  const effective = names.assignmentRevision ?? names.latestVersion;
  if (core.state === "completed" && effective !== names.toVersion) {
    // Completion pins the assignment to the target (a `latest` assignment already at it stays so).
    await updateAssignment(trx, row.assignment_id, { revision_version: names.toVersion });
  }
  if (core.state === "aborted" && effective !== names.fromVersion) {
    // The assignment stays where it was before the rollout.
    await updateAssignment(trx, row.assignment_id, { revision_version: names.fromVersion });
  }
  await audit.record(trx, meta, {
    tenantId: row.tenant_id,
    action: transition.action,
    targetType: "rollout",
    targetId: row.id,
    details: {
      assignment: names.assignment,
      fromRevision: names.fromVersion,
      toRevision: names.toVersion,
      state: core.state,
      ...(core.reason ? { reason: core.reason } : {}),
      ...(transition.instanceUids ? { agents: transition.instanceUids.length } : {}),
      ...transition.details,
    },
  });
  await publishFleetEvent(trx, row.tenant_id, "rollout.changed", {
    rolloutId: row.id,
    assignment: names.assignment,
    state: core.state,
  });
  const everyone = core.state === "completed" || core.state === "aborted" || core.state === "superseded";
  if (everyone || (transition.instanceUids && transition.instanceUids.length > 0)) {
    await publishFleetEvent(trx, row.tenant_id, "config.changed", {
      reason: "rollout",
      assignment: names.assignment,
      ...(everyone ? {} : { instanceUids: transition.instanceUids }),
    });
  }
}
