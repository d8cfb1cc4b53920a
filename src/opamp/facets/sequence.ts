/**
 * Status compression (spec "Agent Status Compression", brief §3.2): an agent may omit unchanged
 * facets. When its sequence number is not exactly the previous + 1 AND it omitted a facet the
 * server does not hold, the server must ask for the full state. A new client object starts at 0
 * with a full report, so that alone never triggers a request.
 */
import { CAPABILITY, hasCapability } from "../../fleet/agents/capabilities.js";
import type { AgentReport, KnownFacets } from "../../fleet/agents/types.js";

export function needsFullState(
  previousSeq: bigint | undefined,
  report: AgentReport,
  known: KnownFacets,
): boolean {
  const gap = previousSeq === undefined || report.sequenceNum !== previousSeq + 1n;
  if (!gap) return false;
  const caps = report.capabilities;
  const missing =
    (!report.description && !known.description) ||
    (hasCapability(caps, CAPABILITY.ReportsHealth) && !report.health && !known.health) ||
    (hasCapability(caps, CAPABILITY.ReportsEffectiveConfig) &&
      !report.effectiveConfig &&
      !known.effectiveConfig) ||
    (hasCapability(caps, CAPABILITY.ReportsRemoteConfig) &&
      !report.remoteConfigStatus &&
      !known.remoteConfigStatus);
  return missing;
}
