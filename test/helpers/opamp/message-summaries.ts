/**
 * One-line summaries of OpAMP messages and hashes, for the test agent's event log and for the
 * failure messages of its waits (what was sent and received when a wait timed out).
 */

import {
  type AgentToServer,
  RemoteConfigStatuses,
  type ServerToAgent,
} from "../../../src/gen/opamp/v1/opamp_pb.js";

/** The first 12 hex digits of a hash: enough to tell configs apart in a log line. */
export function shortHash(hash: Uint8Array): string {
  return Buffer.from(hash).toString("hex").slice(0, 12);
}

/** A one-line summary of a ServerToAgent for error messages. */
export function describeServerToAgent(msg: ServerToAgent): string {
  const parts: string[] = [];
  if (msg.errorResponse)
    parts.push(`errorResponse(type=${msg.errorResponse.type} "${msg.errorResponse.errorMessage}")`);
  if (msg.flags !== 0n) parts.push(`flags=0x${msg.flags.toString(16)}`);
  if (msg.capabilities !== 0n) parts.push(`capabilities=0x${msg.capabilities.toString(16)}`);
  if (msg.remoteConfig) parts.push(`remoteConfig(hash=${shortHash(msg.remoteConfig.configHash)})`);
  const opamp = msg.connectionSettings?.opamp;
  if (msg.connectionSettings) {
    parts.push(
      opamp
        ? `connectionSettings.opamp(endpoint=${opamp.destinationEndpoint || "<empty>"}, headers=[${(opamp.headers?.headers ?? []).map((h) => h.key).join(",")}], hb=${opamp.heartbeatIntervalSeconds})`
        : "connectionSettings",
    );
  }
  if (msg.agentIdentification) parts.push("agentIdentification");
  if (msg.command) parts.push(`command(${msg.command.type})`);
  if (msg.packagesAvailable) parts.push("packagesAvailable");
  if (msg.customMessage) parts.push("customMessage");
  return `{${parts.join(", ") || "ack"}}`;
}

/** A one-line summary of an AgentToServer for error messages. */
export function describeAgentToServer(msg: AgentToServer): string {
  const parts = [`seq=${msg.sequenceNum}`];
  if (msg.agentDescription) parts.push("agentDescription");
  if (msg.health) parts.push(`health(healthy=${msg.health.healthy})`);
  if (msg.effectiveConfig) parts.push("effectiveConfig");
  if (msg.remoteConfigStatus) {
    parts.push(
      `remoteConfigStatus(${RemoteConfigStatuses[msg.remoteConfigStatus.status]}, hash=${shortHash(msg.remoteConfigStatus.lastRemoteConfigHash)})`,
    );
  }
  if (msg.agentDisconnect) parts.push("agentDisconnect");
  if (msg.flags !== 0n) parts.push(`flags=0x${msg.flags.toString(16)}`);
  return `{${parts.join(", ")}}`;
}
