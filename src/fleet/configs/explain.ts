/**
 * "Why does this agent get what it gets": the matching assignments by priority, the winner or
 * the conflict, the revision, and the rendered config with every secret masked. Also the
 * fleet-wide view of one assignment: how many agents it matches, wins, or ties on.
 *
 * The agent's config is computed exactly as delivery computes it (DesiredConfigs.compute, secrets
 * decrypted through the KMS), so a missing secret or a KMS outage reads here as the same
 * render_failed, with the same message, that its delivery records. The decrypted values only
 * serve to mask the preview (SECRET_MASK); they never leave this module.
 */
import type { Db } from "../../db/types.js";
import { NotFoundError } from "../../errors.js";
import { maskSecretValues } from "../../render/index.js";
import { type Actor, authorizeTenant } from "../actor.js";
import { findAgent, listAgentsForMatching } from "../agents/repository.js";
import { latestDelivery } from "../deliveries/repository.js";
import type { DeliveryService, RollupView } from "../deliveries/service.js";
import { attributesOf, type DesiredConfigs } from "./desired.js";
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
  }>;
  outcome: "config" | "none" | "conflict" | "render_failed";
  assignment: string | null;
  conflict: string[];
  revision: { template: string; version: number; contentSha256: string } | null;
  /** Rendered YAML with every secret value masked (SECRET_MASK), when rendering succeeds. */
  renderedConfig: string | null;
  renderError: string | null;
  delivery: { configHash: string; status: string; errorMessage: string | null; updatedAt: string } | null;
  reported: unknown;
  explanation: string;
}

export interface AssignmentFleetStatus {
  matchedAgents: number;
  winningAgents: number;
  conflicts: Array<{ instanceUid: string; tiedWith: string[] }>;
  conflictingAgents: number;
  deliveries: RollupView;
}

export class ConfigExplainer {
  constructor(
    private readonly db: Db,
    private readonly desired: DesiredConfigs,
    private readonly deliveries: DeliveryService,
  ) {}

  async explainAgent(actor: Actor, tenantId: string, instanceUid: string): Promise<AgentConfigExplanation> {
    authorizeTenant(actor, tenantId, "viewer");
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
    };
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
              : "no assignment applies",
        };
      case "conflict":
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
      case "config":
        return {
          ...base,
          outcome: "config",
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
          explanation: `assignment "${d.assignment.name}" wins with priority ${d.assignment.priority}${
            matching.length > 1 ? ` over ${matching.length - 1} other matching assignment(s)` : ""
          }; it ${d.assignment.row.revision_version === null ? "tracks the latest revision" : "is pinned to this revision"}`,
        };
    }
  }

  /** How an assignment fares across the tenant's agents (conflicts listed, up to 50). */
  async assignmentStatus(actor: Actor, tenantId: string, name: string): Promise<AssignmentFleetStatus> {
    authorizeTenant(actor, tenantId, "viewer");
    const row = await findAssignment(this.db, tenantId, name);
    if (!row) throw new NotFoundError("assignment");
    const snapshot = await this.desired.snapshot(tenantId);
    const agents = await listAgentsForMatching(this.db, tenantId);
    let matched = 0;
    let winning = 0;
    let conflicting = 0;
    const conflicts: AssignmentFleetStatus["conflicts"] = [];
    for (const a of agents) {
      const r = resolveAssignment(snapshot.assignments, a.labels, attributesOf(a.description));
      if (!r.matching.some((m) => m.name === name)) continue;
      matched++;
      if (r.winner?.name === name) winning++;
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
    return {
      matchedAgents: matched,
      winningAgents: winning,
      conflictingAgents: conflicting,
      conflicts,
      deliveries: await this.deliveries.rollupForAssignment(tenantId, row.id),
    };
  }
}
