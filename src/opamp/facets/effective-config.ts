/** EffectiveConfig facet, accepted only from agents with ReportsEffectiveConfig (0x4). */

import type { EffectiveConfigReport } from "../../fleet/agents/types.js";
import type { AgentToServer } from "../../gen/opamp/v1/opamp_pb.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";

const utf8 = new TextDecoder("utf-8", { fatal: false });

export function readEffectiveConfig(msg: AgentToServer): EffectiveConfigReport | undefined {
  const map = msg.effectiveConfig?.configMap?.configMap;
  if (!map || !hasCapability(msg.capabilities, AgentCapability.ReportsEffectiveConfig)) return undefined;
  const files: EffectiveConfigReport["files"] = {};
  for (const [name, file] of Object.entries(map)) {
    files[name] = { body: utf8.decode(file.body), contentType: file.contentType };
  }
  return { files };
}
