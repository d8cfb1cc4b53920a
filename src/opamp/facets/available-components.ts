/**
 * AvailableComponents facet, accepted only from agents with ReportsAvailableComponents (0x4000).
 * opamp-go sends the hash alone, and the whole list when the server asks for it
 * (ServerToAgentFlags_ReportAvailableComponents) or for the full state. A list over the size
 * limit is not converted at all: its size is enough for the refusal.
 */
import { toBinary } from "@bufbuild/protobuf";
import {
  type AvailableComponentsReport,
  type ComponentDetailsReport,
  MAX_COMPONENT_HASH_BYTES,
  MAX_COMPONENT_LIST_BYTES,
} from "../../fleet/components/types.js";
import {
  type AgentToServer,
  AvailableComponentsSchema,
  type ComponentDetails,
} from "../../gen/opamp/v1/opamp_pb.js";
import { AgentCapability, hasCapability } from "../../protocol/capabilities.js";
import { keyValuesToRecord } from "./any-value.js";

/** Deeper levels than the opamp extension uses (kind → type → details) are dropped. */
const MAX_DEPTH = 4;

function toDetails(d: ComponentDetails, depth: number): ComponentDetailsReport {
  const subComponents: Record<string, ComponentDetailsReport> = {};
  if (depth < MAX_DEPTH) {
    for (const [name, child] of Object.entries(d.subComponentMap))
      subComponents[name] = toDetails(child, depth + 1);
  }
  return { metadata: keyValuesToRecord(d.metadata), subComponents };
}

export function readAvailableComponents(msg: AgentToServer): AvailableComponentsReport | undefined {
  const ac = msg.availableComponents;
  if (!ac || !hasCapability(msg.capabilities, AgentCapability.ReportsAvailableComponents)) return undefined;
  if (ac.hash.byteLength === 0 || ac.hash.byteLength > MAX_COMPONENT_HASH_BYTES) return undefined;
  const hash = Buffer.from(ac.hash).toString("hex");
  const entries = Object.entries(ac.components);
  if (entries.length === 0) return { hash, listBytes: 0 };
  const listBytes = toBinary(AvailableComponentsSchema, ac).byteLength;
  if (listBytes > MAX_COMPONENT_LIST_BYTES) return { hash, listBytes };
  const components: Record<string, ComponentDetailsReport> = {};
  for (const [name, details] of entries) components[name] = toDetails(details, 1);
  return { hash, components, listBytes };
}
