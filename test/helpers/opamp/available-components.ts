/**
 * The collector build a test agent reports (OpAMP AvailableComponents), shaped as the opamp
 * extension shapes it (opampextension `initAvailableComponents`): one entry per kind
 * ("receivers", …, "connectors"), one sub-component per type with a `code.namespace` metadata
 * attribute naming the Go module and version, and a SHA-256 over the sorted
 * `kind:type=module;` list as the hash.
 */
import { createHash } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type AvailableComponents,
  AvailableComponentsSchema,
  type ComponentDetailsSchema,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { stringAttribute } from "./agent-wire.js";

/** Component types by kind (plural, as the collector config's sections are named). */
export interface CollectorBuild {
  receivers?: readonly string[];
  processors?: readonly string[];
  exporters?: readonly string[];
  extensions?: readonly string[];
  connectors?: readonly string[];
  /** The module version every component claims; default v0.156.0. */
  version?: string;
}

const KINDS = ["receivers", "processors", "exporters", "extensions", "connectors"] as const;

/** What otelcol-contrib-like test agents report unless a test says otherwise. */
export const DEFAULT_BUILD: CollectorBuild = {
  receivers: ["nop", "otlp", "hostmetrics"],
  processors: ["batch", "memory_limiter"],
  exporters: ["debug", "nop", "otlp", "otlphttp"],
  extensions: ["health_check", "opamp"],
  connectors: ["forward"],
};

function moduleOf(kind: string, type: string, version: string): string {
  return `github.com/open-telemetry/opentelemetry-collector-contrib/${kind.slice(0, -1)}/${type}${kind.slice(0, -1)} ${version}`;
}

/** The full AvailableComponents message of a build (hash and list). */
export function availableComponentsOf(build: CollectorBuild): AvailableComponents {
  const version = build.version ?? "v0.156.0";
  const digest = createHash("sha256");
  const components: Record<string, MessageInitShape<typeof ComponentDetailsSchema>> = {};
  for (const kind of KINDS) {
    const types = [...(build[kind] ?? [])].sort();
    digest.update(`${kind.slice(0, -1)}:`);
    const subComponentMap: Record<string, MessageInitShape<typeof ComponentDetailsSchema>> = {};
    for (const type of types) {
      const module = moduleOf(kind, type, version);
      digest.update(`${type}=${module};`);
      subComponentMap[type] = { metadata: [stringAttribute("code.namespace", module)] };
    }
    components[kind] = { subComponentMap };
  }
  return create(AvailableComponentsSchema, { hash: digest.digest(), components });
}

/** The same message without the list: what opamp-go sends until the server asks for it. */
export function hashOnly(full: AvailableComponents): AvailableComponents {
  return create(AvailableComponentsSchema, { hash: full.hash });
}
