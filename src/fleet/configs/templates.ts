/**
 * Config templates and their immutable revisions. A template is a named Handlebars YAML
 * document; each content change is a new revision (1, 2, …). Re-submitting the latest content
 * creates nothing. Content is validated before anything is stored: it must compile and render
 * to a YAML mapping against a sample agent (422 with line and column otherwise).
 */
import { createHash } from "node:crypto";
import { newRecordId } from "../../credentials/index.js";
import type { Db, Queryable, Tx } from "../../db/types.js";
import { ConflictError, NotFoundError, UnprocessableError } from "../../errors.js";
import { validateTemplate } from "../../render/index.js";
import { type Actor, type RequestMeta, scopeToTenant } from "../actor.js";
import type { AuditLog } from "../audit/service.js";
import { checkIfMatch } from "../etag.js";
import { publishFleetEvent } from "../events.js";
import { CURSORS, decodeCursor, type Page, toPage } from "../pagination.js";
import type { RolloutService } from "../rollouts/service.js";
import { parseStrategy } from "../rollouts/strategy.js";
import {
  countAssignmentsUsingTemplate,
  deleteTemplate,
  findRevision,
  findTemplate,
  insertRevision,
  insertTemplate,
  listAssignments,
  listRevisions,
  listTemplates,
  lockTemplate,
  type RevisionRow,
  type TemplateRow,
  updateTemplate,
} from "./repository.js";

export const TEMPLATE_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
export const MAX_TEMPLATE_BYTES = 256 * 1024;

export interface RevisionView {
  version: number;
  contentSha256: string;
  message: string | null;
  author: string;
  createdAt: string;
}

export interface RevisionDetailView extends RevisionView {
  content: string;
}

export interface TemplateView {
  name: string;
  description: string | null;
  latestVersion: number;
  source: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

export interface UpsertTemplateInput {
  content: string;
  description?: string;
  message?: string;
  /** GitOps source marker (set by apply). */
  source?: string | null;
}

export interface UpsertResult {
  template: TemplateView;
  revision: RevisionView;
  /** A new revision was stored (new template or changed content). */
  created: boolean;
}

export function revisionView(r: RevisionRow): RevisionView {
  return {
    version: r.version,
    contentSha256: r.content_sha256,
    message: r.message,
    author: r.author,
    createdAt: r.created_at.toISOString(),
  };
}

function templateView(t: TemplateRow): TemplateView {
  return {
    name: t.name,
    description: t.description,
    latestVersion: t.latest_version,
    source: t.source,
    createdAt: t.created_at.toISOString(),
    createdBy: t.created_by,
    updatedAt: t.updated_at.toISOString(),
  };
}

export function contentSha256(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex");
}

/** Validates template content; throws 422 with line/column issues. */
export function assertValidTemplate(content: string, path = "content"): void {
  if (Buffer.byteLength(content, "utf8") > MAX_TEMPLATE_BYTES) {
    throw new UnprocessableError("template too large", [
      { path, message: `at most ${MAX_TEMPLATE_BYTES} bytes` },
    ]);
  }
  const issues = validateTemplate(content);
  if (issues.length > 0) {
    throw new UnprocessableError(
      "invalid template",
      issues.map((i) => ({ path, message: i.message, line: i.line, column: i.column })),
    );
  }
}

export class TemplateService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly rollouts: RolloutService,
  ) {}

  /** PUT: creates the template or a new revision when the content changed. Editor. */
  async upsert(
    meta: RequestMeta,
    tenantId: string,
    name: string,
    input: UpsertTemplateInput,
    ifMatch?: string,
  ): Promise<UpsertResult> {
    scopeToTenant(meta.actor, tenantId);
    assertValidTemplate(input.content);
    return this.db.transaction().execute(async (trx) => {
      if (ifMatch !== undefined) {
        const current = await findTemplate(trx, tenantId, name);
        if (!current) throw new NotFoundError("template");
        checkIfMatch(ifMatch, await this.#detail(trx, current));
      }
      return this.upsertInTransaction(trx, meta, tenantId, name, input);
    });
  }

  /** The upsert itself, inside a caller's transaction (also used by GitOps apply). */
  async upsertInTransaction(
    trx: Tx,
    meta: RequestMeta,
    tenantId: string,
    name: string,
    input: UpsertTemplateInput,
  ): Promise<UpsertResult> {
    const sha = contentSha256(input.content);
    let template = await lockTemplate(trx, tenantId, name);
    if (!template) {
      template = await insertTemplate(trx, {
        id: newRecordId("tpl"),
        tenant_id: tenantId,
        name,
        description: input.description ?? null,
        source: input.source ?? null,
        created_by: meta.actor.id,
      });
    } else if (
      (input.description !== undefined && input.description !== template.description) ||
      (input.source !== undefined && input.source !== template.source)
    ) {
      template = await updateTemplate(trx, template.id, {
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.source !== undefined ? { source: input.source } : {}),
      });
    }
    const latest =
      template.latest_version > 0 ? await findRevision(trx, template.id, template.latest_version) : undefined;
    if (latest && latest.content_sha256 === sha) {
      return { template: templateView(template), revision: revisionView(latest), created: false };
    }
    const version = template.latest_version + 1;
    const revision = await insertRevision(trx, {
      id: newRecordId("rev"),
      tenant_id: tenantId,
      template_id: template.id,
      version,
      content: input.content,
      content_sha256: sha,
      message: input.message ?? null,
      author: meta.actor.id,
    });
    template = await updateTemplate(trx, template.id, { latest_version: version });
    await this.audit.record(trx, meta, {
      tenantId,
      action: version === 1 ? "config_template.create" : "config_template.revise",
      targetType: "config_template",
      targetId: name,
      details: { version, contentSha256: sha, message: input.message ?? null },
    });
    // `latest` assignments with a default strategy take the new revision as a rollout; the others
    // that follow `latest` take it at once. Agents of pinned assignments keep what they run, so a
    // template only pinned (or only rolled out) changes nobody's config now: the event names
    // nobody (caches drop, no agent is re-planned).
    let takenAtOnce = false;
    for (const a of await listAssignments(trx, tenantId)) {
      if (a.template_id !== template.id || a.revision_version !== null) continue;
      if (!latest || a.rollout_strategy === null) takenAtOnce = true;
      else
        await this.rollouts.startInTransaction(
          trx,
          meta,
          a,
          revision,
          parseStrategy(a.rollout_strategy, "rollout"),
          {
            supersede: true,
            from: latest,
          },
        );
    }
    await publishFleetEvent(trx, tenantId, "config.changed", {
      reason: "revision",
      template: name,
      version,
      ...(takenAtOnce ? {} : { instanceUids: [] }),
    });
    return { template: templateView(template), revision: revisionView(revision), created: true };
  }

  /** POST …/revisions: a new revision of an existing template. */
  async createRevision(
    meta: RequestMeta,
    tenantId: string,
    name: string,
    input: { content: string; message?: string },
  ): Promise<UpsertResult> {
    scopeToTenant(meta.actor, tenantId);
    if (!(await findTemplate(this.db, tenantId, name))) throw new NotFoundError("template");
    assertValidTemplate(input.content);
    return this.db.transaction().execute((trx) => this.upsertInTransaction(trx, meta, tenantId, name, input));
  }

  async list(
    actor: Actor,
    tenantId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<Page<TemplateView>> {
    scopeToTenant(actor, tenantId);
    const after = opts.cursor ? decodeCursor(opts.cursor, CURSORS.templates)[0] : undefined;
    const rows = await listTemplates(this.db, tenantId, after, opts.limit + 1);
    return toPage(rows, opts.limit, CURSORS.templates, (r) => [r.name], templateView);
  }

  async get(
    actor: Actor,
    tenantId: string,
    name: string,
  ): Promise<TemplateView & { revision: RevisionDetailView | null }> {
    scopeToTenant(actor, tenantId);
    const t = await findTemplate(this.db, tenantId, name);
    if (!t) throw new NotFoundError("template");
    return this.#detail(this.db, t);
  }

  async #detail(db: Queryable, t: TemplateRow) {
    const latest = t.latest_version > 0 ? await findRevision(db, t.id, t.latest_version) : undefined;
    return {
      ...templateView(t),
      revision: latest ? { ...revisionView(latest), content: latest.content } : null,
    };
  }

  async listRevisions(
    actor: Actor,
    tenantId: string,
    name: string,
    opts: { cursor?: string; limit: number },
  ): Promise<Page<RevisionView>> {
    scopeToTenant(actor, tenantId);
    const t = await findTemplate(this.db, tenantId, name);
    if (!t) throw new NotFoundError("template");
    const before = opts.cursor ? decodeCursor(opts.cursor, CURSORS.revisions)[0] : undefined;
    const rows = await listRevisions(this.db, t.id, before, opts.limit + 1);
    return toPage(rows, opts.limit, CURSORS.revisions, (r) => [r.version], revisionView);
  }

  async getRevision(
    actor: Actor,
    tenantId: string,
    name: string,
    version: number,
  ): Promise<RevisionDetailView> {
    scopeToTenant(actor, tenantId);
    const t = await findTemplate(this.db, tenantId, name);
    if (!t) throw new NotFoundError("template");
    const r = await findRevision(this.db, t.id, version);
    if (!r) throw new NotFoundError("revision");
    return { ...revisionView(r), content: r.content };
  }

  /** Deletes a template and its revisions; 409 while an assignment uses it. */
  async delete(meta: RequestMeta, tenantId: string, name: string, ifMatch?: string): Promise<void> {
    scopeToTenant(meta.actor, tenantId);
    await this.db.transaction().execute(async (trx) => {
      const t = await lockTemplate(trx, tenantId, name);
      if (!t) throw new NotFoundError("template");
      if (ifMatch !== undefined) checkIfMatch(ifMatch, await this.#detail(trx, t));
      await this.deleteInTransaction(trx, meta, t);
    });
  }

  async deleteInTransaction(trx: Tx, meta: RequestMeta, t: TemplateRow): Promise<void> {
    const users = await countAssignmentsUsingTemplate(trx, t.id);
    if (users.length > 0) {
      throw new ConflictError(`template "${t.name}" is used by assignments: ${users.join(", ")}`, {
        assignments: users,
      });
    }
    await deleteTemplate(trx, t.id);
    await this.audit.record(trx, meta, {
      tenantId: t.tenant_id,
      action: "config_template.delete",
      targetType: "config_template",
      targetId: t.name,
      details: { latestVersion: t.latest_version },
    });
  }
}
