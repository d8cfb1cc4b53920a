import { fromBinary } from "@bufbuild/protobuf";
import { type ServerToAgent, ServerToAgentSchema } from "../../src/gen/opamp/v1/opamp_pb.js";

/** Decodes a ServerToAgent WebSocket frame (0x00 header + protobuf). */
export function decodeServerToAgent(frame: Uint8Array): ServerToAgent {
  const body = frame[0] === 0 ? frame.subarray(1) : frame;
  return fromBinary(ServerToAgentSchema, body);
}
