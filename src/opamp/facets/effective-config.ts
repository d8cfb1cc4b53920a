/** EffectiveConfig facet, accepted only from agents with ReportsEffectiveConfig (0x4). */
import { CAPABILITY, hasCapability } from "../../fleet/agents/capabilities.js";
import type { EffectiveConfigReport } from "../../fleet/agents/types.js";
import type { AgentToServer } from "../../gen/opamp/v1/opamp_pb.js";

const utf8 = new TextDecoder("utf-8", { fatal: false });

export function readEffectiveConfig(msg: AgentToServer): EffectiveConfigReport | undefined {
  const map = msg.effectiveConfig?.configMap?.configMap;
  if (!map || !hasCapability(msg.capabilities, CAPABILITY.ReportsEffectiveConfig)) return undefined;
  const files: EffectiveConfigReport["files"] = {};
  for (const [name, file] of Object.entries(map)) {
    files[name] = { body: utf8.decode(file.body), contentType: file.contentType };
  }
  return { files };
}
