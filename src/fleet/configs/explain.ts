/**
 * "Why does this agent get what it gets": the matching assignments by priority, the winner or
 * the conflict, the revision, and the rendered config with every secret masked. Also the
 * fleet-wide view of one assignment: how many agents it matches, wins, or ties on.
 *
 * The agent's config is computed exactly as delivery computes it (DesiredConfigs.compute, secrets
 * decrypted through the KMS), so a missing secret or a KMS outage reads here as the same
 * render_failed, with the same message, that its delivery records. The decrypted values only
 * serve to mask the preview (SECRET_MASK); they never leave this module. The pre-flight check
 * against the agent's build is the planner's (ComponentCatalog.missing): a config the build cannot
 * run reads here as `missing_components`, naming what the build lacks.
 */
import type { Db } from "../../db/types.js";
import { NotFoundError } from "../../errors.js";
import { maskSecretValues } from "../../render/index.js";
import { type Actor, scopeToTenant } from "../actor.js";
import { findAgent, listAgentsForMatching } from "../agents/repository.js";
import type { ComponentCatalog } from "../components/catalog.js";
import { missingComponentsMessage } from "../components/collector-config.js";
import { type ComponentRef, componentLabel } from "../components/types.js";
import { latestDelivery } from "../deliveries/repository.js";
import type { DeliveryService, RollupView } from "../deliveries/service.js";
import { attributesOf, type DesiredConfig, type DesiredConfigs } from "./desired.js";
import { type Origin, originsOf } from "./layers.js";
import { findAssignment } from "./repository.js";
import { resolveAssignment } from "./resolve.js";

export interface AgentConfigExplanation {
  instanceUid: string;
  labels: Record<string, string>;
  matching: Array<{
    assignment: string;
    priority: number;
    selector: string;
    template: string;
    revision: number | "latest";
    layer: "base" | "overlay";
  }>;
  /** Every layer merged into the config, base first (empty when nothing is sent). */
  layers: Array<{
    assignment: string;
    template: string;
    revision: number;
    priority: number;
    layer: "base" | "overlay";
  }>;
  /** Which layers set each top-level component and pipeline, in merge order. */
  origins: Array<{ section: Origin["section"]; name: string; setBy: string[] }>;
  /** The path two same-priority overlays disagree on (dotted), when that is the conflict. */
  conflictPath: string | null;
  outcome: "config" | "none" | "conflict" | "render_failed" | "missing_components";
  assignment: string | null;
  conflict: string[];
  revision: { template: string; version: number; contentSha256: string } | null;
  /** Rendered YAML with every secret value masked (SECRET_MASK), when rendering succeeds. */
  renderedConfig: string | null;
  renderError: string | null;
  /** Components the config uses that the agent's reported build lacks (nothing is sent then). */
  missingComponents: ComponentRef[];
  delivery: { configHash: string; status: string; errorMessage: string | null; updatedAt: string } | null;
  reported: unknown;
  explanation: string;
}

export interface AssignmentFleetStatus {
  matchedAgents: number;
  winningAgents: number;
  conflicts: Array<{ instanceUid: string; tiedWith: string[] }>;
  conflictingAgents: number;
  /** Agents this assignment wins whose reported build lacks a component of their config. */
  agentsMissingComponents: number;
  /** Up to MISSING_LISTED of them, with what their build lacks (`exporter "kafka"`). */
  missingComponents: Array<{ instanceUid: string; missing: string[] }>;
  deliveries: RollupView;
}

/** How many agents lacking components the assignment view lists. */
const MISSING_LISTED = 50;
/** Agents rendered per round when the assignment view checks their builds. */
const CHECK_CHUNK = 500;

export class ConfigExplainer {
  constructor(
    private readonly db: Db,
    private readonly desired: DesiredConfigs,
    private readonly deliveries: DeliveryService,
    private readonly components: ComponentCatalog,
  ) {}

  async explainAgent(actor: Actor, tenantId: string, instanceUid: string): Promise<AgentConfigExplanation> {
    scopeToTenant(actor, tenantId);
    const agent = await findAgent(this.db, { tenantId, instanceUid });
    if (!agent) throw new NotFoundError("agent");
    const computed = await this.desired.compute(tenantId, [
      { instanceUid, labels: agent.labels, attributes: attributesOf(agent.description) },
    ]);
    const d = computed.get(instanceUid);
    if (!d) throw new NotFoundError("agent");
    const last = await latestDelivery(this.db, tenantId, instanceUid);
    const matching = d.resolution.matching.map((a) => ({
      assignment: a.name,
      priority: a.priority,
      selector: a.row.selector,
      template: a.row.template_name,
      revision: a.row.revision_version ?? ("latest" as const),
      layer: a.layer,
    }));
    const base = {
      instanceUid,
      labels: agent.labels,
      matching,
      delivery: last
        ? {
            configHash: last.config_hash,
            status: last.status,
            errorMessage: last.error_message,
            updatedAt: last.updated_at.toISOString(),
          }
        : null,
      reported: agent.remote_config_status,
      missingComponents: [] as ComponentRef[],
      layers: [] as AgentConfigExplanation["layers"],
      origins: [] as AgentConfigExplanation["origins"],
      conflictPath: null,
    };
    const overlays = d.resolution.overlays.map((o) => `"${o.name}"`).join(", ");
    switch (d.kind) {
      case "none":
        return {
          ...base,
          outcome: "none",
          assignment: null,
          conflict: [],
          revision: null,
          renderedConfig: null,
          renderError: null,
          explanation:
            matching.length === 0
              ? "no assignment's selector matches this agent's labels"
              : d.resolution.overlays.length > 0
                ? `overlay(s) ${overlays} match but no base assignment does; an overlay only adds to a base, so nothing is sent`
                : "no assignment applies",
        };
      case "conflict":
        if (d.path) {
          const [one, two] = d.assignments;
          return {
            ...base,
            outcome: "conflict",
            assignment: d.resolution.winner?.name ?? null,
            conflict: d.assignments,
            conflictPath: d.path.join("."),
            revision: null,
            renderedConfig: null,
            renderError: null,
            explanation: `overlays "${one}" and "${two}" have the same priority and set ${d.path.join(".")} to different values; change one's priority (the higher one wins) or make them agree. Nothing is sent until then.`,
          };
        }
        return {
          ...base,
          outcome: "conflict",
          assignment: null,
          conflict: d.assignments,
          revision: null,
          renderedConfig: null,
          renderError: null,
          explanation: `assignments ${d.assignments.join(", ")} match with the same highest priority; raise one's priority or narrow its selector. Nothing is sent until the tie is resolved.`,
        };
      case "render_failed":
        return {
          ...base,
          outcome: "render_failed",
          assignment: d.assignment.name,
          conflict: [],
          revision: d.revision
            ? {
                template: d.assignment.row.template_name,
                version: d.revision.version,
                contentSha256: d.revision.content_sha256,
              }
            : null,
          renderedConfig: null,
          renderError: d.message,
          explanation: `assignment "${d.assignment.name}" wins (priority ${d.assignment.priority}) but ${
            d.reason === "secret_unavailable"
              ? "a secret its template uses cannot be read now; nothing is sent until it can"
              : "its template does not render for this agent"
          }`,
        };
      case "config": {
        const build = agent.available_components_hash;
        const set = build ? await this.components.find(tenantId, build) : undefined;
        const missing = this.components.missing(set, d.hash, d.yaml);
        const shown = {
          ...base,
          assignment: d.assignment.name,
          conflict: [],
          revision: {
            template: d.assignment.row.template_name,
            version: d.revision.version,
            contentSha256: d.revision.content_sha256,
          },
          // Every value, however short: the preview never shows one (a short one may mask more).
          renderedConfig: maskSecretValues(d.yaml, d.secretValues),
          renderError: null,
          layers: d.layers.map((l) => ({
            assignment: l.assignment.name,
            template: l.assignment.row.template_name,
            revision: l.revision.version,
            priority: l.assignment.priority,
            layer: l.assignment.layer,
          })),
          origins: originsView(d, this.desired),
        };
        const merged =
          d.layers.length > 1
            ? `, merged with overlay(s) ${d.layers
                .slice(1)
                .map((l) => `"${l.assignment.name}"`)
                .join(", ")}`
            : "";
        const wins = `assignment "${d.assignment.name}" wins with priority ${d.assignment.priority}${merged}`;
        if (missing.length > 0) {
          return {
            ...shown,
            outcome: "missing_components",
            missingComponents: missing,
            explanation: `${wins} but ${missingComponentsMessage(missing)}; nothing is sent until the agent reports a build that has ${missing.length === 1 ? "it" : "them"}`,
          };
        }
        return {
          ...shown,
          outcome: "config",
          explanation: `${wins}${
            matching.length > 1 ? ` over ${matching.length - 1} other matching assignment(s)` : ""
          }; it ${d.assignment.row.revision_version === null ? "tracks the latest revision" : "is pinned to this revision"}`,
        };
      }
    }
  }

  /** How an assignment fares across the tenant's agents (conflicts listed, up to 50). */
  async assignmentStatus(actor: Actor, tenantId: string, name: string): Promise<AssignmentFleetStatus> {
    scopeToTenant(actor, tenantId);
    const row = await findAssignment(this.db, tenantId, name);
    if (!row) throw new NotFoundError("assignment");
    const snapshot = await this.desired.snapshot(tenantId);
    const agents = await listAgentsForMatching(this.db, tenantId);
    let matched = 0;
    let winning = 0;
    let conflicting = 0;
    const conflicts: AssignmentFleetStatus["conflicts"] = [];
    const winners: typeof agents = [];
    for (const a of agents) {
      const r = resolveAssignment(snapshot.assignments, a.labels, attributesOf(a.description));
      if (!r.matching.some((m) => m.name === name)) continue;
      matched++;
      // An overlay "wins" the agents whose base it is merged over.
      if (r.winner?.name === name || (r.winner && r.overlays.some((o) => o.name === name))) {
        winning++;
        winners.push(a);
      }
      if (r.conflict.some((c) => c.name === name)) {
        conflicting++;
        if (conflicts.length < 50) {
          conflicts.push({
            instanceUid: a.instance_uid,
            tiedWith: r.conflict.map((c) => c.name).filter((n) => n !== name),
          });
        }
      }
    }
    const lacking = await this.#lackingComponents(tenantId, winners);
    return {
      matchedAgents: matched,
      winningAgents: winning,
      conflictingAgents: conflicting,
      conflicts,
      agentsMissingComponents: lacking.length,
      missingComponents: lacking.slice(0, MISSING_LISTED),
      deliveries: await this.deliveries.rollupForAssignment(tenantId, row.id),
    };
  }

  /**
   * Which of these agents cannot run the config they would get: only agents with a stored
   * component list are rendered (the others are never blocked), and each distinct config is
   * parsed once (ComponentCatalog.usedBy).
   */
  async #lackingComponents(
    tenantId: string,
    agents: ReadonlyArray<{
      instance_uid: string;
      labels: Record<string, string>;
      description: unknown;
      available_components_hash: string | null;
    }>,
  ): Promise<Array<{ instanceUid: string; missing: string[] }>> {
    const sets = await this.components.findMany(
      tenantId,
      agents.flatMap((a) => (a.available_components_hash ? [a.available_components_hash] : [])),
    );
    const checked = agents.filter((a) => sets.get(a.available_components_hash ?? "")?.types);
    const out: Array<{ instanceUid: string; missing: string[] }> = [];
    for (let i = 0; i < checked.length; i += CHECK_CHUNK) {
      const chunk = checked.slice(i, i + CHECK_CHUNK);
      const desired = await this.desired.compute(
        tenantId,
        chunk.map((a) => ({
          instanceUid: a.instance_uid,
          labels: a.labels,
          attributes: attributesOf(a.description),
        })),
      );
      for (const a of chunk) {
        const d = desired.get(a.instance_uid);
        if (d?.kind !== "config") continue;
        const missing = this.components.missing(sets.get(a.available_components_hash ?? ""), d.hash, d.yaml);
        if (missing.length > 0)
          out.push({ instanceUid: a.instance_uid, missing: missing.map(componentLabel) });
      }
    }
    return out;
  }
}

/** Which layers set each component and pipeline (a base alone set all of it: one parse). */
function originsView(
  d: Extract<DesiredConfig, { kind: "config" }>,
  desired: DesiredConfigs,
): AgentConfigExplanation["origins"] {
  const names = d.layers.map((l) => l.assignment.name);
  const origins: Origin[] = d.origins ?? originsOf([desired.merger.parseOnce(d.yaml)]);
  return origins.map((o) => ({
    section: o.section,
    name: o.name,
    setBy: o.layers.map((i) => names[i] ?? "?"),
  }));
}
