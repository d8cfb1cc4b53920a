/**
 * RemoteConfigStatus facet. Supervisors before v0.161 report it with AcceptsRemoteConfig alone,
 * later ones also set ReportsRemoteConfig, so either bit admits it.
 */

import type { RemoteConfigState, RemoteConfigStatusReport } from "../../fleet/agents/types.js";
import { type AgentToServer, RemoteConfigStatuses } from "../../gen/opamp/v1/opamp_pb.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";

const STATES: Record<number, RemoteConfigState> = {
  [RemoteConfigStatuses.RemoteConfigStatuses_UNSET]: "UNSET",
  [RemoteConfigStatuses.RemoteConfigStatuses_APPLIED]: "APPLIED",
  [RemoteConfigStatuses.RemoteConfigStatuses_APPLYING]: "APPLYING",
  [RemoteConfigStatuses.RemoteConfigStatuses_FAILED]: "FAILED",
};

export function readRemoteConfigStatus(msg: AgentToServer): RemoteConfigStatusReport | undefined {
  const s = msg.remoteConfigStatus;
  if (!s) return undefined;
  const caps = msg.capabilities;
  if (
    !hasCapability(caps, AgentCapability.ReportsRemoteConfig) &&
    !hasCapability(caps, AgentCapability.AcceptsRemoteConfig)
  ) {
    return undefined;
  }
  return {
    lastRemoteConfigHash: Buffer.from(s.lastRemoteConfigHash).toString("hex"),
    status: STATES[s.status] ?? "UNSET",
    errorMessage: s.errorMessage,
  };
}
