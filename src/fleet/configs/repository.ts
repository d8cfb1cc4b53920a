import { type Insertable, type Selectable, type SqlBool, sql, type Updateable } from "kysely";
import type {
  AgentConfigAssignmentsTable,
  AgentConfigTemplateRevisionsTable,
  AgentConfigTemplatesTable,
} from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export type TemplateRow = Selectable<AgentConfigTemplatesTable>;
export type RevisionRow = Selectable<AgentConfigTemplateRevisionsTable>;
export type AssignmentRow = Selectable<AgentConfigAssignmentsTable>;
/** An assignment with its template's name. */
export type AssignmentWithTemplate = AssignmentRow & { template_name: string };

// --- templates --------------------------------------------------------------------------------

export async function findTemplate(
  db: Queryable,
  tenantId: string,
  name: string,
): Promise<TemplateRow | undefined> {
  return db
    .selectFrom("agent_config_templates")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .executeTakeFirst();
}

export async function lockTemplate(trx: Tx, tenantId: string, name: string) {
  return trx
    .selectFrom("agent_config_templates")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .forUpdate()
    .executeTakeFirst();
}

export async function insertTemplate(
  trx: Queryable,
  row: Insertable<AgentConfigTemplatesTable>,
): Promise<TemplateRow> {
  return trx.insertInto("agent_config_templates").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function updateTemplate(
  trx: Queryable,
  id: string,
  patch: Updateable<AgentConfigTemplatesTable>,
) {
  return trx
    .updateTable("agent_config_templates")
    .set({ ...patch, updated_at: new Date() })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listTemplates(
  db: Queryable,
  tenantId: string,
  after: string | undefined,
  limit: number,
) {
  let q = db.selectFrom("agent_config_templates").selectAll().where("tenant_id", "=", tenantId);
  if (after) q = q.where("name", ">", after);
  return q.orderBy("name").limit(limit).execute();
}

/**
 * Deletes a template and its revisions. Delivery rows are history and keep their other columns;
 * their template and revision ids are cleared here (there is no foreign key doing it: each
 * delivery written would pay for its checks, see migrations/20261202T190000Z-…).
 */
export async function deleteTemplate(trx: Tx, id: string): Promise<void> {
  await trx
    .updateTable("agent_config_deliveries")
    .set({ template_id: null, revision_id: null })
    .where((eb) =>
      eb.or([
        eb("template_id", "=", id),
        eb(
          "revision_id",
          "in",
          eb.selectFrom("agent_config_template_revisions").select("id").where("template_id", "=", id),
        ),
      ]),
    )
    .execute();
  await trx.deleteFrom("agent_config_templates").where("id", "=", id).execute();
}

// --- revisions --------------------------------------------------------------------------------

export async function insertRevision(
  trx: Queryable,
  row: Insertable<AgentConfigTemplateRevisionsTable>,
): Promise<RevisionRow> {
  return trx
    .insertInto("agent_config_template_revisions")
    .values(row)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findRevision(
  db: Queryable,
  templateId: string,
  version: number,
): Promise<RevisionRow | undefined> {
  return db
    .selectFrom("agent_config_template_revisions")
    .selectAll()
    .where("template_id", "=", templateId)
    .where("version", "=", version)
    .executeTakeFirst();
}

export async function findRevisionById(db: Queryable, id: string): Promise<RevisionRow | undefined> {
  return db.selectFrom("agent_config_template_revisions").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function listRevisions(
  db: Queryable,
  templateId: string,
  before: number | undefined,
  limit: number,
) {
  let q = db.selectFrom("agent_config_template_revisions").selectAll().where("template_id", "=", templateId);
  if (before !== undefined) q = q.where("version", "<", before);
  return q.orderBy("version", "desc").limit(limit).execute();
}

/** Revisions by (template id, version) pairs, for resolving many assignments at once. */
export async function findRevisionsByTemplateIds(
  db: Queryable,
  templateIds: string[],
): Promise<RevisionRow[]> {
  if (templateIds.length === 0) return [];
  return db
    .selectFrom("agent_config_template_revisions")
    .selectAll()
    .where("template_id", "in", templateIds)
    .execute();
}

// --- assignments ------------------------------------------------------------------------------

const assignmentColumns = (db: Queryable) =>
  db
    .selectFrom("agent_config_assignments as a")
    .innerJoin("agent_config_templates as t", "t.id", "a.template_id")
    .selectAll("a")
    .select("t.name as template_name");

export async function findAssignment(
  db: Queryable,
  tenantId: string,
  name: string,
): Promise<AssignmentWithTemplate | undefined> {
  return assignmentColumns(db)
    .where("a.tenant_id", "=", tenantId)
    .where("a.name", "=", name)
    .executeTakeFirst();
}

export async function lockAssignment(trx: Tx, tenantId: string, name: string) {
  return trx
    .selectFrom("agent_config_assignments")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .forUpdate()
    .executeTakeFirst();
}

export async function listAssignments(db: Queryable, tenantId: string, after?: string, limit?: number) {
  let q = assignmentColumns(db).where("a.tenant_id", "=", tenantId);
  if (after) q = q.where("a.name", ">", after);
  q = q.orderBy("a.name");
  if (limit !== undefined) q = q.limit(limit);
  return q.execute();
}

export async function insertAssignment(
  trx: Queryable,
  row: Insertable<AgentConfigAssignmentsTable>,
): Promise<AssignmentRow> {
  return trx.insertInto("agent_config_assignments").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function updateAssignment(
  trx: Queryable,
  id: string,
  patch: Updateable<AgentConfigAssignmentsTable>,
) {
  return trx
    .updateTable("agent_config_assignments")
    .set({ ...patch, updated_at: new Date() })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes an assignment; its delivery rows stay as history, their assignment id cleared. */
export async function deleteAssignment(trx: Tx, id: string): Promise<void> {
  await trx
    .updateTable("agent_config_deliveries")
    .set({ assignment_id: null })
    .where("assignment_id", "=", id)
    .execute();
  await trx.deleteFrom("agent_config_assignments").where("id", "=", id).execute();
}

export async function countAssignmentsUsingTemplate(db: Queryable, templateId: string): Promise<string[]> {
  const rows = await db
    .selectFrom("agent_config_assignments")
    .select("name")
    .where("template_id", "=", templateId)
    .execute();
  return rows.map((r) => r.name);
}

/** A tenant's display name (rendering context), if the tenant exists. */
export async function findTenantDisplayName(db: Queryable, tenantId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom("tenants")
    .select("display_name")
    .where("id", "=", tenantId)
    .executeTakeFirst();
  return row?.display_name;
}

/** The revision each of a tenant's assignments renders now (pinned, or its template's latest). */
export async function findAssignedRevisions(
  db: Queryable,
  tenantId: string,
): Promise<Array<RevisionRow & { assignment_id: string }>> {
  const rows = await db
    .selectFrom("agent_config_assignments as a")
    .innerJoin("agent_config_templates as t", "t.id", "a.template_id")
    .innerJoin("agent_config_template_revisions as r", (j) =>
      j
        .onRef("r.template_id", "=", "t.id")
        .on(sql<SqlBool>`r.version = coalesce(a.revision_version, t.latest_version)`),
    )
    .selectAll("r")
    .select("a.id as assignment_id")
    .where("a.tenant_id", "=", tenantId)
    .execute();
  return rows as Array<RevisionRow & { assignment_id: string }>;
}

/** Names of a tenant's assignments by id (roll-up keys). */
export async function listAssignmentNames(
  db: Queryable,
  tenantId: string,
): Promise<{ id: string; name: string }[]> {
  return db
    .selectFrom("agent_config_assignments")
    .select(["id", "name"])
    .where("tenant_id", "=", tenantId)
    .execute();
}

/** A tenant's revisions with their template names (roll-up keys). */
export async function listRevisionNames(
  db: Queryable,
  tenantId: string,
): Promise<{ id: string; version: number; name: string }[]> {
  return db
    .selectFrom("agent_config_template_revisions as r")
    .innerJoin("agent_config_templates as t", "t.id", "r.template_id")
    .select(["r.id", "r.version", "t.name"])
    .where("r.tenant_id", "=", tenantId)
    .execute();
}
