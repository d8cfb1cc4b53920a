/**
 * The agent's side of the OpAMP wire, shared by the test agent (test/helpers/opamp/) and the
 * bench's lean agent (bench/agent-worker.ts): instance UIDs as the supervisor makes them, the
 * capabilities, description and health it reports, and the encodings the codec of
 * src/opamp/codec.ts leaves out because the server never needs them (decoding a ServerToAgent,
 * encoding an AgentToServer as a plain-HTTP body).
 *
 * The bench runs parts of this for every message of thousands of agents: no test-framework
 * imports here, and what the bench calls builds nothing beyond the message parts it returns.
 */

import { fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { KeyValueSchema } from "../../../src/gen/opamp/v1/anyvalue_pb.js";
import {
  type AgentToServer,
  AgentToServerSchema,
  type ComponentHealthSchema,
  type EffectiveConfigSchema,
  type OpAMPConnectionSettings,
  RemoteConfigStatuses,
  type ServerToAgent,
  ServerToAgentSchema,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability, instanceUidToString } from "../../../src/opamp/codec.js";

/**
 * What a supervisor with `accepts_remote_config: true` and
 * `accepts_opamp_connection_settings: true` (other capabilities at their defaults) announces:
 * 0x3907.
 */
export const SUPERVISOR_CAPABILITIES: bigint =
  AgentCapability.ReportsStatus |
  AgentCapability.AcceptsRemoteConfig |
  AgentCapability.ReportsEffectiveConfig |
  AgentCapability.ReportsHealth |
  AgentCapability.ReportsRemoteConfig |
  AgentCapability.ReportsHeartbeat |
  AgentCapability.AcceptsOpAMPConnectionSettings;

/** `RemoteConfigStatuses` values under short names (note APPLIED < APPLYING numerically). */
export const ConfigStatus = Object.freeze({
  UNSET: RemoteConfigStatuses.RemoteConfigStatuses_UNSET,
  APPLIED: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
  APPLYING: RemoteConfigStatuses.RemoteConfigStatuses_APPLYING,
  FAILED: RemoteConfigStatuses.RemoteConfigStatuses_FAILED,
} as const);

/** The collector version the test and bench agents claim to run. */
const COLLECTOR_VERSION = "0.156.0";

/** A fresh UUIDv7 (48-bit ms timestamp, version 7, RFC 9562 variant), as the supervisor makes. */
export function uuidV7(): Uint8Array {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  // Number arithmetic, not bigint: exact up to 2^53 ms, and cheap enough for the bench to make
  // thousands of these.
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return bytes;
}

/**
 * An instance UID as the server shows it (canonical UUID text, through the codec); hex for
 * bytes the codec would reject, so that a test message can still name them.
 */
export function instanceUidText(uid: Uint8Array): string {
  return instanceUidToString(uid) ?? Buffer.from(uid).toString("hex");
}

/** Byte-wise equality (config hashes, instance UIDs). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/** One string attribute of an agent description. */
export function stringAttribute(key: string, value: string): MessageInitShape<typeof KeyValueSchema> {
  return { key, value: { value: { case: "stringValue", value } } };
}

/** String attributes from a plain record, in the record's order. */
export function keyValues(attrs: Record<string, string>): MessageInitShape<typeof KeyValueSchema>[] {
  return Object.entries(attrs).map(([key, value]) => stringAttribute(key, value));
}

/** The identifying attributes the supervisor reports for otelcol-contrib. */
export function supervisorIdentifyingAttributes(
  instanceUidText: string,
): MessageInitShape<typeof KeyValueSchema>[] {
  return [
    stringAttribute("service.name", "otelcol-contrib"),
    stringAttribute("service.version", COLLECTOR_VERSION),
    stringAttribute("service.instance.id", instanceUidText),
  ];
}

/** The non-identifying attributes the supervisor reports on Linux. */
export function supervisorNonIdentifyingAttributes(
  hostName: string,
): MessageInitShape<typeof KeyValueSchema>[] {
  return [stringAttribute("host.name", hostName), stringAttribute("os.type", "linux")];
}

/** Now (or `ms`) in the Unix nanoseconds of OpAMP timestamps. */
export function unixNanos(ms: number = Date.now()): bigint {
  return BigInt(ms) * 1_000_000n;
}

/** The health the supervisor reports once the collector runs a config. */
export function runningHealth(nowUnixNanos: bigint): MessageInitShape<typeof ComponentHealthSchema> {
  return {
    healthy: true,
    status: "StatusOK",
    startTimeUnixNano: nowUnixNanos,
    statusTimeUnixNano: nowUnixNanos,
  };
}

/**
 * An effective config of one YAML body: key "" and text/yaml, what the collector's opamp
 * extension reports and the supervisor forwards.
 */
export function effectiveConfigOf(body: Uint8Array): MessageInitShape<typeof EffectiveConfigSchema> {
  return { configMap: { configMap: { "": { body, contentType: "text/yaml" } } } };
}

/**
 * The headers of a connection-settings offer as a record. The supervisor builds the new client
 * from the offer alone, so these are all the headers it sends afterwards.
 */
export function offeredHeaders(offer: OpAMPConnectionSettings): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const header of offer.headers?.headers ?? []) headers[header.key] = header.value;
  return headers;
}

/** Serializes an AgentToServer as a plain-HTTP request body (bare protobuf, no header byte). */
export function encodeAgentToServerBody(msg: AgentToServer): Uint8Array {
  return toBinary(AgentToServerSchema, msg);
}

/**
 * Decodes one binary WebSocket message from the server: strips the header (a uvarint 0, in
 * practice the single byte 0x00) when present, as opamp-go does. Throws on a malformed
 * protobuf. `bytes` fields of the result are views into `frame`.
 */
export function decodeServerToAgentFrame(frame: Uint8Array): ServerToAgent {
  return fromBinary(ServerToAgentSchema, frame[0] === 0x00 ? frame.subarray(1) : frame);
}

/** Decodes a plain-HTTP response body (bare protobuf). Throws on a malformed protobuf. */
export function decodeServerToAgentBody(body: Uint8Array): ServerToAgent {
  return fromBinary(ServerToAgentSchema, body);
}
