/**
 * Layered configs (issue 14, docs/layers.md): a base and overlays merged the way the collector
 * merges several `--config` sources with the `append` list mode (confmap/internal/merge.go:
 * koanf `maps.Merge` plus `mergeAppend`/`mergeSlice` on the component-list paths). Pure.
 *
 * - Maps merge key by key (recursively).
 * - The component lists `service.extensions` and `service.pipelines.*.{receivers,processors,
 *   exporters}` are appended: the earlier list as it is, then each later entry not already
 *   present (mergeSlice keeps `dest` and appends the `src` entries `isPresent` does not find).
 * - Any other value (scalars, null, other lists, a map meeting a non-map) is replaced by the
 *   later layer (koanf `maps.Merge`: a non-map source value overwrites).
 */

/** A parsed YAML value. */
export type Value = null | boolean | number | string | Value[] | { [key: string]: Value };
export type Mapping = { [key: string]: Value };

const PIPELINE_LISTS = new Set(["receivers", "processors", "exporters"]);

/** True for the paths whose lists are appended instead of replaced. */
export function isComponentListPath(path: readonly string[]): boolean {
  if (path.length === 2) return path[0] === "service" && path[1] === "extensions";
  return (
    path.length === 4 && path[0] === "service" && path[1] === "pipelines" && PIPELINE_LISTS.has(path[3] ?? "")
  );
}

export function isMapping(v: unknown): v is Mapping {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `later` merged over `earlier` (neither is modified; the result shares no mutable structure). */
export function mergeLayers(earlier: Mapping, later: Mapping): Mapping {
  return mergeAt(earlier, later, []);
}

function mergeAt(earlier: Mapping, later: Mapping, path: string[]): Mapping {
  const out: Mapping = Object.create(null);
  for (const [k, v] of Object.entries(earlier)) out[k] = clone(v);
  for (const [k, v] of Object.entries(later)) {
    const here = [...path, k];
    const before = Object.hasOwn(out, k) ? out[k] : undefined;
    if (isMapping(v) && isMapping(before)) out[k] = mergeAt(before, v, here);
    else if (Array.isArray(v) && Array.isArray(before) && isComponentListPath(here))
      out[k] = appendDistinct(before, v);
    else out[k] = clone(v);
  }
  return out;
}

function appendDistinct(earlier: readonly Value[], later: readonly Value[]): Value[] {
  const out = earlier.map(clone);
  for (const v of later) if (!out.some((o) => deepEqual(o, v))) out.push(clone(v));
  return out;
}

function clone(v: Value): Value {
  if (Array.isArray(v)) return v.map(clone);
  if (isMapping(v)) {
    const out: Mapping = Object.create(null);
    for (const [k, x] of Object.entries(v)) out[k] = clone(x);
    return out;
  }
  return v;
}

export function deepEqual(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isMapping(a) && isMapping(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

/**
 * The leaf values a layer sets, by path (maps descended; a component list, a non-empty other
 * list, a scalar or an empty map is a leaf). Component lists are left out: they append, so two
 * layers listing different components never disagree.
 */
function leaves(v: Mapping, path: string[] = [], out = new Map<string, { path: string[]; value: Value }>()) {
  for (const [k, x] of Object.entries(v)) {
    const here = [...path, k];
    if (isMapping(x) && Object.keys(x).length > 0) leaves(x, here, out);
    else if (!(Array.isArray(x) && isComponentListPath(here)))
      out.set(here.join("\u0000"), { path: here, value: x });
  }
  return out;
}

/**
 * The first path two same-priority overlays set to different values (a value against a map
 * under it counts), or undefined. Their order would decide the result, and nothing says which
 * should win: that is a conflict, never settled by an arbitrary pick.
 */
export function conflictingPath(a: Mapping, b: Mapping): string[] | undefined {
  const la = leaves(a);
  const lb = leaves(b);
  for (const [key, x] of la) {
    const y = lb.get(key);
    if (y && !deepEqual(x.value, y.value)) return x.path;
  }
  // A leaf in one where the other has a map with keys under it (or the reverse).
  for (const [one, other] of [
    [la, lb],
    [lb, la],
  ] as const) {
    for (const [key, x] of one) {
      const prefix = `${key}\u0000`;
      for (const k of other.keys()) if (k.startsWith(prefix)) return x.path;
    }
  }
  return undefined;
}

/** A component or pipeline of the merged config, and the layers (in merge order) that set it. */
export interface Origin {
  section: OriginSection;
  name: string;
  /** Indexes into the merged layers, in order; the last one's values win on a shared path. */
  layers: number[];
}

const COMPONENT_SECTIONS = ["receivers", "processors", "exporters", "extensions", "connectors"] as const;
export type OriginSection = (typeof COMPONENT_SECTIONS)[number] | "pipelines";

/** Which layer defines each top-level component and each pipeline of the merged result. */
export function originsOf(layers: readonly Mapping[]): Origin[] {
  const out = new Map<string, Origin>();
  const note = (section: OriginSection, name: string, index: number) => {
    const key = `${section}/${name}`;
    const o = out.get(key) ?? { section, name, layers: [] };
    if (!o.layers.includes(index)) o.layers.push(index);
    out.set(key, o);
  };
  layers.forEach((layer, index) => {
    for (const section of COMPONENT_SECTIONS) {
      const m = layer[section];
      if (isMapping(m)) for (const name of Object.keys(m)) note(section, name, index);
    }
    const service = layer.service;
    const pipelines = isMapping(service) ? service.pipelines : undefined;
    if (isMapping(pipelines)) for (const name of Object.keys(pipelines)) note("pipelines", name, index);
  });
  return [...out.values()].sort(
    (x, y) =>
      sectionOrder(x.section) - sectionOrder(y.section) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0),
  );
}

function sectionOrder(section: string): number {
  const i = (COMPONENT_SECTIONS as readonly string[]).indexOf(section);
  return i < 0 ? COMPONENT_SECTIONS.length : i;
}

/** One rendered layer, as the merger takes it. */
export interface RenderedLayer {
  /** The assignment's name (conflict messages). */
  name: string;
  priority: number;
  layer: "base" | "overlay";
  /** The rendered YAML (a mapping: the renderer checked it). */
  yaml: string;
}

export type MergeOutcome =
  | { kind: "merged"; yaml: string; origins: Origin[] }
  | { kind: "conflict"; assignments: [string, string]; path: string[] }
  | { kind: "too_large"; length: number };

/** Largest merged config, as for one rendered config (MAX_OUTPUT_LENGTH). */
export const MAX_MERGED_LENGTH = 4 * 1024 * 1024;
const CACHED_MERGES = 2000;

/**
 * Merges rendered layers (base first, overlays in ascending priority), memoized by the exact
 * rendered texts: agents whose layers render the same (no per-agent values, or equal ones) share
 * one parse and one merge, so a fan-out to thousands of agents parses each combination once.
 * Only called when an overlay applies; a base alone is sent as rendered and never parsed here.
 */
export class LayerMerger {
  readonly #cache = new Map<string, MergeOutcome>();
  /** YAML documents parsed so far (for tests and the fan-out measurement). */
  parses = 0;

  constructor(
    private readonly parse: (text: string) => Mapping,
    private readonly stringify: (value: Mapping) => string,
    private readonly digest: (text: string) => string,
  ) {}

  /** Parses one config for a view (the explain view of a base alone); not cached. */
  parseOnce(text: string): Mapping {
    return this.parse(text);
  }

  merge(layers: readonly RenderedLayer[]): MergeOutcome {
    const key = layers
      .map((l) => `${l.layer}\u0000${l.priority}\u0000${l.name}\u0000${this.digest(l.yaml)}`)
      .join("\u0001");
    const cached = this.#cache.get(key);
    if (cached) {
      // Most recently used last: the oldest entry is the first one evicted.
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const outcome = this.#compute(layers);
    if (this.#cache.size >= CACHED_MERGES) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, outcome);
    return outcome;
  }

  #compute(layers: readonly RenderedLayer[]): MergeOutcome {
    const parsed = layers.map((l) => {
      this.parses++;
      return this.parse(l.yaml);
    });
    for (let i = 0; i < layers.length; i++) {
      for (let j = i + 1; j < layers.length; j++) {
        const a = layers[i];
        const b = layers[j];
        if (!a || !b || a.layer !== "overlay" || b.layer !== "overlay" || a.priority !== b.priority) continue;
        const path = conflictingPath(parsed[i] ?? {}, parsed[j] ?? {});
        if (path) return { kind: "conflict", assignments: [a.name, b.name], path };
      }
    }
    const merged = parsed.slice(1).reduce((acc, next) => mergeLayers(acc, next), parsed[0] ?? {});
    const yaml = this.stringify(merged);
    if (yaml.length > MAX_MERGED_LENGTH) return { kind: "too_large", length: yaml.length };
    return { kind: "merged", yaml, origins: originsOf(parsed) };
  }
}
