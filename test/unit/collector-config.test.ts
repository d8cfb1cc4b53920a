/**
 * Which components a collector config uses (the pre-flight check's input): every component
 * defined in the five sections, by type (the id before the first `/`), and the ids the
 * pipelines and service.extensions name, a pipeline's receiver or exporter being a connector
 * when the config defines it under `connectors`.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  componentsUsedBy,
  componentTypeOf,
  missingComponentsMessage,
  missingFrom,
} from "../../src/fleet/components/collector-config.js";
import {
  COMPONENT_KINDS,
  type ComponentKind,
  type ComponentTypes,
} from "../../src/fleet/components/types.js";

const type = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
const id = fc
  .tuple(type, fc.option(fc.stringMatching(/^[a-z0-9_/-]{1,8}$/), { nil: undefined }))
  .map(([t, name]) => (name === undefined ? t : `${t}/${name}`));
const ids = fc.uniqueArray(id, { maxLength: 5 });

const SECTIONS: Record<ComponentKind, string> = {
  receiver: "receivers",
  processor: "processors",
  exporter: "exporters",
  extension: "extensions",
  connector: "connectors",
};

/** A collector config: components per kind, pipelines naming only defined ones. */
const config = fc
  .record({
    receiver: ids,
    processor: ids,
    exporter: ids,
    extension: ids,
    connector: ids,
  })
  .chain((defined) =>
    fc
      .record({
        pipelines: fc.dictionary(
          fc.stringMatching(/^(traces|metrics|logs)(\/[a-z0-9]{1,4})?$/),
          fc.record({
            receivers: fc.subarray([...defined.receiver, ...defined.connector]),
            processors: fc.subarray(defined.processor),
            exporters: fc.subarray([...defined.exporter, ...defined.connector]),
          }),
          { maxKeys: 4 },
        ),
        extensions: fc.subarray(defined.extension),
      })
      .map((service) => ({ defined, service })),
  );

function yamlOf(c: { defined: Record<ComponentKind, string[]>; service: object }): string {
  const doc: Record<string, unknown> = {};
  for (const kind of COMPONENT_KINDS) {
    doc[SECTIONS[kind]] = Object.fromEntries(c.defined[kind].map((i) => [i, null]));
  }
  doc.service = c.service;
  return stringify(doc);
}

function typesOf(defined: Record<ComponentKind, string[]>): ComponentTypes {
  const out = {} as Record<ComponentKind, Set<string>>;
  for (const kind of COMPONENT_KINDS) out[kind] = new Set(defined[kind].map(componentTypeOf));
  return out;
}

describe("components a collector config uses", () => {
  test.prop([config])("are the defined components of all five kinds, by type, each once", (c) => {
    const used = componentsUsedBy(yamlOf(c));
    const expected = COMPONENT_KINDS.flatMap((kind) =>
      [...typesOf(c.defined)[kind]].sort().map((t) => ({ kind, type: t })),
    );
    expect(used).toEqual(expected);
  });

  test.prop([config])(
    "a build with exactly those types lacks nothing; without one, it lacks that one",
    (c) => {
      const used = componentsUsedBy(yamlOf(c));
      const all = typesOf(c.defined);
      expect(missingFrom(used, all)).toEqual([]);
      for (const ref of used) {
        const without = { ...all, [ref.kind]: new Set([...all[ref.kind]].filter((t) => t !== ref.type)) };
        expect(missingFrom(used, without)).toEqual([ref]);
      }
    },
  );

  test.prop([type, fc.stringMatching(/^[a-z0-9_/-]{0,8}$/)])(
    "the type is the id before the first /",
    (t, name) => {
      expect(componentTypeOf(`${t}/${name}`)).toBe(t);
      expect(componentTypeOf(t)).toBe(t);
    },
  );

  it("counts a pipeline's connector as a connector, and a named but undefined id by its list", () => {
    const used = componentsUsedBy(`receivers:
  otlp: {}
connectors:
  spanmetrics/a: {}
exporters:
  otlphttp/x: {}
service:
  extensions: [health_check/1]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spanmetrics/a, kafka]
    metrics:
      receivers: [spanmetrics/a]
      processors: [batch]
      exporters: [otlphttp/x]
`);
    expect(used).toEqual([
      { kind: "receiver", type: "otlp" },
      { kind: "processor", type: "batch" },
      { kind: "exporter", type: "kafka" },
      { kind: "exporter", type: "otlphttp" },
      { kind: "extension", type: "health_check" },
      { kind: "connector", type: "spanmetrics" },
    ]);
  });

  it("finds nothing in a config that is not a mapping", () => {
    expect(componentsUsedBy("- a\n- b\n")).toEqual([]);
    expect(componentsUsedBy("receivers: [unclosed\n")).toEqual([]);
  });

  it("names what a build lacks as a user reads it", () => {
    expect(missingComponentsMessage([{ kind: "exporter", type: "kafka" }])).toBe(
      `exporter "kafka" is not in this collector's build`,
    );
    expect(
      missingComponentsMessage([
        { kind: "processor", type: "batch" },
        { kind: "exporter", type: "kafka" },
        { kind: "connector", type: "forward" },
      ]),
    ).toBe(`processor "batch", exporter "kafka" and connector "forward" are not in this collector's build`);
  });
});
