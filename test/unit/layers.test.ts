/**
 * The merge of layered configs (docs/layers.md), as the collector merges several `--config`
 * sources in the `append` list mode: maps key by key, the component lists of
 * `service.extensions` and `service.pipelines.*.{receivers,processors,exporters}` appended in
 * layer order without duplicates, anything else replaced by the later layer.
 */

import { createHash } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  conflictingPath,
  LayerMerger,
  type Mapping,
  mergeLayers,
  originsOf,
  type Value,
} from "../../src/fleet/configs/layers.js";

const name = fc.constantFrom(
  "otlp",
  "otlp/2",
  "file",
  "debug",
  "batch",
  "memory_limiter",
  "health_check",
  "nop",
);
const names = fc.array(name, { maxLength: 5 });
const scalar: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom("a", "b", "localhost:4317", ""),
);
const { tree } = fc.letrec<{ tree: Value }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(scalar, { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("endpoint", "timeout", "protocols", "grpc", "x"), tie("tree"), {
      maxKeys: 3,
    }),
  ),
}));
const components = fc.dictionary(name, tree, { maxKeys: 3 });
const pipeline = fc.record({ receivers: names, processors: names, exporters: names }, { requiredKeys: [] });
/** A collector config: component sections, service lists drawn from a shared pool of names. */
const config: fc.Arbitrary<Mapping> = fc
  .record(
    {
      receivers: components,
      processors: components,
      exporters: components,
      extensions: components,
      service: fc.record(
        {
          extensions: names,
          pipelines: fc.dictionary(fc.constantFrom("traces", "metrics", "logs", "logs/security"), pipeline, {
            maxKeys: 3,
          }),
          telemetry: fc.dictionary(fc.constantFrom("logs", "metrics"), tree, { maxKeys: 2 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  )
  .map((c) => c as Mapping);

const COMPONENT_LISTS = [
  ["service", "extensions"],
  ...["traces", "metrics", "logs", "logs/security"].flatMap((p) =>
    ["receivers", "processors", "exporters"].map((l) => ["service", "pipelines", p, l]),
  ),
];

function at(v: Value | undefined, path: readonly string[]): Value | undefined {
  let cur = v;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return undefined;
    cur = Object.hasOwn(cur, k) ? cur[k] : undefined;
  }
  return cur;
}

/** Plain objects, for toEqual against null-prototype results. */
const plain = (v: Value): unknown => JSON.parse(JSON.stringify(v));

describe("merging layers", () => {
  test.prop([config])("a base alone (merged with nothing) is the base", (base) => {
    expect(plain(mergeLayers(base, {}))).toEqual(plain(base));
    expect(plain(mergeLayers({}, base))).toEqual(plain(base));
  });

  test.prop([config, config, config])(
    "merging is deterministic in layer order: the same layers in the same order give the same YAML",
    (a, b, c) => {
      const once = stringify(mergeLayers(mergeLayers(a, b), c));
      const again = stringify(
        mergeLayers(mergeLayers(structuredClone(a), structuredClone(b)), structuredClone(c)),
      );
      expect(again).toBe(once);
    },
  );

  test.prop([config, config])("a layer merged twice changes nothing", (base, overlay) => {
    const once = mergeLayers(base, overlay);
    expect(plain(mergeLayers(once, overlay))).toEqual(plain(once));
    expect(plain(mergeLayers(base, base))).toEqual(plain(base));
  });

  test.prop([config, config])(
    "component lists keep order, base first, then the overlay's new entries, without duplicates",
    (base, overlay) => {
      const merged = mergeLayers(base, overlay);
      for (const path of COMPONENT_LISTS) {
        const b = at(base, path);
        const o = at(overlay, path);
        const m = at(merged, path);
        if (!Array.isArray(o)) continue;
        if (!Array.isArray(b)) {
          // Only the overlay has the list (or the base has something else there): it is the overlay's.
          expect(m).toEqual(o);
          continue;
        }
        expect(Array.isArray(m)).toBe(true);
        const list = m as Value[];
        expect(list.slice(0, b.length)).toEqual(b);
        const added = o.filter((x, i) => !b.includes(x) && o.indexOf(x) === i);
        expect(list.slice(b.length)).toEqual(added);
        if (new Set(b).size === b.length) expect(new Set(list).size).toBe(list.length);
      }
    },
  );

  test.prop([config, config])(
    "the merged output is a YAML mapping that parses back to the merge",
    (base, overlay) => {
      const merged = mergeLayers(base, overlay);
      const text = stringify(merged, { lineWidth: 0, blockQuote: false, aliasDuplicateObjects: false });
      const back = parse(text);
      expect(typeof back === "object" && back !== null && !Array.isArray(back)).toBe(true);
      expect(back).toEqual(plain(merged));
    },
  );

  test.prop([config, config])("anything else is the later layer's value", (base, overlay) => {
    const merged = mergeLayers(base, overlay);
    const telemetry = at(overlay, ["service", "telemetry", "logs"]);
    const isMap = typeof telemetry === "object" && telemetry !== null && !Array.isArray(telemetry);
    if (telemetry !== undefined && !isMap)
      expect(at(merged, ["service", "telemetry", "logs"])).toEqual(telemetry);
  });

  it("merges the issue's example: an overlay adds an exporter to the base's pipeline", () => {
    const base = parse(`
receivers: { otlp: { protocols: { grpc: { endpoint: "0.0.0.0:4317" } } } }
exporters: { file: { path: /var/log/otel.json } }
service:
  extensions: [health_check]
  pipelines: { logs: { receivers: [otlp], exporters: [file] } }
  telemetry: { logs: { level: info } }
`) as Mapping;
    const overlay = parse(`
exporters: { "otlphttp/security": { endpoint: https://siem.example } }
service:
  extensions: [health_check, pprof]
  pipelines: { logs: { exporters: [file, "otlphttp/security"] } }
  telemetry: { logs: { level: debug } }
`) as Mapping;
    expect(plain(mergeLayers(base, overlay))).toEqual({
      receivers: { otlp: { protocols: { grpc: { endpoint: "0.0.0.0:4317" } } } },
      exporters: {
        file: { path: "/var/log/otel.json" },
        "otlphttp/security": { endpoint: "https://siem.example" },
      },
      service: {
        extensions: ["health_check", "pprof"],
        pipelines: { logs: { receivers: ["otlp"], exporters: ["file", "otlphttp/security"] } },
        telemetry: { logs: { level: "debug" } },
      },
    });
    // A list that is not a component list is replaced, as the collector's default merge does.
    expect(plain(mergeLayers({ a: { list: [1, 2] } }, { a: { list: [3] } }))).toEqual({ a: { list: [3] } });
    // null is a value like any other: the later layer's null replaces.
    expect(
      plain(mergeLayers({ exporters: { debug: { verbosity: "basic" } } }, { exporters: { debug: null } })),
    ).toEqual({
      exporters: { debug: null },
    });
  });

  it("origins name every layer that defines a component or pipeline, in merge order", () => {
    const base = {
      receivers: { otlp: null },
      exporters: { file: null },
      service: { pipelines: { logs: {} } },
    };
    const overlay = {
      exporters: { file: { path: "x" }, kafka: null },
      service: { pipelines: { logs: {}, traces: {} } },
    };
    expect(originsOf([base, overlay])).toEqual([
      { section: "receivers", name: "otlp", layers: [0] },
      { section: "exporters", name: "file", layers: [0, 1] },
      { section: "exporters", name: "kafka", layers: [1] },
      { section: "pipelines", name: "logs", layers: [0, 1] },
      { section: "pipelines", name: "traces", layers: [1] },
    ]);
  });
});

describe("same-priority overlays", () => {
  it("conflict when they set one path to different values, a value against a map included", () => {
    expect(
      conflictingPath({ exporters: { x: { endpoint: "a" } } }, { exporters: { x: { endpoint: "b" } } }),
    ).toEqual(["exporters", "x", "endpoint"]);
    expect(conflictingPath({ exporters: { x: null } }, { exporters: { x: { endpoint: "b" } } })).toEqual([
      "exporters",
      "x",
    ]);
  });

  it("do not conflict when they agree, touch different paths, or list different components", () => {
    expect(
      conflictingPath({ exporters: { x: { endpoint: "a" } } }, { exporters: { x: { endpoint: "a" } } }),
    ).toBe(undefined);
    expect(conflictingPath({ exporters: { x: null } }, { exporters: { y: null } })).toBe(undefined);
    expect(
      conflictingPath(
        { service: { pipelines: { logs: { exporters: ["x"] } }, extensions: ["a"] } },
        { service: { pipelines: { logs: { exporters: ["y"] } }, extensions: ["b"] } },
      ),
    ).toBe(undefined);
  });

  test.prop([config, config])("a conflict is symmetric in its existence", (a, b) => {
    expect(conflictingPath(a, b) === undefined).toBe(conflictingPath(b, a) === undefined);
  });

  test.prop([config])("a layer never conflicts with itself", (a) => {
    expect(conflictingPath(a, structuredClone(a))).toBe(undefined);
  });
});

describe("LayerMerger", () => {
  const merger = () =>
    new LayerMerger(
      (text) => parse(text) as Mapping,
      (value) => stringify(value, { lineWidth: 0, blockQuote: false }),
      (text) => createHash("sha256").update(text).digest("base64"),
    );

  it("parses each combination of rendered layers once however many agents share it", () => {
    const m = merger();
    const layers = [
      { name: "platform", priority: 0, layer: "base" as const, yaml: "exporters: { file: {} }\n" },
      { name: "security", priority: 0, layer: "overlay" as const, yaml: "exporters: { kafka: {} }\n" },
    ];
    const outcomes = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const r = m.merge(layers.map((l) => ({ ...l })));
      if (r.kind === "merged") outcomes.add(r.yaml);
    }
    expect(m.parses).toBe(2);
    expect([...outcomes]).toEqual(["exporters:\n  file: {}\n  kafka: {}\n"]);
    // An agent whose overlay renders differently is another combination: parsed once more.
    m.merge([layers[0], { ...layers[1], yaml: "exporters: { debug: {} }\n" }] as typeof layers);
    expect(m.parses).toBe(4);
  });

  it("reports a conflict between same-priority overlays, naming both and the path", () => {
    const r = merger().merge([
      { name: "platform", priority: 0, layer: "base", yaml: "a: 1\n" },
      { name: "team-a", priority: 5, layer: "overlay", yaml: "exporters: { x: { endpoint: a } }\n" },
      { name: "team-b", priority: 5, layer: "overlay", yaml: "exporters: { x: { endpoint: b } }\n" },
    ]);
    expect(r).toEqual({
      kind: "conflict",
      assignments: ["team-a", "team-b"],
      path: ["exporters", "x", "endpoint"],
    });
  });

  it("lets a higher-priority overlay win over a lower one without a conflict", () => {
    const r = merger().merge([
      { name: "platform", priority: 0, layer: "base", yaml: "a: 1\n" },
      { name: "team-a", priority: 5, layer: "overlay", yaml: "exporters: { x: { endpoint: a } }\n" },
      { name: "team-b", priority: 6, layer: "overlay", yaml: "exporters: { x: { endpoint: b } }\n" },
    ]);
    expect(r.kind === "merged" && parse(r.yaml)).toEqual({ a: 1, exporters: { x: { endpoint: "b" } } });
  });
});
