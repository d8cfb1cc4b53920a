/**
 * The admin operations on agents: list (selector, status, text), the fleet summary, detail, label
 * edits, revoke, key rotation, delete. Each mutation is one transaction with its audit row and the fleet event
 * that lets the replica holding the agent act on it (close the socket, offer a key, re-plan).
 */
import type { Clock } from "../../clock.js";
import type { Labels } from "../../db/schema.js";
import type { Db, Queryable } from "../../db/types.js";
import {
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
  UnprocessableError,
  ValidationError,
} from "../../errors.js";
import { AgentCapability } from "../../protocol/capabilities.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import type { ComponentCatalog } from "../components/catalog.js";
import { checkIfMatch } from "../etag.js";
import { publishFleetEvent } from "../events.js";
import { labelKeyProblem, labelValueProblem, MAX_LABELS } from "../labels.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import { parseSelectorInput } from "../selector.js";
import type { AgentStatus, Liveness } from "./liveness.js";
import {
  type AgentRef,
  agentKnown,
  countAgentLabels,
  deleteAgent,
  findAgent,
  listAgentKeys,
  listAgents,
  lockAgent,
  revokeAgentKeys,
  summarizeAgents,
  updateAgent,
} from "./repository.js";
import { type AgentDetailView, type AgentView, agentView, keyView } from "./view.js";

type FileMap = Record<string, { body: string; contentType: string }>;

export interface FleetSummaryView {
  agents: { total: number; online: number; offline: number; attention: number; drift: number };
  labels: Array<{ label: string; total: number; online: number }>;
}

export class AgentAdmin {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    /** Masks the tenant's secret values in stored effective config files. */
    private readonly redactFiles: (tenantId: string, files: FileMap) => Promise<FileMap>,
    private readonly components: ComponentCatalog,
  ) {}

  async list(
    actor: Actor,
    tenantId: string,
    opts: {
      selector?: string;
      status?: AgentStatus;
      drift?: boolean;
      q?: string;
      cursor?: string;
      limit: number;
    },
  ): Promise<Page<AgentView>> {
    scopeToTenant(actor, tenantId);
    const requirements = opts.selector ? parseSelectorInput(opts.selector).requirements : [];
    const afterUid = opts.cursor ? decodeCursor(opts.cursor, CURSORS.agents)[0] : undefined;
    // One `now` for the filter and the views: a page never lists an agent its item contradicts.
    const now = this.clock.now();
    const rows = await listAgents(this.db, {
      tenantId,
      requirements,
      status: opts.status,
      drift: opts.drift,
      text: opts.q,
      afterUid,
      limit: opts.limit + 1,
      liveness: this.liveness,
      now,
    });
    return toPage(
      rows,
      opts.limit,
      CURSORS.agents,
      (r) => [r.instance_uid],
      (r) => agentView(r, this.liveness, now),
    );
  }

  /**
   * The tenant's agents at a glance: counts by liveness, attention and drift, and the most common
   * labels (top `labelLimit`), at one `now` (the same rule as the list's `status` filter).
   */
  async summary(actor: Actor, tenantId: string, labelLimit = 100): Promise<FleetSummaryView> {
    scopeToTenant(actor, tenantId);
    const online = this.liveness.onlineSql(this.clock.now());
    const [counts, labels] = await Promise.all([
      summarizeAgents(this.db, tenantId, online, AgentCapability.AcceptsOpAMPConnectionSettings),
      countAgentLabels(this.db, tenantId, online, labelLimit),
    ]);
    return {
      agents: { ...counts, offline: counts.total - counts.online },
      labels,
    };
  }

  /**
   * Throws NotFoundError("agent") unless the tenant knows this agent (enrolled, or deleted with
   * its delivery history kept): the one guard every agent-scoped route passes, so a uid of
   * another tenant (or none) is 404 whatever the verb.
   */
  async requireAgent(actor: Actor, tenantId: string, instanceUid: string): Promise<void> {
    scopeToTenant(actor, tenantId);
    if (!(await agentKnown(this.db, { tenantId, instanceUid }))) throw new NotFoundError("agent");
  }

  async get(actor: Actor, tenantId: string, instanceUid: string): Promise<AgentDetailView> {
    scopeToTenant(actor, tenantId);
    return this.#detail(this.db, { tenantId, instanceUid });
  }

  /** The detail view, read through `db` (pass the transaction when inside one). */
  async #detail(db: Queryable, ref: AgentRef): Promise<AgentDetailView> {
    const row = await findAgent(db, ref);
    if (!row) throw new NotFoundError("agent");
    const keys = await listAgentKeys(db, ref);
    return {
      ...agentView(row, this.liveness, this.clock.now()),
      availableComponents: await this.components.view(ref.tenantId, row.available_components_hash),
      effectiveConfig: await this.#shownEffectiveConfig(ref.tenantId, row.effective_config),
      keys: keys.map(keyView),
    };
  }

  /**
   * The stored effective config, masked again when shown (a secret created after it was stored).
   * While secrets cannot be decrypted it cannot be masked: it is not shown (null) rather than
   * shown with a value in clear.
   */
  async #shownEffectiveConfig(tenantId: string, stored: string | null): Promise<{ files: FileMap } | null> {
    if (!stored) return null;
    try {
      return { files: await this.redactFiles(tenantId, JSON.parse(stored) as FileMap) };
    } catch (err) {
      if (err instanceof UnavailableError) return null;
      throw err;
    }
  }

  /**
   * Changes server-assigned labels with JSON merge-patch semantics: a key set to null is
   * removed. Honours If-Match against the agent's current view.
   */
  async patchLabels(
    meta: RequestMeta,
    tenantId: string,
    instanceUid: string,
    patch: Record<string, string | null>,
    ifMatch?: string,
  ): Promise<AgentDetailView> {
    scopeToTenant(meta.actor, tenantId);
    const ref = { tenantId, instanceUid };
    // If-Match is checked against the view a GET shows (read before the transaction, because it
    // decrypts secrets to redact); the locked row must still be that version.
    const seen = ifMatch !== undefined ? await this.#detail(this.db, ref) : undefined;
    if (seen && ifMatch !== undefined) checkIfMatch(ifMatch, seen);
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (seen && row.updated_at.toISOString() !== seen.updatedAt) throw new PreconditionFailedError();
      const labels: Labels = { ...row.labels };
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete labels[k];
        else labels[k] = v;
      }
      const issues = Object.entries(labels).flatMap(([k, v]) => {
        const problem = labelKeyProblem(k) ?? labelValueProblem(v);
        return problem ? [{ path: `labels.${k}`, message: problem }] : [];
      });
      if (Object.keys(labels).length > MAX_LABELS)
        issues.push({ path: "labels", message: `at most ${MAX_LABELS} labels` });
      if (issues.length) throw new ValidationError("invalid labels", issues);
      await updateAgent(trx, ref, { labels: JSON.stringify(labels) });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.labels_update",
        targetType: "agent",
        targetId: instanceUid,
        details: { before: row.labels, after: labels },
      });
      await publishFleetEvent(trx, tenantId, "agent.labels_changed", { instanceUids: [instanceUid] });
    });
    return this.get(meta.actor, tenantId, instanceUid);
  }

  /**
   * Revokes an agent: all its keys stop working and its live connection is closed on whichever
   * replica holds it. It stays revoked (re-enrollment with the same uid is refused) until deleted.
   */
  async revoke(meta: RequestMeta, tenantId: string, instanceUid: string): Promise<AgentDetailView> {
    scopeToTenant(meta.actor, tenantId);
    const ref = { tenantId, instanceUid };
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (row.revoked_at) return;
      await updateAgent(trx, ref, { revoked_at: this.clock.date(), revoked_by: meta.actor.id });
      const keys = await revokeAgentKeys(trx, ref, "agent revoked");
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.revoke",
        targetType: "agent",
        targetId: instanceUid,
        details: { keysRevoked: keys },
      });
      await publishFleetEvent(trx, tenantId, "agent.revoked", { instanceUids: [instanceUid] });
    });
    return this.get(meta.actor, tenantId, instanceUid);
  }

  /**
   * Asks for a new key: offered on the live connection by the replica holding it (or on the
   * agent's next connection); the current key works until the new one is first used.
   */
  async requestKeyRotation(
    meta: RequestMeta,
    tenantId: string,
    instanceUid: string,
  ): Promise<AgentDetailView> {
    scopeToTenant(meta.actor, tenantId);
    const ref = { tenantId, instanceUid };
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (row.revoked_at) throw new UnprocessableError("a revoked agent cannot get a new key");
      await updateAgent(trx, ref, { key_rotation_requested_at: this.clock.date() });
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.rotate_key",
        targetType: "agent",
        targetId: instanceUid,
      });
      await publishFleetEvent(trx, tenantId, "agent.key_rotation_requested", { instanceUids: [instanceUid] });
    });
    return this.get(meta.actor, tenantId, instanceUid);
  }

  /** Deletes an agent and its keys (its delivery history stays); a live connection is closed. */
  async delete(meta: RequestMeta, tenantId: string, instanceUid: string, ifMatch?: string): Promise<void> {
    scopeToTenant(meta.actor, tenantId);
    const ref = { tenantId, instanceUid };
    // If-Match as for patchLabels: against the view a GET shows, and the locked row must still be it.
    const seen = ifMatch !== undefined ? await this.#detail(this.db, ref) : undefined;
    if (seen && ifMatch !== undefined) checkIfMatch(ifMatch, seen);
    await this.db.transaction().execute(async (trx) => {
      const row = await lockAgent(trx, ref);
      if (!row) throw new NotFoundError("agent");
      if (seen && row.updated_at.toISOString() !== seen.updatedAt) throw new PreconditionFailedError();
      await deleteAgent(trx, ref);
      await this.audit.record(trx, meta, {
        tenantId,
        action: "agent.delete",
        targetType: "agent",
        targetId: instanceUid,
        details: { labels: row.labels },
      });
      await publishFleetEvent(trx, tenantId, "agent.deleted", { instanceUids: [instanceUid] });
    });
  }
}
