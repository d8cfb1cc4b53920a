/** Reads every facet of an AgentToServer into the plain report the fleet services take. */
import type { AgentReport } from "../../fleet/agents/types.js";
import type { AgentToServer } from "../../gen/opamp/v1/opamp_pb.js";
import { AgentToServerFlag } from "../../protocol/capabilities.js";
import { readAvailableComponents } from "./available-components.js";
import { readCustomCapabilities } from "./custom-capabilities.js";
import { readDescription } from "./description.js";
import { readEffectiveConfig } from "./effective-config.js";
import { readHealth } from "./health.js";
import { readRemoteConfigStatus } from "./remote-config-status.js";

export { needsFullState } from "./sequence.js";

export function readReport(msg: AgentToServer): AgentReport {
  const report: AgentReport = { sequenceNum: msg.sequenceNum, capabilities: msg.capabilities };
  const description = readDescription(msg);
  if (description) report.description = description;
  const health = readHealth(msg);
  if (health) report.health = health;
  const effectiveConfig = readEffectiveConfig(msg);
  if (effectiveConfig) report.effectiveConfig = effectiveConfig;
  const remoteConfigStatus = readRemoteConfigStatus(msg);
  if (remoteConfigStatus) report.remoteConfigStatus = remoteConfigStatus;
  const availableComponents = readAvailableComponents(msg);
  if (availableComponents) report.availableComponents = availableComponents;
  const customCapabilities = readCustomCapabilities(msg);
  if (customCapabilities) report.customCapabilities = customCapabilities;
  if ((msg.flags & AgentToServerFlag.RequestInstanceUid) !== 0n) report.requestsInstanceUid = true;
  return report;
}

/** Names of the facets a report carries, for metrics ("heartbeat" when none). */
export function facetNames(report: AgentReport): string[] {
  const names: string[] = [];
  if (report.description) names.push("description");
  if (report.health) names.push("health");
  if (report.effectiveConfig) names.push("effective_config");
  if (report.remoteConfigStatus) names.push("remote_config_status");
  if (report.availableComponents) names.push("available_components");
  if (report.customCapabilities) names.push("custom_capabilities");
  return names;
}
