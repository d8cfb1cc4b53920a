/**
 * What a collector build contains, as OpAMP reports it (AvailableComponents) and as the server
 * keeps it. The opamp extension reports one top-level entry per kind ("receivers", "processors",
 * "exporters", "extensions", "connectors"), each with one sub-component per type carrying a
 * `code.namespace` metadata attribute (the Go module and version it was built from).
 */

export const COMPONENT_KINDS = ["receiver", "processor", "exporter", "extension", "connector"] as const;
export type ComponentKind = (typeof COMPONENT_KINDS)[number];

/**
 * The plural of each kind: both the collector config's top-level section and the key of the
 * AvailableComponents map (opampextension `initAvailableComponents`).
 */
export const SECTION_OF: Readonly<Record<ComponentKind, string>> = Object.freeze({
  receiver: "receivers",
  processor: "processors",
  exporter: "exporters",
  extension: "extensions",
  connector: "connectors",
});

/** One ComponentDetails, as plain data (metadata values as display strings). */
export interface ComponentDetailsReport {
  metadata: Record<string, string>;
  subComponents: Record<string, ComponentDetailsReport>;
}

/** The AvailableComponents facet of one AgentToServer. */
export interface AvailableComponentsReport {
  /** Hex of the hash the agent reports for its list. */
  hash: string;
  /** The list itself, when the agent sent it (asked for, or a full-state report). */
  components?: Record<string, ComponentDetailsReport>;
  /** Encoded size of the list on the wire (0 for a hash-only report). */
  listBytes: number;
}

/** Largest component list stored (the opamp extension of otelcol-contrib sends about 60 KiB). */
export const MAX_COMPONENT_LIST_BYTES = 256 * 1024;
/** Distinct builds kept per tenant: a misbehaving agent cannot fill the database with hashes. */
export const MAX_COMPONENT_SETS_PER_TENANT = 1000;
/** Longest accepted hash (opamp extension: SHA-256, 32 bytes). */
export const MAX_COMPONENT_HASH_BYTES = 64;

/** A component a config uses (or a build lacks): its kind and type (the id before any `/`). */
export interface ComponentRef {
  kind: ComponentKind;
  type: string;
}

/** The component types of a build, by kind. */
export type ComponentTypes = Readonly<Record<ComponentKind, ReadonlySet<string>>>;

/** `exporter "kafka"`: how a user names one component. */
export function componentLabel(ref: ComponentRef): string {
  return `${ref.kind} ${JSON.stringify(ref.type)}`;
}
