// What an agent (or an attacker) can put in a WebSocket frame or HTTP body, and what the
// server's codec makes of it. Every decode either yields a message or a typed rejection; it
// never throws.

import { create, equals, toBinary } from "@bufbuild/protobuf";
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import {
  type AgentToServer,
  AgentToServerFlags,
  AgentToServerSchema,
  AgentCapabilities as GeneratedAgentCapabilities,
  ServerCapabilities as GeneratedServerCapabilities,
  ServerToAgentFlags,
  ServerToAgentSchema,
} from "../../src/gen/opamp/v1/opamp_pb.js";
import {
  AgentCapability,
  AgentToServerFlag,
  type DecodeResult,
  decodeAgentCapabilities,
  decodeAgentToServerBody,
  decodeAgentToServerFrame,
  encodeAgentToServerFrame,
  encodeServerToAgentBody,
  encodeServerToAgentFrame,
  instanceUidToString,
  isPlainAck,
  MAX_NESTING_DEPTH,
  ServerCapability,
  ServerToAgentFlag,
  uuidStringToBytes,
} from "../../src/opamp/codec.js";

const LIMIT = { maxBytes: 64 * 1024 * 1024 };
const UID = uuidStringToBytes("01935b8e-4f2a-7c00-8abc-def012345678");

function statusReport(): AgentToServer {
  return create(AgentToServerSchema, {
    instanceUid: UID,
    sequenceNum: 3n,
    capabilities: AgentCapability.ReportsStatus | AgentCapability.AcceptsRemoteConfig,
    effectiveConfig: {
      configMap: {
        configMap: { "": { body: new TextEncoder().encode("receivers: {}\n"), contentType: "text/yaml" } },
      },
    },
  });
}

function expectMessage(result: DecodeResult): AgentToServer {
  if (!result.ok) throw new Error(`expected a message, got ${result.reason}: ${result.detail}`);
  return result.message;
}

function expectRejected(result: DecodeResult, reason: string): string {
  if (result.ok) throw new Error(`expected rejection (${reason}), got a message`);
  expect(result.reason).toBe(reason);
  return result.detail;
}

function varint(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/**
 * AgentToServer whose `health` holds `levels` further ComponentHealth levels, each the only
 * value of its parent's component_health_map. Built top-down with precomputed lengths, since
 * nesting 10,000 levels by concatenation would copy hundreds of megabytes.
 */
function nestedHealthReport(levels: number): Uint8Array {
  const sizes = [0]; // encoded size of the ComponentHealth `i` levels above the innermost
  for (let i = 1; i <= levels; i++) {
    const child = sizes[i - 1] ?? 0;
    const entry = 1 + varint(child).length + child;
    sizes.push(1 + varint(entry).length + entry);
  }
  const out: number[] = [0x2a, ...varint(sizes[levels] ?? 0)]; // AgentToServer.health, field 5
  for (let i = levels; i >= 1; i--) {
    const child = sizes[i - 1] ?? 0;
    const entry = 1 + varint(child).length + child;
    // component_health_map (field 6) entry { key = "" (omitted), value (field 2) = child }
    out.push(0x32, ...varint(entry), 0x12, ...varint(child));
  }
  return new Uint8Array(out);
}

describe("encoding what the server sends", () => {
  test("a WebSocket frame is the 0x00 header followed by the protobuf", () => {
    const msg = create(ServerToAgentSchema, { instanceUid: UID, capabilities: 0x27n });
    const frame = encodeServerToAgentFrame(msg);
    expect(frame[0]).toBe(0x00);
    expect(frame.subarray(1)).toEqual(toBinary(ServerToAgentSchema, msg));
  });

  test("capabilities 0x27 alone is the frame [0x00, 0x38, 0x27]", () => {
    const frame = encodeServerToAgentFrame(create(ServerToAgentSchema, { capabilities: 0x27n }));
    expect([...frame]).toEqual([0x00, 0x38, 0x27]);
  });

  test("an empty ServerToAgent is the one-byte frame [0x00]", () => {
    expect([...encodeServerToAgentFrame(create(ServerToAgentSchema))]).toEqual([0x00]);
  });

  test("a plain-HTTP body is the bare protobuf, without the header byte", () => {
    const body = encodeServerToAgentBody(create(ServerToAgentSchema, { capabilities: 0x27n }));
    expect([...body]).toEqual([0x38, 0x27]);
  });

  test("only a reply with nothing but the instance UID counts as a plain acknowledgement", () => {
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID }))).toBe(true);
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID, flags: 1n }))).toBe(false);
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID, capabilities: 0x27n }))).toBe(false);
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID, errorResponse: {} }))).toBe(false);
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID, remoteConfig: {} }))).toBe(false);
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID, connectionSettings: {} }))).toBe(false);
    expect(isPlainAck(create(ServerToAgentSchema, { instanceUid: UID, command: {} }))).toBe(false);
  });

  test("a test client's AgentToServer frame carries the header too", () => {
    const frame = encodeAgentToServerFrame(create(AgentToServerSchema, { agentDisconnect: {} }));
    expect([...frame]).toEqual([0x00, 0x4a, 0x00]);
  });
});

describe("decoding WebSocket frames from agents", () => {
  test("accepts a frame with the 0x00 header", () => {
    const message = expectMessage(decodeAgentToServerFrame(encodeAgentToServerFrame(statusReport()), LIMIT));
    expect(instanceUidToString(message.instanceUid)).toBe("01935b8e-4f2a-7c00-8abc-def012345678");
    expect(message.sequenceNum).toBe(3n);
  });

  test("accepts a legacy header-less frame (the whole frame is the protobuf)", () => {
    const message = expectMessage(
      decodeAgentToServerFrame(toBinary(AgentToServerSchema, statusReport()), LIMIT),
    );
    expect(equals(AgentToServerSchema, message, statusReport())).toBe(true);
  });

  test("accepts the header alone as an empty message", () => {
    const message = expectMessage(decodeAgentToServerFrame(new Uint8Array([0x00]), LIMIT));
    expect(message.instanceUid).toHaveLength(0);
  });

  test("accepts an empty frame as an empty legacy message, as opamp-go does", () => {
    const message = expectMessage(decodeAgentToServerFrame(new Uint8Array(), LIMIT));
    expect(message.agentDisconnect).toBeUndefined();
  });

  test("accepts a zero header padded to the maximum 10 bytes", () => {
    const header = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    const message = expectMessage(decodeAgentToServerFrame(new Uint8Array([...header, 0x4a, 0x00]), LIMIT));
    expect(message.agentDisconnect).toBeDefined();
  });

  test.each([1, 2, 3, 4, 5, 6, 7])("rejects non-zero header %i as bad_header", (header) => {
    const frame = new Uint8Array([header, ...toBinary(AgentToServerSchema, statusReport())]);
    const detail = expectRejected(decodeAgentToServerFrame(frame, LIMIT), "bad_header");
    expect(detail).toContain(`non-zero header ${header}`);
  });

  test("rejects a non-zero header whose low bits name an invalid wire type (0x0e = field 1, type 6)", () => {
    expectRejected(decodeAgentToServerFrame(new Uint8Array([0x0e, 0x00]), LIMIT), "bad_header");
  });

  test("rejects an 11-byte header varint", () => {
    const frame = new Uint8Array([...new Array(10).fill(0x80), 0x00, 0x4a, 0x00]);
    const detail = expectRejected(decodeAgentToServerFrame(frame, LIMIT), "bad_header");
    expect(detail).toContain("longer than 10 bytes");
  });

  test("rejects a 10-byte header varint that overflows 64 bits", () => {
    const frame = new Uint8Array([...new Array(9).fill(0x80), 0x02]);
    expectRejected(decodeAgentToServerFrame(frame, LIMIT), "bad_header");
  });

  test("rejects a frame that ends inside the header varint", () => {
    expectRejected(decodeAgentToServerFrame(new Uint8Array([0x80, 0x80]), LIMIT), "bad_header");
  });

  test("rejects a protobuf truncated inside a field", () => {
    const frame = encodeAgentToServerFrame(statusReport());
    const detail = expectRejected(
      decodeAgentToServerFrame(frame.subarray(0, frame.length - 3), LIMIT),
      "malformed_protobuf",
    );
    expect(detail).not.toBe("");
  });

  test.each([
    ["a length prefix past the end", [0x00, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ["wire type 7", [0x00, 0x0f]],
    ["an end-group tag with no start", [0x00, 0xa4, 0x01]],
    ["a second 0x00 (field number 0)", [0x00, 0x00]],
    ["a 6-byte tag", [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ["invalid UTF-8 in a string field", [0x00, 0x62, 0x03, 0x0a, 0x01, 0xff]],
  ])("rejects garbage: %s", (_what, bytes) => {
    expectRejected(decodeAgentToServerFrame(new Uint8Array(bytes), LIMIT), "malformed_protobuf");
  });

  test("keeps unknown fields from newer agents instead of failing", () => {
    const unknownField = [0xa2, 0x06, 0x03, 0x61, 0x62, 0x63]; // field 100, length-delimited "abc"
    const frame = new Uint8Array([0x00, ...toBinary(AgentToServerSchema, statusReport()), ...unknownField]);
    const message = expectMessage(decodeAgentToServerFrame(frame, LIMIT));
    expect(message.$unknown?.map((f) => f.no)).toEqual([100]);
    expect(toBinary(AgentToServerSchema, message)).toEqual(frame.subarray(1));
  });
});

describe("decoding hostile nesting", () => {
  test(`accepts ComponentHealth nested up to the ${MAX_NESTING_DEPTH}-message depth limit`, () => {
    // AgentToServer (1) + health (1) + 98 nested levels = 100 messages deep.
    const message = expectMessage(decodeAgentToServerFrame(nestedHealthReport(98), LIMIT));
    expect(message.health?.componentHealthMap[""]).toBeDefined();
  });

  test("rejects ComponentHealth nested one level beyond the limit", () => {
    const detail = expectRejected(
      decodeAgentToServerFrame(nestedHealthReport(99), LIMIT),
      "malformed_protobuf",
    );
    expect(detail).toContain("maximum recursion depth");
  });

  test("rejects 10,000 nested ComponentHealth maps quickly, without overflowing the stack", () => {
    const frame = nestedHealthReport(10_000);
    const started = performance.now();
    const detail = expectRejected(decodeAgentToServerFrame(frame, LIMIT), "malformed_protobuf");
    expect(performance.now() - started).toBeLessThan(1000);
    // Stopped by the depth limit, not by a caught stack overflow or by running off the end.
    expect(detail).toContain("maximum recursion depth of 100 reached");
  });

  test("rejects ~21 KB of nested start-group tags (a group bomb) quickly", () => {
    const bomb = new Uint8Array(21 * 1024);
    for (let i = 0; i < bomb.length; i += 2) {
      bomb[i] = 0xa3; // field 20, wire type 3 (start group): unknown, so the decoder must skip it
      bomb[i + 1] = 0x01;
    }
    const started = performance.now();
    const legacy = expectRejected(decodeAgentToServerFrame(bomb, LIMIT), "malformed_protobuf");
    const framed = expectRejected(
      decodeAgentToServerFrame(new Uint8Array([0x00, ...bomb]), LIMIT),
      "malformed_protobuf",
    );
    expect(performance.now() - started).toBeLessThan(1000);
    // Stopped by the depth limit after ~100 groups, not by reading all 10,752 tags.
    expect(legacy).toBe("maximum recursion depth reached");
    expect(framed).toBe("maximum recursion depth reached");
  });

  test("treats 10,000 nested unknown length-delimited fields as one opaque unknown field, quickly", () => {
    // An unknown length-delimited field may be a string or bytes, so it is skipped by length and
    // never parsed: depth inside it costs nothing and cannot be rejected as nesting.
    const levels = 10_000;
    const sizes = [0]; // encoded size of the nest `i` levels above the (empty) innermost payload
    for (let i = 1; i <= levels; i++) {
      const child = sizes[i - 1] ?? 0;
      sizes.push(2 + varint(child).length + child);
    }
    const frame: number[] = [0x00];
    for (let i = levels; i >= 1; i--) frame.push(0xa2, 0x06, ...varint(sizes[i - 1] ?? 0)); // field 100, LEN
    const started = performance.now();
    const message = expectMessage(decodeAgentToServerFrame(new Uint8Array(frame), LIMIT));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(message.$unknown).toHaveLength(1);
    expect(message.$unknown?.[0]?.no).toBe(100);
  });
});

describe("size limit", () => {
  const frame = encodeAgentToServerFrame(statusReport());

  test("accepts a frame of exactly maxBytes, header included", () => {
    expectMessage(decodeAgentToServerFrame(frame, { maxBytes: frame.byteLength }));
  });

  test("rejects a frame one byte over maxBytes as too_large, naming both sizes", () => {
    const detail = expectRejected(
      decodeAgentToServerFrame(frame, { maxBytes: frame.byteLength - 1 }),
      "too_large",
    );
    expect(detail).toBe(`frame is ${frame.byteLength} bytes, limit is ${frame.byteLength - 1}`);
  });

  test("checks the size before looking at the content", () => {
    expectRejected(
      decodeAgentToServerFrame(new Uint8Array([0x05, 0x05, 0x05]), { maxBytes: 2 }),
      "too_large",
    );
  });

  test("rejects everything when the limit is not a number, instead of accepting unbounded input", () => {
    expectRejected(decodeAgentToServerFrame(new Uint8Array([0x00]), { maxBytes: Number.NaN }), "too_large");
  });

  test("applies to plain-HTTP bodies too", () => {
    const body = toBinary(AgentToServerSchema, statusReport());
    const detail = expectRejected(decodeAgentToServerBody(body, { maxBytes: 10 }), "too_large");
    expect(detail).toBe(`body is ${body.byteLength} bytes, limit is 10`);
  });
});

describe("decoding plain-HTTP bodies", () => {
  test("accepts the bare protobuf", () => {
    const message = expectMessage(
      decodeAgentToServerBody(toBinary(AgentToServerSchema, statusReport()), LIMIT),
    );
    expect(equals(AgentToServerSchema, message, statusReport())).toBe(true);
  });

  test("rejects a body that carries the WebSocket header byte", () => {
    expectRejected(
      decodeAgentToServerBody(encodeAgentToServerFrame(statusReport()), LIMIT),
      "malformed_protobuf",
    );
  });

  test("accepts an empty body as an empty message", () => {
    expectMessage(decodeAgentToServerBody(new Uint8Array(), LIMIT));
  });
});

describe("decoding arbitrary input (fast-check)", () => {
  const reasons = ["too_large", "bad_header", "malformed_protobuf"];
  const isValidResult = (r: DecodeResult): boolean =>
    r.ok
      ? r.message.$typeName === "opamp.proto.v1.AgentToServer"
      : reasons.includes(r.reason) && r.detail !== "";

  test.prop([fc.uint8Array({ maxLength: 512 })], { numRuns: 2000 })(
    "never throws on arbitrary bytes, with or without a header byte",
    (bytes) => {
      expect(isValidResult(decodeAgentToServerFrame(bytes, LIMIT))).toBe(true);
      expect(isValidResult(decodeAgentToServerFrame(new Uint8Array([0x00, ...bytes]), LIMIT))).toBe(true);
      expect(isValidResult(decodeAgentToServerBody(bytes, LIMIT))).toBe(true);
    },
  );

  test.prop([fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 64 })])(
    "never throws on arbitrary bytes under an arbitrary size limit",
    (bytes, maxBytes) => {
      const result = decodeAgentToServerFrame(bytes, { maxBytes });
      expect(isValidResult(result)).toBe(true);
      if (bytes.byteLength > maxBytes) expect(result.ok ? "ok" : result.reason).toBe("too_large");
    },
  );
});

const agentToServerArbitrary: fc.Arbitrary<AgentToServer> = fc
  .record(
    {
      instanceUid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      sequenceNum: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      capabilities: fc.bigInt({ min: 0n, max: 0xffffn }),
      flags: fc.bigInt({ min: 0n, max: 1n }),
      attributes: fc.array(
        fc.tuple(fc.string(), fc.oneof(fc.string(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }))),
        {
          maxLength: 4,
        },
      ),
      health: fc.option(
        fc.record({
          healthy: fc.boolean(),
          startTimeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          components: fc.dictionary(fc.string({ maxLength: 10 }), fc.boolean(), {
            maxKeys: 4,
            noNullPrototype: true,
          }),
        }),
        { nil: undefined },
      ),
      config: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: undefined }),
      disconnect: fc.boolean(),
    },
    { requiredKeys: ["instanceUid", "sequenceNum", "capabilities", "flags", "attributes", "disconnect"] },
  )
  .map((r) =>
    create(AgentToServerSchema, {
      instanceUid: r.instanceUid,
      sequenceNum: r.sequenceNum,
      capabilities: r.capabilities,
      flags: r.flags,
      agentDescription: {
        identifyingAttributes: r.attributes.map(([key, v]) => ({
          key,
          value: {
            value:
              typeof v === "string"
                ? { case: "stringValue" as const, value: v }
                : { case: "intValue" as const, value: v },
          },
        })),
      },
      health: r.health && {
        healthy: r.health.healthy,
        startTimeUnixNano: r.health.startTimeUnixNano,
        componentHealthMap: Object.fromEntries(
          Object.entries(r.health.components).map(([name, healthy]) => [name, { healthy }]),
        ),
      },
      effectiveConfig: r.config && { configMap: { configMap: { "": { body: r.config } } } },
      agentDisconnect: r.disconnect ? {} : undefined,
    }),
  );

describe("encode → decode (fast-check)", () => {
  test.prop([agentToServerArbitrary])("a framed AgentToServer decodes to the same message", (message) => {
    const decoded = expectMessage(decodeAgentToServerFrame(encodeAgentToServerFrame(message), LIMIT));
    expect(equals(AgentToServerSchema, decoded, message)).toBe(true);
  });

  test.prop([agentToServerArbitrary])(
    "the same message sent header-less (legacy) or as an HTTP body decodes the same",
    (message) => {
      const bare = toBinary(AgentToServerSchema, message);
      expect(equals(AgentToServerSchema, expectMessage(decodeAgentToServerFrame(bare, LIMIT)), message)).toBe(
        true,
      );
      expect(equals(AgentToServerSchema, expectMessage(decodeAgentToServerBody(bare, LIMIT)), message)).toBe(
        true,
      );
    },
  );
});

describe("instance UIDs", () => {
  test("renders 16 bytes as a canonical lower-case UUID", () => {
    const bytes = new Uint8Array([
      0x01, 0x93, 0x5b, 0x8e, 0x4f, 0x2a, 0x7c, 0x00, 0x8a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
    ]);
    expect(instanceUidToString(bytes)).toBe("01935b8e-4f2a-7c00-8abc-def012345678");
  });

  test("renders a 26-character ULID sent by a pre-v0.10 agent as the UUID of the ULID's 16 bytes", () => {
    // oklog/ulid's README example; its binary form is 01563E3AB5D3D6764C61EFB99302BD5B.
    const ulid = new TextEncoder().encode("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    expect(instanceUidToString(ulid)).toBe("01563e3a-b5d3-d676-4c61-efb99302bd5b");
  });

  test("reads ULID text case-insensitively", () => {
    const ulid = new TextEncoder().encode("01arz3ndektsv4rrffq69g5fav");
    expect(instanceUidToString(ulid)).toBe("01563e3a-b5d3-d676-4c61-efb99302bd5b");
  });

  test("maps the largest ULID to the all-ones UUID", () => {
    const ulid = new TextEncoder().encode("7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    expect(instanceUidToString(ulid)).toBe("ffffffff-ffff-ffff-ffff-ffffffffffff");
  });

  test.each([
    ["a ULID above 128 bits (first character 8)", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"],
    ["a character outside Crockford base32 (U)", "01ARZ3NDEKTSV4RRFFQ69G5FAU"],
    ["an ambiguous character (I)", "01ARZ3NDEKTSV4RRFFQ69G5FAI"],
    ["a 26-byte non-ASCII value", "01ARZ3NDEKTSV4RRFFQ69G5FA\u00ff"],
  ])("rejects %s", (_what, s) => {
    const bytes = Uint8Array.from(s, (ch) => ch.charCodeAt(0));
    expect(bytes).toHaveLength(26);
    expect(instanceUidToString(bytes)).toBeNull();
  });

  test.each([0, 1, 15, 17, 25, 27, 36])("returns null for a %i-byte instance_uid", (length) => {
    expect(instanceUidToString(new Uint8Array(length).fill(0x30))).toBeNull();
  });

  test("parses canonical UUID text, either case", () => {
    const bytes = uuidStringToBytes("01935B8E-4F2A-7C00-8ABC-DEF012345678");
    expect([...bytes.subarray(0, 4)]).toEqual([0x01, 0x93, 0x5b, 0x8e]);
    expect(instanceUidToString(bytes)).toBe("01935b8e-4f2a-7c00-8abc-def012345678");
  });

  test.each([
    "",
    "01935b8e4f2a7c008abcdef012345678",
    "{01935b8e-4f2a-7c00-8abc-def012345678}",
    "urn:uuid:01935b8e-4f2a-7c00-8abc-def012345678",
    "01935b8e-4f2a-7c00-8abc-def01234567",
    "01935b8e-4f2a-7c00-8abc-def0123456789",
    "01935b8g-4f2a-7c00-8abc-def012345678",
    " 01935b8e-4f2a-7c00-8abc-def012345678",
    "01935b8e-4f2a-7c00-8abc-def012345678\n",
  ])("uuidStringToBytes throws a TypeError for %j", (s) => {
    expect(() => uuidStringToBytes(s)).toThrow(TypeError);
  });

  test.prop([fc.uint8Array({ minLength: 16, maxLength: 16 })])(
    "16 bytes → UUID text → the same 16 bytes",
    (bytes) => {
      const text = instanceUidToString(bytes);
      expect(text).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(uuidStringToBytes(text ?? "")).toEqual(bytes);
    },
  );

  test.prop([fc.uint8Array({ maxLength: 40 })])("instanceUidToString never throws", (bytes) => {
    const text = instanceUidToString(bytes);
    if (bytes.byteLength !== 16 && bytes.byteLength !== 26) expect(text).toBeNull();
  });
});

describe("capability and flag bits", () => {
  test("AgentCapability has exactly the bits of the generated AgentCapabilities enum", () => {
    const generated = Object.entries(GeneratedAgentCapabilities)
      .filter(([name]) => name !== "AgentCapabilities_Unspecified" && Number.isNaN(Number(name)))
      .map(([name, value]) => [name.replace("AgentCapabilities_", ""), BigInt(value)]);
    expect(Object.entries(AgentCapability)).toEqual(generated);
    expect(AgentCapability.ReportsConnectionSettingsStatus).toBe(0x8000n);
  });

  test("ServerCapability has exactly the bits of the generated ServerCapabilities enum", () => {
    const generated = Object.entries(GeneratedServerCapabilities)
      .filter(([name]) => name !== "ServerCapabilities_Unspecified" && Number.isNaN(Number(name)))
      .map(([name, value]) => [name.replace("ServerCapabilities_", ""), BigInt(value)]);
    expect(Object.entries(ServerCapability)).toEqual(generated);
  });

  test("flag constants match the generated flag enums", () => {
    expect(AgentToServerFlag.RequestInstanceUid).toBe(
      BigInt(AgentToServerFlags.AgentToServerFlags_RequestInstanceUid),
    );
    expect(ServerToAgentFlag.ReportFullState).toBe(
      BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportFullState),
    );
    expect(ServerToAgentFlag.ReportAvailableComponents).toBe(
      BigInt(ServerToAgentFlags.ServerToAgentFlags_ReportAvailableComponents),
    );
  });

  test("the constant objects are frozen", () => {
    for (const constants of [AgentCapability, ServerCapability, AgentToServerFlag, ServerToAgentFlag]) {
      expect(Object.isFrozen(constants)).toBe(true);
    }
  });

  test("the capabilities this server advertises are 0x27", () => {
    const advertised =
      ServerCapability.AcceptsStatus |
      ServerCapability.OffersRemoteConfig |
      ServerCapability.AcceptsEffectiveConfig |
      ServerCapability.OffersConnectionSettings;
    expect(advertised).toBe(0x27n);
  });

  test("decodeAgentCapabilities names the set bits in camelCase, in bit order", () => {
    expect(decodeAgentCapabilities(0x3n)).toEqual(["reportsStatus", "acceptsRemoteConfig"]);
    expect(decodeAgentCapabilities(0x1807n)).toEqual([
      "reportsStatus",
      "acceptsRemoteConfig",
      "reportsEffectiveConfig",
      "reportsHealth",
      "reportsRemoteConfig",
    ]);
  });

  test("decodeAgentCapabilities returns nothing for 0 and ignores bits the spec does not define", () => {
    expect(decodeAgentCapabilities(0n)).toEqual([]);
    expect(decodeAgentCapabilities((1n << 63n) | 0x10000n | 0x100n)).toEqual([
      "acceptsOpAMPConnectionSettings",
    ]);
  });

  test("decodeAgentCapabilities lists all 16 names for 0xffff", () => {
    const names = decodeAgentCapabilities(0xffffn);
    expect(names).toHaveLength(16);
    expect(names.at(-1)).toBe("reportsConnectionSettingsStatus");
  });
});
