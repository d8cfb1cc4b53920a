/**
 * Which components a collector config uses, and which of them a build lacks (pure).
 *
 * A component counts as used when the config defines it in one of the five top-level sections:
 * the collector looks up the factory of every defined component, used in a pipeline or not
 * ("unknown type" otherwise), so a defined but unused one still needs to be in the build. The
 * ids that `service.extensions` and the pipelines name count too, each by the list it is in,
 * except that a pipeline's receiver or exporter defined under `connectors` is that connector.
 * A component's type is its id up to the first `/` (`otlp/2` → `otlp`).
 */
import { parse } from "yaml";
import {
  COMPONENT_KINDS,
  type ComponentKind,
  type ComponentRef,
  type ComponentTypes,
  componentLabel,
  SECTION_OF,
} from "./types.js";

/** The type of a component id: the part before the first `/`, trimmed. */
export function componentTypeOf(id: string): string {
  const slash = id.indexOf("/");
  return (slash === -1 ? id : id.slice(0, slash)).trim();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function idsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x) => typeof x === "string" || typeof x === "number").map(String) : [];
}

/**
 * The components `yaml` uses, sorted by kind then type, each once. A config that does not parse
 * as a mapping uses none that can be named (the collector itself rejects it, with its own error).
 */
export function componentsUsedBy(yaml: string): ComponentRef[] {
  let doc: unknown;
  try {
    doc = parse(yaml, { maxAliasCount: 1000 });
  } catch {
    return [];
  }
  if (!isRecord(doc)) return [];
  const used = new Map<ComponentKind, Set<string>>(COMPONENT_KINDS.map((k) => [k, new Set<string>()]));
  const add = (kind: ComponentKind, id: string) => {
    const type = componentTypeOf(id);
    if (type) used.get(kind)?.add(type);
  };
  for (const kind of COMPONENT_KINDS) {
    const section = doc[SECTION_OF[kind]];
    if (isRecord(section)) for (const id of Object.keys(section)) add(kind, id);
  }
  const connectorsSection = doc.connectors;
  const connectorIds = new Set(isRecord(connectorsSection) ? Object.keys(connectorsSection) : []);
  const service = doc.service;
  if (isRecord(service)) {
    for (const id of idsOf(service.extensions)) add("extension", id);
    const pipelines = service.pipelines;
    if (isRecord(pipelines)) {
      for (const pipeline of Object.values(pipelines)) {
        if (!isRecord(pipeline)) continue;
        for (const id of idsOf(pipeline.receivers)) add(connectorIds.has(id) ? "connector" : "receiver", id);
        for (const id of idsOf(pipeline.processors)) add("processor", id);
        for (const id of idsOf(pipeline.exporters)) add(connectorIds.has(id) ? "connector" : "exporter", id);
      }
    }
  }
  const out: ComponentRef[] = [];
  for (const kind of COMPONENT_KINDS) {
    for (const type of [...(used.get(kind) ?? [])].sort()) out.push({ kind, type });
  }
  return out;
}

/** The components of `used` that `available` lacks, in the order of `used`. */
export function missingFrom(used: readonly ComponentRef[], available: ComponentTypes): ComponentRef[] {
  return used.filter((ref) => !available[ref.kind].has(ref.type));
}

/** `exporter "kafka" is not in this collector's build` (or "… and …are not …"). */
export function missingComponentsMessage(missing: readonly ComponentRef[]): string {
  const names = missing.map(componentLabel);
  if (names.length === 1) return `${names[0]} is not in this collector's build`;
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are not in this collector's build`;
}
