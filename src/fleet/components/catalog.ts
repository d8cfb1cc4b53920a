/**
 * The component sets of collector builds (OpAMP AvailableComponents), stored once per distinct
 * hash per tenant, and the pre-flight check of a config against an agent's build.
 *
 * Rules that hold here:
 * - A hash names one list: the first stored list of a hash stays; every agent reporting that hash
 *   shares it (an agent row keeps only the hash).
 * - A list over MAX_COMPONENT_LIST_BYTES is refused: a row without components records the refusal,
 *   so the hash counts as known (the server does not ask again) and blocks nothing. A tenant keeps
 *   at most MAX_COMPONENT_SETS_PER_TENANT sets; past that, new lists are refused without a row.
 * - An agent without a stored list (never reported one, refused, or not yet received) is not
 *   blocked: the check only refuses what a reported build provably lacks.
 * - Stored sets are immutable, so their types are cached (bounded); so is the set of components a
 *   rendered config uses, per config hash: the fan-out to thousands of agents of one revision
 *   parses its YAML once.
 */
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/types.js";
import type { Logger } from "../../logger.js";
import { componentsUsedBy, missingFrom } from "./collector-config.js";
import {
  type ComponentSetRow,
  countComponentSets,
  findComponentSets,
  insertComponentSet,
} from "./repository.js";
import {
  type AvailableComponentsReport,
  COMPONENT_KINDS,
  type ComponentDetailsReport,
  type ComponentKind,
  type ComponentRef,
  type ComponentTypes,
  MAX_COMPONENT_LIST_BYTES,
  MAX_COMPONENT_SETS_PER_TENANT,
  SECTION_OF,
} from "./types.js";

/** A stored set as the check needs it. */
export interface ComponentSet {
  hash: string;
  /** Null when the list was refused: nothing to check against. */
  types: ComponentTypes | null;
  refusal: string | null;
}

export type StoreOutcome = { outcome: "stored" } | { outcome: "refused"; reason: string };

/** One component of a build as the agent view shows it. */
export interface ComponentEntryView {
  type: string;
  /** The Go module and version it was built from (`code.namespace`), when reported. */
  module: string | null;
}

/** The agent's build, as the agent detail view shows it. */
export type AvailableComponentsView = {
  hash: string;
  /** reported: the list is stored; refused: it was not accepted; awaiting: not received yet. */
  status: "reported" | "refused" | "awaiting";
  refusal: string | null;
  reportedAt: string | null;
} & Record<`${ComponentKind}s`, ComponentEntryView[]>;

const CACHED_SETS = 5_000;
const CACHED_CONFIGS = 1_000;

type StoredComponents = Record<string, ComponentDetailsReport>;

function typesOf(components: StoredComponents): ComponentTypes {
  const out = {} as Record<ComponentKind, ReadonlySet<string>>;
  for (const kind of COMPONENT_KINDS) {
    out[kind] = new Set(Object.keys(components[SECTION_OF[kind]]?.subComponents ?? {}));
  }
  return out;
}

function entriesOf(components: StoredComponents | null, kind: ComponentKind): ComponentEntryView[] {
  const subs = components?.[SECTION_OF[kind]]?.subComponents ?? {};
  return Object.keys(subs)
    .sort()
    .map((type) => ({ type, module: subs[type]?.metadata["code.namespace"] ?? null }));
}

/** Map insertion order as a FIFO: the oldest entry goes first. */
function remember<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.set(key, value);
  if (map.size > limit) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

export class ComponentCatalog {
  readonly #sets = new Map<string, ComponentSet>();
  readonly #used = new Map<string, ComponentRef[]>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** The stored set of one hash, if any. */
  async find(tenantId: string, hash: string): Promise<ComponentSet | undefined> {
    return (await this.findMany(tenantId, [hash])).get(hash);
  }

  /** The stored sets among `hashes` (cached; one statement for the ones not cached). */
  async findMany(tenantId: string, hashes: Iterable<string>): Promise<Map<string, ComponentSet>> {
    const out = new Map<string, ComponentSet>();
    const wanted: string[] = [];
    for (const hash of new Set(hashes)) {
      const cached = this.#sets.get(`${tenantId}\n${hash}`);
      if (cached) out.set(hash, cached);
      else wanted.push(hash);
    }
    for (const row of await findComponentSets(this.db, tenantId, wanted)) {
      const set: ComponentSet = {
        hash: row.hash,
        types: row.components ? typesOf(row.components as StoredComponents) : null,
        refusal: row.refusal,
      };
      remember(this.#sets, `${tenantId}\n${row.hash}`, set, CACHED_SETS);
      out.set(row.hash, set);
    }
    return out;
  }

  /**
   * Stores the list an agent reported (idempotent per hash), or records why it was refused.
   * Call it only with a report that carries a list (`components`, or `listBytes` over the limit).
   */
  async store(
    tenantId: string,
    instanceUid: string,
    report: AvailableComponentsReport,
  ): Promise<StoreOutcome> {
    const known = await this.find(tenantId, report.hash);
    if (known) return known.refusal ? { outcome: "refused", reason: known.refusal } : { outcome: "stored" };
    const at = { tenantId, instanceUid, componentsHash: report.hash, listBytes: report.listBytes };
    if ((await countComponentSets(this.db, tenantId)) >= MAX_COMPONENT_SETS_PER_TENANT) {
      const reason = `available components refused: this tenant already keeps ${MAX_COMPONENT_SETS_PER_TENANT} distinct collector builds`;
      this.logger.warn(at, reason);
      return { outcome: "refused", reason };
    }
    const refusal =
      report.listBytes > MAX_COMPONENT_LIST_BYTES || !report.components
        ? `available components refused: the list is ${report.listBytes} bytes, at most ${MAX_COMPONENT_LIST_BYTES} are accepted`
        : null;
    await insertComponentSet(this.db, {
      tenant_id: tenantId,
      hash: report.hash,
      components: refusal ? null : JSON.stringify(report.components),
      refusal,
      list_bytes: report.listBytes,
      reported_by: instanceUid,
      reported_at: this.clock.date(),
    });
    // Read back: a concurrent report of the same hash may have been stored first.
    const stored = await this.find(tenantId, report.hash);
    if (stored?.refusal) {
      this.logger.warn(at, stored.refusal);
      return { outcome: "refused", reason: stored.refusal };
    }
    this.logger.info(at, "available components stored");
    return { outcome: "stored" };
  }

  /** The components a rendered config uses (memoized per config hash). */
  usedBy(configHash: string, yaml: string): ComponentRef[] {
    const cached = this.#used.get(configHash);
    if (cached) return cached;
    const used = componentsUsedBy(yaml);
    remember(this.#used, configHash, used, CACHED_CONFIGS);
    return used;
  }

  /**
   * What a build lacks to run a config: empty when nothing is missing or the build is unknown
   * (no stored list: nothing is blocked).
   */
  missing(set: ComponentSet | undefined, configHash: string, yaml: string): ComponentRef[] {
    if (!set?.types) return [];
    return missingFrom(this.usedBy(configHash, yaml), set.types);
  }

  /** The agent's build for its detail view (null when it never reported a hash). */
  async view(tenantId: string, hash: string | null): Promise<AvailableComponentsView | null> {
    if (!hash) return null;
    const [row]: (ComponentSetRow | undefined)[] = await findComponentSets(this.db, tenantId, [hash]);
    const components = (row?.components ?? null) as StoredComponents | null;
    return {
      hash,
      status: !row ? "awaiting" : row.refusal ? "refused" : "reported",
      refusal: row?.refusal ?? null,
      reportedAt: row ? row.reported_at.toISOString() : null,
      receivers: entriesOf(components, "receiver"),
      processors: entriesOf(components, "processor"),
      exporters: entriesOf(components, "exporter"),
      extensions: entriesOf(components, "extension"),
      connectors: entriesOf(components, "connector"),
    };
  }
}
