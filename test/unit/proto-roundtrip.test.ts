// The generated OpAMP types must put exactly the upstream bytes on the wire: agents built on
// opamp-go decode what we send with their own copy of opamp.proto. These tests pin field
// numbers and wire types, and check that every message type survives encode → decode.

import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  equals,
  fromBinary,
  type Message,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { AnyValueSchema, file_opamp_v1_anyvalue } from "../../src/gen/opamp/v1/anyvalue_pb.js";
import {
  AgentToServerSchema,
  ComponentHealthSchema,
  file_opamp_v1_opamp,
  PackageStatusEnum,
  RemoteConfigStatuses,
  ServerErrorResponseSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
} from "../../src/gen/opamp/v1/opamp_pb.js";

const MAX_UINT64 = 2n ** 64n - 1n;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Encodes, decodes, and checks both equality and byte-stable re-encoding. */
function expectRoundTrip<Desc extends DescMessage>(schema: Desc, message: Message): void {
  const bytes = toBinary(schema, message as never);
  const decoded = fromBinary(schema, bytes);
  expect(equals(schema, decoded, message as never)).toBe(true);
  expect(toBinary(schema, decoded)).toEqual(bytes);
}

// --- every message type, every field ---------------------------------------------------------

/** A non-default sample for each scalar type the OpAMP protos use. */
function sampleScalar(type: ScalarType, variant: number): unknown {
  switch (type) {
    case ScalarType.STRING:
      return `v${variant}-ü✓`;
    case ScalarType.BYTES:
      return new Uint8Array([0xde, 0xad, 0xbe, 0xef, variant]);
    case ScalarType.BOOL:
      return true;
    case ScalarType.DOUBLE:
      return 12.5 + variant;
    case ScalarType.INT64:
      return -(2n ** 62n) - BigInt(variant);
    case ScalarType.UINT64:
      return MAX_UINT64 - BigInt(variant);
    case ScalarType.FIXED64:
      return 2n ** 63n + 1_234_567n + BigInt(variant);
    default:
      // A new scalar type in the protos needs a sample here (and a wire check below).
      throw new Error(`no sample for scalar type ${ScalarType[type]}`);
  }
}

function sampleEnum(field: DescField & { fieldKind: "enum" }): number {
  const last = field.enum.values.at(-1);
  if (!last) throw new Error(`enum ${field.enum.typeName} has no values`);
  return last.number;
}

/**
 * Builds a message with every field set to a non-default value: two list items, two map
 * entries, the first member of each oneof. Below `maxDepth` message-typed fields are left unset
 * so recursive types (ComponentHealth, ComponentDetails, AnyValue) terminate.
 */
function populate(desc: DescMessage, depth = 0, maxDepth = 3): ReflectMessage {
  const r = reflect(desc);
  for (const field of desc.fields) {
    if (field.oneof && field.oneof.fields[0] !== field) continue;
    switch (field.fieldKind) {
      case "scalar":
        r.set(field, sampleScalar(field.scalar, field.number));
        break;
      case "enum":
        r.set(field, sampleEnum(field));
        break;
      case "message":
        if (depth < maxDepth) r.set(field, populate(field.message, depth + 1, maxDepth));
        break;
      case "list": {
        const list = r.get(field);
        for (const variant of [1, 2]) {
          if (field.listKind === "scalar") list.add(sampleScalar(field.scalar, variant));
          else if (field.listKind === "enum") list.add(field.enum.values.at(-1)?.number ?? 0);
          else if (depth < maxDepth) list.add(populate(field.message, depth + 1, maxDepth));
        }
        break;
      }
      case "map": {
        const map = r.get(field);
        for (const key of ["", "k2"]) {
          if (field.mapKind === "scalar") map.set(key, sampleScalar(field.scalar, key.length));
          else if (field.mapKind === "enum") map.set(key, field.enum.values.at(-1)?.number ?? 0);
          else if (depth < maxDepth) map.set(key, populate(field.message, depth + 1, maxDepth));
        }
        break;
      }
    }
  }
  return r;
}

const allMessages = [...file_opamp_v1_anyvalue.messages, ...file_opamp_v1_opamp.messages];

describe("every top-level message type of opamp.proto and anyvalue.proto", () => {
  test("the two files declare the 41 upstream message types", () => {
    expect(file_opamp_v1_anyvalue.messages).toHaveLength(4);
    expect(file_opamp_v1_opamp.messages).toHaveLength(37);
  });

  test.each(allMessages.map((desc) => [desc.name, desc] as const))(
    "%s round-trips with every field populated",
    (_name, desc) => {
      const original = populate(desc);
      const bytes = toBinary(desc, original.message);
      const decoded = reflect(desc, fromBinary(desc, bytes));

      expect(equals(desc, decoded.message, original.message)).toBe(true);
      expect(toBinary(desc, decoded.message)).toEqual(bytes);
      // Every field (first member of each oneof) survived. The one exception is an enum whose only
      // value is its zero default (CommandType), which proto3 never puts on the wire.
      for (const field of desc.fields) {
        if (field.oneof && field.oneof.fields[0] !== field) continue;
        const zeroOnlyEnum = field.fieldKind === "enum" && field.enum.values.every((v) => v.number === 0);
        expect(decoded.isSet(field), `${desc.name}.${field.name}`).toBe(!zeroOnlyEnum);
      }
    },
  );

  test.each([
    ["stringValue", "service.name"],
    ["boolValue", true],
    ["intValue", -(2n ** 63n)],
    ["doubleValue", -1.5e300],
    ["arrayValue", { values: [{ value: { case: "stringValue", value: "a" } }] }],
    ["kvlistValue", { values: [{ key: "k", value: { value: { case: "boolValue", value: false } } }] }],
    ["bytesValue", new Uint8Array([0, 1, 255])],
  ] as const)("AnyValue round-trips with oneof case %s", (kase, value) => {
    const message = create(AnyValueSchema, { value: { case: kase, value } as never });
    expectRoundTrip(AnyValueSchema, message);
    expect(fromBinary(AnyValueSchema, toBinary(AnyValueSchema, message)).value.case).toBe(kase);
  });

  test("ServerErrorResponse round-trips with its Details oneof (retry_info) set", () => {
    const message = create(ServerErrorResponseSchema, {
      type: ServerErrorResponseType.ServerErrorResponseType_Unavailable,
      errorMessage: "overloaded",
      // The oneof is named `Details` upstream, and protobuf-es keeps that spelling.
      Details: { case: "retryInfo", value: { retryAfterNanoseconds: 30_000_000_000n } },
    });
    expectRoundTrip(ServerErrorResponseSchema, message);
    const decoded = fromBinary(ServerErrorResponseSchema, toBinary(ServerErrorResponseSchema, message));
    expect(decoded.Details.case).toBe("retryInfo");
    expect(decoded.Details.value?.retryAfterNanoseconds).toBe(30_000_000_000n);
  });
});

// --- realistic messages ------------------------------------------------------------------------

describe("realistic agent and server messages", () => {
  test("a full AgentToServer status report round-trips, including uint64 above 2^53 and nested health", () => {
    const message = create(AgentToServerSchema, {
      instanceUid: new Uint8Array([
        0x01, 0x93, 0x5b, 0x8e, 0x4f, 0x2a, 0x7c, 0x00, 0x8a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
      ]),
      sequenceNum: 2n ** 53n + 7n,
      capabilities: 0x3807n,
      flags: 0x1n,
      agentDescription: {
        identifyingAttributes: [
          { key: "service.name", value: { value: { case: "stringValue", value: "otelcol-contrib" } } },
          { key: "service.instance.id", value: { value: { case: "bytesValue", value: text("x") } } },
        ],
        nonIdentifyingAttributes: [
          { key: "os.type", value: { value: { case: "stringValue", value: "linux" } } },
          { key: "host.cpu.count", value: { value: { case: "intValue", value: -42n } } },
          { key: "load", value: { value: { case: "doubleValue", value: 0.75 } } },
          { key: "debug", value: { value: { case: "boolValue", value: true } } },
          {
            key: "extensions",
            value: {
              value: {
                case: "arrayValue",
                value: { values: [{ value: { case: "stringValue", value: "health_check" } }] },
              },
            },
          },
          {
            key: "labels",
            value: {
              value: {
                case: "kvlistValue",
                value: { values: [{ key: "team", value: { value: { case: "stringValue", value: "obs" } } }] },
              },
            },
          },
        ],
      },
      health: {
        healthy: false,
        startTimeUnixNano: 1_732_000_000_123_456_789n,
        statusTimeUnixNano: MAX_UINT64,
        status: "StatusRecoverableError",
        lastError: "exporter failed",
        componentHealthMap: {
          "pipeline:traces": {
            healthy: false,
            status: "StatusRecoverableError",
            componentHealthMap: {
              "exporter:otlp": { healthy: false, lastError: "connection refused", statusTimeUnixNano: 5n },
              "receiver:otlp": { healthy: true, status: "StatusOK" },
            },
          },
        },
      },
      effectiveConfig: {
        configMap: {
          configMap: { "": { body: text("receivers:\n  otlp: {}\n"), contentType: "text/yaml" } },
        },
      },
      remoteConfigStatus: {
        lastRemoteConfigHash: new Uint8Array(32).fill(0xab),
        status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED,
        errorMessage: "invalid pipeline",
      },
      packageStatuses: {
        packages: {
          "otelcol-contrib": {
            name: "otelcol-contrib",
            agentHasVersion: "0.115.0",
            status: PackageStatusEnum.PackageStatusEnum_Downloading,
            downloadDetails: { downloadPercent: 42.5, downloadBytesPerSecond: 1e6 },
          },
        },
        serverProvidedAllPackagesHash: text("h"),
      },
      customCapabilities: { capabilities: ["com.example.one", "com.example.two"] },
      availableComponents: {
        hash: text("components-hash"),
        components: {
          receivers: {
            metadata: [{ key: "code.namespace", value: { value: { case: "stringValue", value: "otlp" } } }],
            subComponentMap: { otlp: { metadata: [] } },
          },
        },
      },
      connectionSettingsStatus: { lastConnectionSettingsHash: text("cs"), status: 1 },
    });
    expectRoundTrip(AgentToServerSchema, message);

    const decoded = fromBinary(AgentToServerSchema, toBinary(AgentToServerSchema, message));
    expect(decoded.sequenceNum).toBe(2n ** 53n + 7n);
    expect(decoded.health?.statusTimeUnixNano).toBe(MAX_UINT64);
    expect(
      decoded.health?.componentHealthMap["pipeline:traces"]?.componentHealthMap["exporter:otlp"]?.lastError,
    ).toBe("connection refused");
  });

  test("a ServerToAgent with remote config and connection settings round-trips", () => {
    const message = create(ServerToAgentSchema, {
      instanceUid: new Uint8Array(16).fill(0x11),
      capabilities: 0x27n,
      flags: 0x1n,
      remoteConfig: {
        configHash: new Uint8Array(32).fill(0xcd),
        config: { configMap: { "": { body: text("exporters: {}\n"), contentType: "text/yaml" } } },
      },
      connectionSettings: {
        hash: text("settings-hash"),
        opamp: {
          destinationEndpoint: "wss://opamp.example.com/v1/opamp",
          headers: { headers: [{ key: "Authorization", value: "Bearer xag_123" }] },
          heartbeatIntervalSeconds: MAX_UINT64,
          tls: {
            insecureSkipVerify: false,
            cipherSuites: ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"],
          },
          proxy: { url: "http://proxy:3128", connectHeaders: { headers: [{ key: "k", value: "v" }] } },
        },
        ownMetrics: { destinationEndpoint: "https://otlp.example.com/v1/metrics" },
        otherConnections: { backup: { destinationEndpoint: "x", otherSettings: { a: "1", b: "" } } },
      },
      agentIdentification: { newInstanceUid: new Uint8Array(16).fill(0x22) },
      customCapabilities: { capabilities: [] },
    });
    expectRoundTrip(ServerToAgentSchema, message);
  });
});

// --- field numbers and wire types ------------------------------------------------------------------

describe("bytes on the wire match upstream field numbers and wire types", () => {
  test("AgentToServer with only agent_disconnect is field 9, length-delimited, empty: [0x4a, 0x00]", () => {
    const bytes = toBinary(AgentToServerSchema, create(AgentToServerSchema, { agentDisconnect: {} }));
    expect([...bytes]).toEqual([0x4a, 0x00]);
  });

  test("ServerToAgent capabilities = 0x27 is field 7, varint: [0x38, 0x27]", () => {
    const bytes = toBinary(ServerToAgentSchema, create(ServerToAgentSchema, { capabilities: 0x27n }));
    expect([...bytes]).toEqual([0x38, 0x27]);
  });

  test("ComponentHealth.start_time_unix_nano is fixed64 (field 2, wire type 1, 8 bytes little-endian)", () => {
    const bytes = toBinary(
      ComponentHealthSchema,
      create(ComponentHealthSchema, { startTimeUnixNano: 0x0102n }),
    );
    expect([...bytes]).toEqual([0x11, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
  });

  test("ComponentHealth.status_time_unix_nano is fixed64 (field 5, wire type 1)", () => {
    const bytes = toBinary(
      ComponentHealthSchema,
      create(ComponentHealthSchema, { statusTimeUnixNano: MAX_UINT64 }),
    );
    expect([...bytes]).toEqual([0x29, ...new Array(8).fill(0xff)]);
  });

  test("AgentToServer.instance_uid is field 1 bytes and sequence_num is field 2 varint (2^64-1 takes 10 bytes)", () => {
    const uid = new Uint8Array(16).fill(0xaa);
    const bytes = toBinary(
      AgentToServerSchema,
      create(AgentToServerSchema, { instanceUid: uid, sequenceNum: MAX_UINT64 }),
    );
    expect([...bytes]).toEqual([0x0a, 0x10, ...uid, 0x10, ...new Array(9).fill(0xff), 0x01]);
  });

  test("AgentToServer.capabilities is field 4 and flags is field 10", () => {
    const bytes = toBinary(
      AgentToServerSchema,
      create(AgentToServerSchema, { capabilities: 0x1n, flags: 0x1n }),
    );
    expect([...bytes]).toEqual([0x20, 0x01, 0x50, 0x01]);
  });

  test("AnyValue.int_value is a plain int64: -1 is a 10-byte two's-complement varint, not zigzag", () => {
    const bytes = toBinary(
      AnyValueSchema,
      create(AnyValueSchema, { value: { case: "intValue", value: -1n } }),
    );
    expect([...bytes]).toEqual([0x18, ...new Array(9).fill(0xff), 0x01]);
  });

  test("ServerErrorResponse.retry_info is field 3 and RetryInfo.retry_after_nanoseconds is field 1", () => {
    const bytes = toBinary(
      ServerErrorResponseSchema,
      create(ServerErrorResponseSchema, {
        Details: { case: "retryInfo", value: { retryAfterNanoseconds: 5n } },
      }),
    );
    expect([...bytes]).toEqual([0x1a, 0x02, 0x08, 0x05]);
  });

  test("ServerToAgent.agent_identification is field 8 with new_instance_uid as field 1", () => {
    const bytes = toBinary(
      ServerToAgentSchema,
      create(ServerToAgentSchema, { agentIdentification: { newInstanceUid: new Uint8Array([7]) } }),
    );
    expect([...bytes]).toEqual([0x42, 0x03, 0x0a, 0x01, 0x07]);
  });
});

// --- random messages ---------------------------------------------------------------------------

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

function scalarArbitrary(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return fc.string({ unit: "grapheme", maxLength: 12 });
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 24 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
      return fc.double({ noNaN: true });
    case ScalarType.INT64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.bigInt({ min: 0n, max: MAX_UINT64 });
    default:
      throw new Error(`no arbitrary for scalar type ${ScalarType[type]}`);
  }
}

/** Open enums: known values, plus any int32 (unknown values must survive a round trip too). */
function enumArbitrary(desc: DescEnum): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(...desc.values.map((v) => v.number)), int32);
}

/**
 * Random init object for any message, driven by its descriptor: each field independently
 * absent or present, lists and maps of 0..3 entries, one random case per oneof. Message-typed
 * fields stop at `maxDepth` so recursive types stay finite.
 */
function initArbitrary(
  desc: DescMessage,
  depth: number,
  maxDepth: number,
): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const nested = (message: DescMessage): fc.Arbitrary<unknown> | undefined =>
    depth < maxDepth ? initArbitrary(message, depth + 1, maxDepth) : undefined;

  for (const field of desc.fields) {
    if (field.oneof) continue;
    let arb: fc.Arbitrary<unknown> | undefined;
    switch (field.fieldKind) {
      case "scalar":
        arb = scalarArbitrary(field.scalar);
        break;
      case "enum":
        arb = enumArbitrary(field.enum);
        break;
      case "message":
        arb = nested(field.message);
        break;
      case "list": {
        const item =
          field.listKind === "scalar"
            ? scalarArbitrary(field.scalar)
            : field.listKind === "enum"
              ? enumArbitrary(field.enum)
              : nested(field.message);
        if (item) arb = fc.array(item, { maxLength: 3 });
        break;
      }
      case "map": {
        const value =
          field.mapKind === "scalar"
            ? scalarArbitrary(field.scalar)
            : field.mapKind === "enum"
              ? enumArbitrary(field.enum)
              : nested(field.message);
        if (value) {
          arb = fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 3, noNullPrototype: true });
        }
        break;
      }
    }
    if (arb) model[field.localName] = arb;
  }
  for (const oneof of desc.oneofs) {
    const cases = oneof.fields.flatMap((field) => {
      const value =
        field.fieldKind === "scalar"
          ? scalarArbitrary(field.scalar)
          : field.fieldKind === "enum"
            ? enumArbitrary(field.enum)
            : field.fieldKind === "message"
              ? nested(field.message)
              : undefined;
      return value ? [value.map((v) => ({ case: field.localName, value: v }))] : [];
    });
    if (cases.length > 0) model[oneof.localName] = fc.oneof(...cases);
  }
  return fc.record(model, { requiredKeys: [] });
}

describe("random messages (fast-check)", () => {
  test.prop([initArbitrary(AgentToServerSchema, 0, 4)])("any AgentToServer round-trips unchanged", (init) => {
    expectRoundTrip(AgentToServerSchema, create(AgentToServerSchema, init as never));
  });

  test.prop([initArbitrary(ServerToAgentSchema, 0, 4)])("any ServerToAgent round-trips unchanged", (init) => {
    expectRoundTrip(ServerToAgentSchema, create(ServerToAgentSchema, init as never));
  });

  test.prop([initArbitrary(AnyValueSchema, 0, 5)])("any AnyValue tree round-trips unchanged", (init) => {
    expectRoundTrip(AnyValueSchema, create(AnyValueSchema, init as never));
  });
});
