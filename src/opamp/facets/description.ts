/** AgentDescription facet: identifying and non-identifying attributes. Always accepted. */
import type { AgentDescriptionReport } from "../../fleet/agents/types.js";
import type { AgentToServer } from "../../gen/opamp/v1/opamp_pb.js";
import { keyValuesToRecord } from "./any-value.js";

export function readDescription(msg: AgentToServer): AgentDescriptionReport | undefined {
  const d = msg.agentDescription;
  if (!d) return undefined;
  return {
    identifying: keyValuesToRecord(d.identifyingAttributes),
    nonIdentifying: keyValuesToRecord(d.nonIdentifyingAttributes),
  };
}
