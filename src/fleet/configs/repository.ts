import type { Insertable, Kysely, Selectable, Transaction, Updateable } from "kysely";
import type {
  AgentConfigAssignmentsTable,
  AgentConfigTemplateRevisionsTable,
  AgentConfigTemplatesTable,
  Database,
} from "../../db/schema.js";

type Db = Kysely<Database> | Transaction<Database>;

export type TemplateRow = Selectable<AgentConfigTemplatesTable>;
export type RevisionRow = Selectable<AgentConfigTemplateRevisionsTable>;
export type AssignmentRow = Selectable<AgentConfigAssignmentsTable>;
/** An assignment with its template's name. */
export type AssignmentWithTemplate = AssignmentRow & { template_name: string };

// --- templates --------------------------------------------------------------------------------

export async function findTemplate(db: Db, tenantId: string, name: string): Promise<TemplateRow | undefined> {
  return db
    .selectFrom("agent_config_templates")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .executeTakeFirst();
}

export async function lockTemplate(trx: Transaction<Database>, tenantId: string, name: string) {
  return trx
    .selectFrom("agent_config_templates")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .forUpdate()
    .executeTakeFirst();
}

export async function insertTemplate(
  trx: Db,
  row: Insertable<AgentConfigTemplatesTable>,
): Promise<TemplateRow> {
  return trx.insertInto("agent_config_templates").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function updateTemplate(trx: Db, id: string, patch: Updateable<AgentConfigTemplatesTable>) {
  return trx
    .updateTable("agent_config_templates")
    .set({ ...patch, updated_at: new Date() })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listTemplates(db: Db, tenantId: string, after: string | undefined, limit: number) {
  let q = db.selectFrom("agent_config_templates").selectAll().where("tenant_id", "=", tenantId);
  if (after) q = q.where("name", ">", after);
  return q.orderBy("name").limit(limit).execute();
}

export async function deleteTemplate(trx: Transaction<Database>, id: string): Promise<void> {
  await trx.deleteFrom("agent_config_templates").where("id", "=", id).execute();
}

// --- revisions --------------------------------------------------------------------------------

export async function insertRevision(
  trx: Db,
  row: Insertable<AgentConfigTemplateRevisionsTable>,
): Promise<RevisionRow> {
  return trx
    .insertInto("agent_config_template_revisions")
    .values(row)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findRevision(
  db: Db,
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

export async function findRevisionById(db: Db, id: string): Promise<RevisionRow | undefined> {
  return db.selectFrom("agent_config_template_revisions").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function listRevisions(db: Db, templateId: string, before: number | undefined, limit: number) {
  let q = db.selectFrom("agent_config_template_revisions").selectAll().where("template_id", "=", templateId);
  if (before !== undefined) q = q.where("version", "<", before);
  return q.orderBy("version", "desc").limit(limit).execute();
}

/** Revisions by (template id, version) pairs, for resolving many assignments at once. */
export async function findRevisionsByTemplateIds(db: Db, templateIds: string[]): Promise<RevisionRow[]> {
  if (templateIds.length === 0) return [];
  return db
    .selectFrom("agent_config_template_revisions")
    .selectAll()
    .where("template_id", "in", templateIds)
    .execute();
}

// --- assignments ------------------------------------------------------------------------------

const assignmentColumns = (db: Db) =>
  db
    .selectFrom("agent_config_assignments as a")
    .innerJoin("agent_config_templates as t", "t.id", "a.template_id")
    .selectAll("a")
    .select("t.name as template_name");

export async function findAssignment(
  db: Db,
  tenantId: string,
  name: string,
): Promise<AssignmentWithTemplate | undefined> {
  return assignmentColumns(db)
    .where("a.tenant_id", "=", tenantId)
    .where("a.name", "=", name)
    .executeTakeFirst();
}

export async function lockAssignment(trx: Transaction<Database>, tenantId: string, name: string) {
  return trx
    .selectFrom("agent_config_assignments")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .forUpdate()
    .executeTakeFirst();
}

export async function listAssignments(db: Db, tenantId: string, after?: string, limit?: number) {
  let q = assignmentColumns(db).where("a.tenant_id", "=", tenantId);
  if (after) q = q.where("a.name", ">", after);
  q = q.orderBy("a.name");
  if (limit !== undefined) q = q.limit(limit);
  return q.execute();
}

export async function insertAssignment(
  trx: Db,
  row: Insertable<AgentConfigAssignmentsTable>,
): Promise<AssignmentRow> {
  return trx.insertInto("agent_config_assignments").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function updateAssignment(trx: Db, id: string, patch: Updateable<AgentConfigAssignmentsTable>) {
  return trx
    .updateTable("agent_config_assignments")
    .set({ ...patch, updated_at: new Date() })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteAssignment(trx: Transaction<Database>, id: string): Promise<void> {
  await trx.deleteFrom("agent_config_assignments").where("id", "=", id).execute();
}

export async function countAssignmentsUsingTemplate(db: Db, templateId: string): Promise<string[]> {
  const rows = await db
    .selectFrom("agent_config_assignments")
    .select("name")
    .where("template_id", "=", templateId)
    .execute();
  return rows.map((r) => r.name);
}
