/**
 * OpAMP wire codec: WebSocket framing, plain-HTTP bodies, instance UID text forms and capability
 * bits. Pure functions only (no I/O, no clock, no logging) so that every transport and every test
 * client shares one definition of "what goes on the wire".
 *
 * Framing (spec "WebSocket Message Format", opamp-go `internal/wsmessage.go`):
 *
 *     WebSocket binary message = header (uvarint, 1..10 bytes, value 0) + protobuf payload
 *
 * Plain-HTTP bodies carry the bare protobuf payload, without the header.
 */

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type AgentToServer,
  AgentToServerSchema,
  type ServerToAgent,
  ServerToAgentSchema,
} from "../gen/opamp/v1/opamp_pb.js";

/**
 * Deepest message nesting accepted when decoding. protobuf-es 2.17 enforces it natively through
 * `fromBinary(..., { recursionLimit })`, both for known nested messages and for skipped unknown
 * groups, so hostile input (a ComponentHealth tree or a run of start-group tags thousands deep)
 * fails with an error instead of exhausting the call stack. 100 matches protobuf-es' default and
 * the C++/Go runtimes; real agents nest fewer than ten levels.
 */
export const MAX_NESTING_DEPTH = 100;

/** The single header value the spec defines; other values are reserved. */
const WS_HEADER = new Uint8Array([0x00]);

/** Longest uvarint the spec allows for the header (a full 64-bit varint). */
const MAX_HEADER_BYTES = 10;

/** Limits applied by the decoders. */
export interface DecodeOptions {
  /**
   * Largest accepted input in bytes, measured on what was received (header included for a
   * WebSocket frame). The spec recommends 64 MiB; oversize input is malformed (WS close 1009,
   * HTTP 413).
   */
  maxBytes: number;
}

/** Why an input was rejected. */
export type DecodeFailureReason = "too_large" | "bad_header" | "malformed_protobuf";

/**
 * Outcome of decoding an AgentToServer. Decoders never throw: hostile input is an expected
 * outcome, and transports map each reason to a close code / status.
 */
export type DecodeResult =
  | { ok: true; message: AgentToServer }
  | { ok: false; reason: DecodeFailureReason; detail: string };

/**
 * Frames a ServerToAgent for one binary WebSocket message: the 0x00 header, then the protobuf.
 *
 * The header is always the one-byte uvarint 0, as opamp-go's `WriteWSMessage` writes it; every
 * client since opamp-go v0.5.0 expects it.
 */
export function encodeServerToAgentFrame(msg: ServerToAgent): Uint8Array {
  return withHeader(toBinary(ServerToAgentSchema, msg));
}

/**
 * True when a reply says nothing but "received" (the answer to a heartbeat): only the instance
 * UID is set. Its bytes are the same every time for a connection, so transports encode it once.
 */
export function isPlainAck(msg: ServerToAgent): boolean {
  return (
    msg.flags === 0n &&
    msg.capabilities === 0n &&
    msg.errorResponse === undefined &&
    msg.remoteConfig === undefined &&
    msg.connectionSettings === undefined &&
    msg.packagesAvailable === undefined &&
    msg.agentIdentification === undefined &&
    msg.command === undefined &&
    msg.customCapabilities === undefined &&
    msg.customMessage === undefined
  );
}

/**
 * Serializes a ServerToAgent as a plain-HTTP response body (no header byte, spec "Plain HTTP
 * Transport").
 */
export function encodeServerToAgentBody(msg: ServerToAgent): Uint8Array {
  return toBinary(ServerToAgentSchema, msg);
}

/**
 * Frames an AgentToServer for one binary WebSocket message (0x00 header + protobuf). The server
 * never sends these; test clients and tools that play the agent do.
 */
export function encodeAgentToServerFrame(msg: AgentToServer): Uint8Array {
  return withHeader(toBinary(AgentToServerSchema, msg));
}

/**
 * Decodes one binary WebSocket message from an agent.
 *
 * Accepts both framings opamp-go accepts (`DecodeWSMessage`):
 * - with header: the frame starts with a uvarint of value 0, and the rest is the protobuf.
 *   Normally that is the single byte 0x00 (all opamp-go recognises); since the spec defines the
 *   header as a 1..10-byte uvarint, padded encodings of 0 (0x80 ... 0x00) are accepted too;
 * - legacy, without header (pre-2023 clients): the whole frame is the protobuf.
 * Telling them apart is unambiguous because a protobuf message never starts with a varint of
 * value 0: that would be a tag with field number 0, which is illegal.
 *
 * A frame whose leading varint is neither 0 nor a possible protobuf tag (for example 0x01, a
 * "header" of value 1) is `bad_header`; a non-zero header that happens to also be a valid tag
 * can only be treated as a legacy frame and fails, if at all, as `malformed_protobuf`.
 *
 * An empty frame is a legacy frame holding an empty message, as in opamp-go; the caller decides
 * whether a message without `instance_uid` is acceptable.
 *
 * `bytes` fields of the returned message (and retained unknown fields) are views into `frame`,
 * not copies (protobuf-es does not copy): do not reuse the buffer, and copy any value kept
 * beyond the message's lifetime, or the whole frame stays in memory.
 */
export function decodeAgentToServerFrame(frame: Uint8Array, opts: DecodeOptions): DecodeResult {
  const tooLarge = checkSize(frame, opts, "frame");
  if (tooLarge) return tooLarge;
  if (frame.byteLength === 0) return decodePayload(frame);

  const lead = readLeadingUvarint(frame);
  if (!lead.ok) return { ok: false, reason: "bad_header", detail: lead.detail };
  if (lead.value === 0n) return decodePayload(frame.subarray(lead.length));
  if (!isPossibleProtobufTag(lead.value, lead.length)) {
    return {
      ok: false,
      reason: "bad_header",
      detail: `non-zero header ${lead.value} (and not a protobuf tag, so not a header-less frame either)`,
    };
  }
  return decodePayload(frame);
}

/**
 * Decodes a plain-HTTP request body from an agent: the bare protobuf, no header byte. A body
 * that starts with 0x00 (a WebSocket frame sent over HTTP) is therefore `malformed_protobuf`.
 *
 * As with {@link decodeAgentToServerFrame}, `bytes` fields are views into `body`.
 */
export function decodeAgentToServerBody(body: Uint8Array, opts: DecodeOptions): DecodeResult {
  const tooLarge = checkSize(body, opts, "body");
  if (tooLarge) return tooLarge;
  return decodePayload(body);
}

function withHeader(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(WS_HEADER.byteLength + payload.byteLength);
  frame.set(WS_HEADER, 0);
  frame.set(payload, WS_HEADER.byteLength);
  return frame;
}

function checkSize(input: Uint8Array, opts: DecodeOptions, what: string): DecodeResult | undefined {
  // Written as "not within the limit" so that a NaN or undefined limit (a config bug) rejects
  // everything instead of silently accepting unbounded input.
  if (!(input.byteLength <= opts.maxBytes)) {
    return {
      ok: false,
      reason: "too_large",
      detail: `${what} is ${input.byteLength} bytes, limit is ${opts.maxBytes}`,
    };
  }
  return undefined;
}

function decodePayload(data: Uint8Array): DecodeResult {
  try {
    const message = fromBinary(AgentToServerSchema, data, {
      // Unknown fields are kept (not just skipped) so that a message from a newer agent can be
      // logged or re-encoded without loss; they are never interpreted.
      readUnknownFields: true,
      recursionLimit: MAX_NESTING_DEPTH,
    });
    return { ok: true, message };
  } catch (err) {
    return {
      ok: false,
      reason: "malformed_protobuf",
      detail: err instanceof Error ? err.message : String(err),
    };
  }
}

type LeadingUvarint = { ok: true; value: bigint; length: number } | { ok: false; detail: string };

/**
 * Reads the uvarint at the start of `frame` with the rules of Go's `binary.Uvarint`, which
 * opamp-go uses for the header: at most 10 bytes, and the 10th byte may only be 0 or 1 (more
 * would overflow 64 bits).
 */
function readLeadingUvarint(frame: Uint8Array): LeadingUvarint {
  let value = 0n;
  for (let i = 0; i < MAX_HEADER_BYTES; i++) {
    const byte = frame[i];
    if (byte === undefined) return { ok: false, detail: `header varint truncated after ${i} bytes` };
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if (byte < 0x80) {
      if (i === MAX_HEADER_BYTES - 1 && byte > 1) {
        return { ok: false, detail: "header varint overflows 64 bits" };
      }
      return { ok: true, value, length: i + 1 };
    }
  }
  return { ok: false, detail: `header varint longer than ${MAX_HEADER_BYTES} bytes` };
}

/**
 * Whether a leading varint could be the first tag of a protobuf message, by the same rules as
 * protobuf-es' `BinaryReader.tag()`: at most 5 bytes, fits in 32 bits, field number >= 1, wire
 * type 0..5.
 */
function isPossibleProtobufTag(value: bigint, length: number): boolean {
  return length <= 5 && value <= 0xffff_ffffn && value >> 3n >= 1n && (value & 7n) <= 5n;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Crockford base32 alphabet as used by ULID (no I, L, O, U). */
const CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CROCKFORD_VALUES: ReadonlyMap<number, number> = new Map(
  [...CROCKFORD_ALPHABET].flatMap((ch, index) => [
    [ch.charCodeAt(0), index],
    [ch.toLowerCase().charCodeAt(0), index],
  ]),
);
const ULID_TEXT_LENGTH = 26;
const UID_BYTES = 16;

/**
 * Renders an agent instance UID in canonical UUID text (lower-case, 8-4-4-4-12), the form used
 * in the `OpAMP-Instance-UID` HTTP header, logs and the database.
 *
 * - 16 bytes: the spec's form since v0.10.0 (UUIDv7 recommended), rendered as is.
 * - 26 bytes of ASCII ULID text (Crockford base32, case-insensitive): what agents built on
 *   opamp-go before v0.10 send in the same field (it was a `string`); decoded to its 16 bytes
 *   and rendered the same way, so an upgraded agent keeps its identity.
 * - Anything else (including an empty field): `null`; the caller rejects the message.
 */
export function instanceUidToString(bytes: Uint8Array): string | null {
  if (bytes.byteLength === UID_BYTES) return bytesToUuid(bytes);
  if (bytes.byteLength === ULID_TEXT_LENGTH) {
    const decoded = ulidTextToBytes(bytes);
    return decoded ? bytesToUuid(decoded) : null;
  }
  return null;
}

/**
 * Parses canonical UUID text (8-4-4-4-12 hex digits, either case) into its 16 bytes. Throws a
 * `TypeError` for anything else (braces, `urn:uuid:`, missing hyphens): callers parse trusted
 * ids or validate first.
 */
export function uuidStringToBytes(s: string): Uint8Array {
  if (!UUID_PATTERN.test(s)) {
    // Only a prefix of the input goes into the message: it may come from a request header.
    throw new TypeError(`invalid UUID string: ${JSON.stringify(s.slice(0, 40))}`);
  }
  const hex = s.replaceAll("-", "");
  const out = new Uint8Array(UID_BYTES);
  for (let i = 0; i < UID_BYTES; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Decodes 26 ASCII bytes of ULID text into the ULID's 16 big-endian bytes, or `null` if a
 * character is outside the alphabet or the value exceeds 128 bits (26 x 5 = 130 bits, so the
 * first character must be 0..7), the rules of oklog/ulid's strict parser.
 */
function ulidTextToBytes(text: Uint8Array): Uint8Array | null {
  let value = 0n;
  for (const code of text) {
    const digit = CROCKFORD_VALUES.get(code);
    if (digit === undefined) return null;
    value = (value << 5n) | BigInt(digit);
  }
  if (value >> 128n !== 0n) return null;
  const out = new Uint8Array(UID_BYTES);
  for (let i = UID_BYTES - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

// The bit sets live with the other protocol facts (one definition, from the generated enums).
export {
  AgentCapability,
  type AgentCapabilityName,
  AgentToServerFlag,
  decodeAgentCapabilities,
  ServerCapability,
  ServerToAgentFlag,
} from "../protocol/capabilities.js";
