/**
 * The desired config of agents: which assignment wins (resolve.ts), which revision it means,
 * and the rendered YAML with its canonical hash. Each tenant's assignments and the revisions
 * they point at are loaded once into a snapshot and kept until a `config.changed` event (or a
 * short TTL) invalidates it, so a fan-out to thousands of agents costs one load, not one per agent.
 */
import { createHash } from "node:crypto";
import { parse, stringify } from "yaml";
import type { Labels } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import {
  configHashHex,
  MAX_OUTPUT_LENGTH,
  type RenderContext,
  renderConfig,
  type SecretResolver,
  TemplateCache,
} from "../../render/index.js";
import { findRevisionsById, findRolloutOverlays } from "../rollouts/repository.js";
import { parseSelector } from "../selector.js";
import { LayerMerger, type Mapping, type Origin, type RenderedLayer } from "./layers.js";
import type { AssignmentWithTemplate, RevisionRow } from "./repository.js";
import { findAssignedRevisions, findTenantDisplayName, listAssignments } from "./repository.js";
import { type AssignmentCandidate, type Resolution, resolveAssignment } from "./resolve.js";

/** The one config file we send: the supervisor merges the "" entry last (highest precedence). */
export const CONFIG_FILE_NAME = "";
export const CONFIG_CONTENT_TYPE = "text/yaml";

export interface SnapshotAssignment extends AssignmentCandidate {
  row: AssignmentWithTemplate;
  /** The revision this assignment means now (pinned, or the template's latest). */
  revision: RevisionRow | undefined;
  /**
   * While a rollout of this assignment runs (or is paused): the revision of each agent it gave
   * the target to (or that keeps a superseded rollout's target); every other agent gets
   * `revision`, which is then the rollout's stable `from` revision.
   */
  rollout?: { perAgent: Map<string, RevisionRow> } | undefined;
}

export interface TenantSnapshot {
  tenantId: string;
  tenantName: string;
  assignments: SnapshotAssignment[];
  loadedAt: number;
}

/** An agent as the renderer needs it. */
export interface AgentForConfig {
  instanceUid: string;
  labels: Labels;
  /** Agent-reported description attributes (identifying and non-identifying, merged). */
  attributes: Record<string, string>;
}

/** A layer that applied to an agent: the base, or an overlay merged over it. */
export interface AppliedLayer {
  assignment: SnapshotAssignment;
  revision: RevisionRow;
}

export type DesiredConfig =
  | { kind: "none"; resolution: Resolution<SnapshotAssignment> }
  | {
      kind: "conflict";
      resolution: Resolution<SnapshotAssignment>;
      assignments: string[];
      /** Two same-priority overlays setting this path to different values (absent: a base tie). */
      path?: string[];
    }
  | {
      kind: "config";
      resolution: Resolution<SnapshotAssignment>;
      /** The winning base. */
      assignment: SnapshotAssignment;
      revision: RevisionRow;
      /** Every layer merged, base first (one entry when no overlay applies). */
      layers: AppliedLayer[];
      /** Which layer set each component and pipeline; absent for a base alone (all of it). */
      origins?: Origin[];
      yaml: string;
      hash: string;
      secretValues: string[];
    }
  | {
      kind: "render_failed";
      resolution: Resolution<SnapshotAssignment>;
      assignment: SnapshotAssignment;
      revision: RevisionRow | undefined;
      reason: string;
      message: string;
      /** Stable key of this failure for the deliveries table (one row per failing input). */
      hash: string;
      retryAfterSeconds?: number;
    };

const SNAPSHOT_TTL_MS = 60_000;

/** Attributes from a stored description ({identifying, nonIdentifying}), merged. */
export function attributesOf(description: unknown): Record<string, string> {
  const d = description as {
    identifying?: Record<string, string>;
    nonIdentifying?: Record<string, string>;
  } | null;
  return { ...(d?.nonIdentifying ?? {}), ...(d?.identifying ?? {}) };
}

export class DesiredConfigs {
  readonly #snapshots = new Map<string, Promise<TenantSnapshot>>();
  readonly #templates = new TemplateCache(1000);
  /** Merges of rendered layers, shared by every agent whose layers render the same. */
  readonly merger = new LayerMerger(
    (text) => parse(text, { maxAliasCount: 100 }) as Mapping,
    // No folding and no block scalars: a secret's value keeps one of the forms maskSecretValues
    // knows (raw or double-quoted with JSON-like escapes), so the explain preview masks it.
    (value) => stringify(value, { lineWidth: 0, blockQuote: false, aliasDuplicateObjects: false }),
    (text) => createHash("sha256").update(text).digest("base64"),
  );

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretResolver,
  ) {}

  /** Forgets a tenant's snapshot; the next computation reloads it. */
  invalidate(tenantId: string): void {
    this.#snapshots.delete(tenantId);
  }

  async snapshot(tenantId: string): Promise<TenantSnapshot> {
    const cached = this.#snapshots.get(tenantId);
    if (cached) {
      const s = await cached.catch(() => undefined);
      if (s && Date.now() - s.loadedAt < SNAPSHOT_TTL_MS) return s;
      if (this.#snapshots.get(tenantId) === cached) this.#snapshots.delete(tenantId);
    }
    const loading = this.#load(tenantId);
    this.#snapshots.set(tenantId, loading);
    loading.catch(() => {
      if (this.#snapshots.get(tenantId) === loading) this.#snapshots.delete(tenantId);
    });
    return loading;
  }

  async #load(tenantId: string): Promise<TenantSnapshot> {
    const tenantName = await findTenantDisplayName(this.db, tenantId);
    const rows = await listAssignments(this.db, tenantId);
    const wanted = await findAssignedRevisions(this.db, tenantId);
    const revisionFor = new Map(wanted.map((r) => [r.assignment_id, r as RevisionRow]));
    const rollouts = await this.#rollouts(tenantId);
    return {
      tenantId,
      tenantName: tenantName ?? tenantId,
      loadedAt: Date.now(),
      assignments: rows.map((row) => ({
        id: row.id,
        name: row.name,
        priority: row.priority,
        selector: parseSelector(row.selector),
        matchReportedAttributes: row.match_reported_attributes,
        layer: row.layer,
        row,
        ...(rollouts.has(row.id)
          ? {
              revision: rollouts.get(row.id)?.from,
              rollout: { perAgent: rollouts.get(row.id)?.perAgent ?? new Map() },
            }
          : { revision: revisionFor.get(row.id) }),
      })),
    };
  }

  /** The tenant's active rollouts by assignment id: the stable revision and who has which other. */
  async #rollouts(tenantId: string) {
    const rows = await findRolloutOverlays(this.db, tenantId);
    const out = new Map<string, { from: RevisionRow | undefined; perAgent: Map<string, RevisionRow> }>();
    if (rows.length === 0) return out;
    const ids = new Set<string>();
    for (const r of rows) {
      ids.add(r.from_revision_id);
      ids.add(r.to_revision_id);
      if (r.hold_revision_id) ids.add(r.hold_revision_id);
    }
    const revisions = new Map(
      (await findRevisionsById(this.db, [...ids])).map((r) => [r.id, r as RevisionRow]),
    );
    for (const r of rows) {
      const entry = out.get(r.assignment_id) ?? {
        from: revisions.get(r.from_revision_id),
        perAgent: new Map(),
      };
      out.set(r.assignment_id, entry);
      if (!r.instance_uid || !r.state) continue;
      const admitted = r.state === "in_progress" || r.state === "succeeded" || r.state === "failed";
      const revision = revisions.get(
        admitted ? r.to_revision_id : (r.hold_revision_id ?? r.from_revision_id),
      );
      if (revision) entry.perAgent.set(r.instance_uid, revision);
    }
    return out;
  }

  /**
   * Resolves and renders the desired config of each agent (secrets resolved through KMS). The one
   * computation behind both delivery (planner) and the explanation (explain): what one shows is
   * what the other does.
   */
  async compute(tenantId: string, agents: readonly AgentForConfig[]): Promise<Map<string, DesiredConfig>> {
    const snapshot = await this.snapshot(tenantId);
    const out = new Map<string, DesiredConfig>();
    for (const agent of agents) out.set(agent.instanceUid, await this.#computeOne(snapshot, agent));
    return out;
  }

  async #computeOne(snapshot: TenantSnapshot, agent: AgentForConfig): Promise<DesiredConfig> {
    const resolution = resolveAssignment(snapshot.assignments, agent.labels, agent.attributes);
    if (resolution.conflict.length > 0) {
      return { kind: "conflict", resolution, assignments: resolution.conflict.map((a) => a.name) };
    }
    const base = resolution.winner;
    // An overlay alone is not a config: it adds to a base, and there is none.
    if (!base) return { kind: "none", resolution };
    const ctx: RenderContext = {
      agent: { instanceUid: agent.instanceUid, labels: agent.labels, attributes: agent.attributes },
      tenant: { id: snapshot.tenantId, name: snapshot.tenantName },
    };
    const layers: AppliedLayer[] = [];
    const rendered: RenderedLayer[] = [];
    const secretValues: string[] = [];
    for (const assignment of [base, ...resolution.overlays]) {
      // A rollout moves its own assignment's layer only; the other layers keep theirs.
      const revision = assignment.rollout?.perAgent.get(agent.instanceUid) ?? assignment.revision;
      const failed = (reason: string, message: string, retryAfterSeconds?: number): DesiredConfig => ({
        kind: "render_failed",
        resolution,
        assignment,
        revision,
        reason,
        message: assignment === base ? message : `overlay "${assignment.name}": ${message}`,
        hash: createHash("sha256")
          .update(
            `render-failure\n${revision?.id ?? "none"}\n${assignment.id}\n${reason}\n${message}${layerKey(layers)}`,
          )
          .digest("hex"),
        ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      });
      if (!revision)
        return failed("missing_revision", `assignment "${assignment.name}" points at a missing revision`);
      const template = this.#templates.get(revision.id, revision.content);
      const result = await renderConfig(template, ctx, {
        resolve: (_tenant, name) => this.secrets.resolve(snapshot.tenantId, name),
      });
      if (!result.ok) {
        const where =
          result.line !== undefined
            ? ` (line ${result.line}${result.column !== undefined ? `, column ${result.column}` : ""})`
            : "";
        return failed(result.reason, `${result.message}${where}`, result.retryAfterSeconds);
      }
      layers.push({ assignment, revision });
      rendered.push({
        name: assignment.name,
        priority: assignment.priority,
        layer: assignment.layer,
        yaml: result.yaml,
      });
      secretValues.push(...result.secretValues);
    }
    const baseLayer = layers[0];
    const baseYaml = rendered[0]?.yaml;
    if (!baseLayer || baseYaml === undefined) return { kind: "none", resolution };
    let yaml = baseYaml;
    let origins: Origin[] | undefined;
    if (rendered.length > 1) {
      const merged = this.merger.merge(rendered);
      if (merged.kind === "conflict") {
        return { kind: "conflict", resolution, assignments: merged.assignments, path: merged.path };
      }
      if (merged.kind === "too_large") {
        return {
          kind: "render_failed",
          resolution,
          assignment: base,
          revision: baseLayer.revision,
          reason: "render_error",
          message: `the merged config is ${merged.length} characters, more than ${MAX_OUTPUT_LENGTH}`,
          hash: createHash("sha256")
            .update(`merge-too-large${layerKey(layers)}`)
            .digest("hex"),
        };
      }
      yaml = merged.yaml;
      origins = merged.origins;
    }
    const hash = configHashHex([{ name: CONFIG_FILE_NAME, contentType: CONFIG_CONTENT_TYPE, body: yaml }]);
    return {
      kind: "config",
      resolution,
      assignment: base,
      revision: baseLayer.revision,
      layers,
      ...(origins ? { origins } : {}),
      yaml,
      hash,
      secretValues,
    };
  }
}

/** The revisions merged so far, for failure keys (a failing overlay over another base differs). */
function layerKey(layers: readonly AppliedLayer[]): string {
  return layers.map((l) => `\n${l.assignment.id}:${l.revision.id}`).join("");
}
