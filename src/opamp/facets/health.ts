/** ComponentHealth facet, accepted only from agents with ReportsHealth (0x800). */

import type { HealthReport } from "../../fleet/agents/types.js";
import type { AgentToServer, ComponentHealth } from "../../gen/opamp/v1/opamp_pb.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";

function toReport(h: ComponentHealth): HealthReport {
  const components: Record<string, HealthReport> = {};
  for (const [name, child] of Object.entries(h.componentHealthMap)) components[name] = toReport(child);
  return {
    healthy: h.healthy,
    status: h.status,
    lastError: h.lastError,
    // fixed64 nanoseconds: kept as decimal strings, they exceed 2^53.
    startTimeUnixNano: h.startTimeUnixNano.toString(),
    statusTimeUnixNano: h.statusTimeUnixNano.toString(),
    components,
  };
}

export function readHealth(msg: AgentToServer): HealthReport | undefined {
  if (!msg.health || !hasCapability(msg.capabilities, AgentCapability.ReportsHealth)) return undefined;
  return toReport(msg.health);
}
