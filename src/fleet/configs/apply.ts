/**
 * GitOps apply: a declarative bundle of templates and assignments, applied in one transaction.
 * Every object is validated first (any invalid object rejects the whole bundle with each
 * problem's path); a dry run answers the same diff without changing anything; applying twice
 * changes nothing the second time; prune deletes only objects that carry the bundle's `source`
 * marker and are missing from it, so one pipeline never deletes another's (or a human's) objects.
 */
import type { Db } from "../../db/types.js";
import type { FieldIssue } from "../../errors.js";
import { UnprocessableError } from "../../errors.js";
import { type RequestMeta, scopeToTenant } from "../actor.js";
import { strategyProblems } from "../rollouts/strategy.js";
import { type AssignmentService, formatSelectorText, parseAssignmentSelector } from "./assignments.js";
import { findAssignment, findTemplate, listAssignments, listTemplates } from "./repository.js";
import { assertValidTemplate, type TemplateService } from "./templates.js";

export interface BundleTemplate {
  name: string;
  content: string;
  description?: string;
}

export interface BundleAssignment {
  name: string;
  selector: string;
  template: string;
  revision: number | "latest";
  priority: number;
  /** "base" (default) or "overlay" (docs/layers.md). */
  layer?: "base" | "overlay";
  description?: string;
  matchReportedAttributes?: boolean;
  /** The assignment's default rollout strategy (issue 12), if any. */
  rollout?: unknown;
}

export interface Bundle {
  /** Marker written on every applied object; prune only touches objects with the same one. */
  source: string;
  templates: BundleTemplate[];
  assignments: BundleAssignment[];
}

export type ChangeAction = "create" | "update" | "unchanged" | "delete";

export interface Change {
  kind: "template" | "assignment";
  name: string;
  action: ChangeAction;
  detail?: Record<string, unknown>;
}

export interface ApplyResult {
  dryRun: boolean;
  changes: Change[];
  summary: Record<ChangeAction, number>;
}

/** Thrown inside the transaction of a dry run, so everything it did is rolled back. */
class DryRunRollback extends Error {
  constructor(readonly changes: Change[]) {
    super("dry run");
  }
}

export class ApplyService {
  constructor(
    private readonly db: Db,
    private readonly templates: TemplateService,
    private readonly assignments: AssignmentService,
  ) {}

  async apply(
    meta: RequestMeta,
    tenantId: string,
    bundle: Bundle,
    opts: { dryRun: boolean; prune: boolean },
  ): Promise<ApplyResult> {
    scopeToTenant(meta.actor, tenantId);
    this.#validate(bundle);
    let changes: Change[];
    try {
      changes = await this.db.transaction().execute(async (trx) => {
        const out: Change[] = [];
        for (const t of bundle.templates) {
          const before = await findTemplate(trx, tenantId, t.name);
          const r = await this.templates.upsertInTransaction(trx, meta, tenantId, t.name, {
            content: t.content,
            description: t.description,
            source: bundle.source,
          });
          out.push({
            kind: "template",
            name: t.name,
            action: !before
              ? "create"
              : r.created ||
                  before.source !== bundle.source ||
                  (t.description !== undefined && t.description !== before.description)
                ? "update"
                : "unchanged",
            detail: r.created
              ? { version: r.revision.version, contentSha256: r.revision.contentSha256 }
              : { version: r.revision.version },
          });
        }
        for (const a of bundle.assignments) {
          const before = await findAssignment(trx, tenantId, a.name);
          const r = await this.assignments.putInTransaction(trx, meta, tenantId, a.name, {
            selector: formatSelectorText(a.selector),
            template: a.template,
            revision: a.revision,
            priority: a.priority,
            layer: a.layer ?? "base",
            description: a.description ?? null,
            matchReportedAttributes: a.matchReportedAttributes ?? false,
            rollout: a.rollout ?? null,
            source: bundle.source,
          });
          out.push({
            kind: "assignment",
            name: a.name,
            action: !before ? "create" : r.changed ? "update" : "unchanged",
          });
        }
        if (opts.prune) {
          const keepAssignments = new Set(bundle.assignments.map((a) => a.name));
          for (const a of await listAssignments(trx, tenantId)) {
            if (a.source !== bundle.source || keepAssignments.has(a.name)) continue;
            await this.assignments.deleteInTransaction(trx, meta, a);
            out.push({ kind: "assignment", name: a.name, action: "delete" });
          }
          const keepTemplates = new Set(bundle.templates.map((t) => t.name));
          for (const t of await listTemplates(trx, tenantId, undefined, 100_000)) {
            if (t.source !== bundle.source || keepTemplates.has(t.name)) continue;
            await this.templates.deleteInTransaction(trx, meta, t);
            out.push({ kind: "template", name: t.name, action: "delete" });
          }
        }
        if (opts.dryRun) throw new DryRunRollback(out);
        return out;
      });
    } catch (err) {
      if (err instanceof DryRunRollback) changes = err.changes;
      else throw err;
    }
    const summary: Record<ChangeAction, number> = { create: 0, update: 0, unchanged: 0, delete: 0 };
    for (const c of changes) summary[c.action]++;
    return { dryRun: opts.dryRun, changes, summary };
  }

  /** Checks every object before touching anything; reports all problems at once. */
  #validate(bundle: Bundle): void {
    const issues: FieldIssue[] = [];
    const seen = new Set<string>();
    bundle.templates.forEach((t, i) => {
      if (seen.has(`t:${t.name}`))
        issues.push({ path: `templates[${i}].name`, message: `duplicate template "${t.name}"` });
      seen.add(`t:${t.name}`);
      try {
        assertValidTemplate(t.content, `templates[${i}].content`);
      } catch (err) {
        if (err instanceof UnprocessableError) issues.push(...(err.details.issues ?? []));
        else throw err;
      }
    });
    bundle.assignments.forEach((a, i) => {
      if (seen.has(`a:${a.name}`))
        issues.push({ path: `assignments[${i}].name`, message: `duplicate assignment "${a.name}"` });
      seen.add(`a:${a.name}`);
      try {
        parseAssignmentSelector(a.selector, `assignments[${i}].selector`);
      } catch (err) {
        if (err instanceof UnprocessableError) issues.push(...(err.details.issues ?? []));
        else throw err;
      }
      if (a.rollout !== undefined && a.rollout !== null)
        issues.push(...strategyProblems(a.rollout, `assignments[${i}].rollout`));
    });
    if (issues.length > 0) throw new UnprocessableError("the bundle is invalid; nothing was applied", issues);
  }
}
