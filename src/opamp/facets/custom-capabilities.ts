/**
 * CustomCapabilities facet: the reverse-DNS names of the custom messages an agent understands
 * (e.g. `com.bindplane.snapshot`). Always accepted; bounded so that one agent cannot grow its
 * row without limit (the supervisor forwards whatever its collector's extensions register).
 */
import type { AgentToServer } from "../../gen/opamp/v1/opamp_pb.js";

const MAX_CAPABILITIES = 64;
const MAX_NAME_LENGTH = 256;

export function readCustomCapabilities(msg: AgentToServer): string[] | undefined {
  const custom = msg.customCapabilities;
  if (!custom) return undefined;
  const names = custom.capabilities.filter((name) => name.length > 0 && name.length <= MAX_NAME_LENGTH);
  return [...new Set(names)].slice(0, MAX_CAPABILITIES);
}
