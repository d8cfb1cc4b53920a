/**
 * Status compression (spec "Agent Status Compression", brief §3.2): an agent may omit unchanged
 * facets. When its sequence number is not exactly the previous + 1 AND it omitted a facet the
 * server does not hold, the server must ask for the full state. Sequence 0 is a new client
 * object's first message, which is a full report by construction (opamp-go PrepareFirstMessage):
 * a facet missing there is one the agent does not have, so asking again would only cost a round
 * trip.
 */

import type { AgentReport, KnownFacets } from "../../fleet/agents/types.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";

export function needsFullState(
  previousSeq: bigint | undefined,
  report: AgentReport,
  known: KnownFacets,
): boolean {
  if (report.sequenceNum === 0n) return false;
  const gap = previousSeq === undefined || report.sequenceNum !== previousSeq + 1n;
  if (!gap) return false;
  const caps = report.capabilities;
  const missing =
    (!report.description && !known.description) ||
    (hasCapability(caps, AgentCapability.ReportsHealth) && !report.health && !known.health) ||
    (hasCapability(caps, AgentCapability.ReportsEffectiveConfig) &&
      !report.effectiveConfig &&
      !known.effectiveConfig) ||
    (hasCapability(caps, AgentCapability.ReportsRemoteConfig) &&
      !report.remoteConfigStatus &&
      !known.remoteConfigStatus);
  return missing;
}
