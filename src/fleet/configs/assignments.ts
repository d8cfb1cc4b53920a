/**
 * Assignments bind a label selector to a template, pinned to a revision or tracking the latest,
 * with a priority, as a base or an overlay layer. Validated before anything is stored: selector syntax (422 with the column),
 * template and revision existence (422).
 */
import { newRecordId } from "../../credentials/index.js";
import type { Db, Tx } from "../../db/types.js";
import { NotFoundError, UnprocessableError } from "../../errors.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { publishFleetEvent } from "../events.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import type { RolloutService } from "../rollouts/service.js";
import { parseStrategy, type RolloutStrategy } from "../rollouts/strategy.js";
import { formatSelector, parseSelectorInput, type Selector } from "../selector.js";
import {
  type AssignmentWithTemplate,
  deleteAssignment,
  findAssignment,
  findRevision,
  findTemplate,
  insertAssignment,
  listAssignments,
  lockAssignment,
  updateAssignment,
} from "./repository.js";

export const ASSIGNMENT_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

export interface AssignmentInput {
  selector: string;
  template: string;
  /** A revision number, or "latest" to track the newest revision. */
  revision: number | "latest";
  priority: number;
  /** "base" (default: one wins per agent) or "overlay" (merged over the base; docs/layers.md). */
  layer?: "base" | "overlay";
  description?: string | null;
  matchReportedAttributes?: boolean;
  source?: string | null;
  /**
   * The default rollout strategy (issue 12): a new revision (of a `latest` assignment) or a new
   * pinned revision then starts a rollout. Null or absent: changes reach every agent at once.
   */
  rollout?: unknown;
}

export interface AssignmentView {
  name: string;
  description: string | null;
  selector: string;
  matchReportedAttributes: boolean;
  template: string;
  revision: number | "latest";
  priority: number;
  layer: "base" | "overlay";
  source: string | null;
  rollout: RolloutStrategy | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

export function assignmentView(a: AssignmentWithTemplate): AssignmentView {
  return {
    name: a.name,
    description: a.description,
    selector: a.selector,
    matchReportedAttributes: a.match_reported_attributes,
    template: a.template_name,
    revision: a.revision_version ?? "latest",
    priority: a.priority,
    layer: a.layer,
    source: a.source,
    rollout: (a.rollout_strategy as RolloutStrategy | null) ?? null,
    createdAt: a.created_at.toISOString(),
    createdBy: a.created_by,
    updatedAt: a.updated_at.toISOString(),
  };
}

/** Parses a selector for an assignment; 422 naming the column on a syntax error. */
export function parseAssignmentSelector(text: string, path = "selector"): Selector {
  return parseSelectorInput(text, path);
}

/** The canonical text of a selector (throws 422 on a syntax error). */
export function formatSelectorText(text: string): string {
  return formatSelector(parseAssignmentSelector(text));
}

export class AssignmentService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly rollouts: RolloutService,
  ) {}

  /** PUT: creates or replaces an assignment. Editor. */
  async put(
    meta: RequestMeta,
    tenantId: string,
    name: string,
    input: AssignmentInput,
    ifMatch?: string,
  ): Promise<{ view: AssignmentView; created: boolean }> {
    scopeToTenant(meta.actor, tenantId);
    const selector = parseAssignmentSelector(input.selector);
    return this.db.transaction().execute(async (trx) => {
      if (ifMatch !== undefined) {
        const current = await findAssignment(trx, tenantId, name);
        if (!current) throw new NotFoundError("assignment");
        checkIfMatch(ifMatch, assignmentView(current));
      }
      return this.putInTransaction(trx, meta, tenantId, name, {
        ...input,
        selector: formatSelector(selector),
      });
    });
  }

  /** The upsert inside a caller's transaction (also used by GitOps apply). */
  async putInTransaction(
    trx: Tx,
    meta: RequestMeta,
    tenantId: string,
    name: string,
    input: AssignmentInput,
  ): Promise<{ view: AssignmentView; created: boolean; changed: boolean }> {
    const template = await findTemplate(trx, tenantId, input.template);
    if (!template) {
      throw new UnprocessableError("the assignment names a template that does not exist", [
        { path: "template", message: `no template "${input.template}"` },
      ]);
    }
    if (input.revision !== "latest" && !(await findRevision(trx, template.id, input.revision))) {
      throw new UnprocessableError("the assignment names a revision that does not exist", [
        { path: "revision", message: `template "${input.template}" has no revision ${input.revision}` },
      ]);
    }
    const strategy =
      input.rollout === undefined || input.rollout === null ? null : parseStrategy(input.rollout, "rollout");
    const values = {
      selector: input.selector,
      template_id: template.id,
      revision_version: input.revision === "latest" ? null : input.revision,
      priority: input.priority,
      layer: input.layer ?? "base",
      description: input.description ?? null,
      match_reported_attributes: input.matchReportedAttributes ?? false,
      rollout_strategy: strategy ? JSON.stringify(strategy) : null,
      ...(input.source !== undefined ? { source: input.source } : {}),
    };
    const existing = await lockAssignment(trx, tenantId, name);
    let created = false;
    let changed = true;
    if (!existing) {
      await insertAssignment(trx, {
        id: newRecordId("asg"),
        tenant_id: tenantId,
        name,
        created_by: meta.actor.id,
        ...values,
        source: input.source ?? null,
      });
      created = true;
    } else {
      changed =
        existing.selector !== values.selector ||
        existing.template_id !== values.template_id ||
        existing.revision_version !== values.revision_version ||
        existing.priority !== values.priority ||
        existing.layer !== values.layer ||
        existing.description !== values.description ||
        existing.match_reported_attributes !== values.match_reported_attributes ||
        JSON.stringify(existing.rollout_strategy ?? null) !== JSON.stringify(strategy) ||
        (input.source !== undefined && existing.source !== input.source);
      if (changed) await updateAssignment(trx, existing.id, values);
    }
    const row = await findAssignment(trx, tenantId, name);
    if (!row) throw new NotFoundError("assignment");
    // A new revision for an assignment with a default strategy goes out as a rollout.
    const before =
      existing && existing.template_id === template.id
        ? (existing.revision_version ?? template.latest_version)
        : undefined;
    const after = row.revision_version ?? template.latest_version;
    if (strategy && before !== undefined && before !== after) {
      const from = await findRevision(trx, template.id, before);
      const to = await findRevision(trx, template.id, after);
      if (from && to)
        await this.rollouts.startInTransaction(trx, meta, row, to, strategy, { supersede: true, from });
    }
    // Only what decides an agent's config asks the replicas to re-plan: a new description or
    // strategy, or a pin to the revision the assignment already means, changes no agent's config
    // (the event then names nobody: caches of the assignment drop, no agent is re-planned).
    const configChanged =
      created ||
      existing?.selector !== row.selector ||
      existing?.template_id !== row.template_id ||
      existing?.priority !== row.priority ||
      existing?.layer !== row.layer ||
      existing?.match_reported_attributes !== row.match_reported_attributes ||
      before !== after;
    if (changed) {
      await this.audit.record(trx, meta, {
        tenantId,
        action: created ? "assignment.create" : "assignment.update",
        targetType: "assignment",
        targetId: name,
        details: {
          selector: row.selector,
          template: row.template_name,
          revision: row.revision_version ?? "latest",
          priority: row.priority,
          layer: row.layer,
          ...(strategy ? { rollout: strategy } : {}),
        },
      });
      await publishFleetEvent(trx, tenantId, "config.changed", {
        reason: "assignment",
        assignment: name,
        ...(configChanged ? {} : { instanceUids: [] }),
      });
    }
    return { view: assignmentView(row), created, changed };
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<Page<AssignmentView>> {
    scopeToTenant(actor, tenantId);
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.assignments)[0] : undefined;
    const rows = await listAssignments(this.db, tenantId, after, opts.limit + 1);
    return toPage(rows, opts.limit, CURSORS.assignments, (r) => [r.name], assignmentView);
  }

  async get(actor: Actor, tenantId: string, name: string): Promise<AssignmentView> {
    scopeToTenant(actor, tenantId);
    const row = await findAssignment(this.db, tenantId, name);
    if (!row) throw new NotFoundError("assignment");
    return assignmentView(row);
  }

  async delete(meta: RequestMeta, tenantId: string, name: string, ifMatch?: string): Promise<void> {
    scopeToTenant(meta.actor, tenantId);
    await this.db.transaction().execute(async (trx) => {
      const row = await findAssignment(trx, tenantId, name);
      if (!row) throw new NotFoundError("assignment");
      if (ifMatch !== undefined) checkIfMatch(ifMatch, assignmentView(row));
      await this.deleteInTransaction(trx, meta, row);
    });
  }

  async deleteInTransaction(trx: Tx, meta: RequestMeta, row: AssignmentWithTemplate): Promise<void> {
    await deleteAssignment(trx, row.id);
    await this.audit.record(trx, meta, {
      tenantId: row.tenant_id,
      action: "assignment.delete",
      targetType: "assignment",
      targetId: row.name,
      details: { selector: row.selector, template: row.template_name },
    });
    await publishFleetEvent(trx, row.tenant_id, "config.changed", {
      reason: "assignment",
      assignment: row.name,
    });
  }
}
