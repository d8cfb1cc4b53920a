import { type Selectable, sql } from "kysely";
import type { AgentConfigSecretsTable } from "../../db/schema.js";
import type { Queryable, Tx } from "../../db/types.js";

export type SecretRow = Selectable<AgentConfigSecretsTable>;

/** The newest version of one secret. */
export async function findLatestSecret(
  db: Queryable,
  tenantId: string,
  name: string,
): Promise<SecretRow | undefined> {
  return db
    .selectFrom("agent_config_secrets")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .orderBy("version", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** The newest version of every secret of a tenant (names ascending), optionally after a name. */
export async function listLatestSecrets(
  db: Queryable,
  tenantId: string,
  after?: string,
  limit?: number,
): Promise<SecretRow[]> {
  const result = await sql<SecretRow>`
    select distinct on (name) * from agent_config_secrets
    where tenant_id = ${tenantId} ${after ? sql`and name > ${after}` : sql``}
    order by name, version desc
    ${limit !== undefined ? sql`limit ${limit}` : sql``}`.execute(db);
  return result.rows;
}

export async function lockSecretVersions(trx: Tx, tenantId: string, name: string): Promise<SecretRow[]> {
  return trx
    .selectFrom("agent_config_secrets")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .orderBy("version", "desc")
    .forUpdate()
    .execute();
}

export async function insertSecret(
  trx: Queryable,
  row: {
    id: string;
    tenant_id: string;
    name: string;
    version: number;
    envelope: string;
    kms_key_id: string;
    created_by: string;
  },
): Promise<SecretRow> {
  return trx.insertInto("agent_config_secrets").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function deleteSecret(trx: Tx, tenantId: string, name: string): Promise<void> {
  await trx
    .deleteFrom("agent_config_secrets")
    .where("tenant_id", "=", tenantId)
    .where("name", "=", name)
    .execute();
}

/** Every stored secret version, in pages (for rewrap). */
export async function listAllSecretVersions(
  db: Queryable,
  afterId: string | undefined,
  limit: number,
): Promise<SecretRow[]> {
  let q = db.selectFrom("agent_config_secrets").selectAll();
  if (afterId) q = q.where("id", ">", afterId);
  return q.orderBy("id").limit(limit).execute();
}

export async function updateEnvelope(
  db: Queryable,
  id: string,
  envelope: string,
  keyId: string,
): Promise<void> {
  await db
    .updateTable("agent_config_secrets")
    .set({ envelope, kms_key_id: keyId })
    .where("id", "=", id)
    .execute();
}

/** Latest revisions of a tenant's templates, with whether an assignment uses the template. */
export async function latestRevisionContents(
  db: Queryable,
  tenantId: string,
): Promise<Array<{ template: string; version: number; content: string; in_use: boolean }>> {
  const result = await sql<{ template: string; version: number; content: string; in_use: boolean }>`
    select t.name as template, r.version, r.content,
      exists (select 1 from agent_config_assignments a where a.template_id = t.id
              and coalesce(a.revision_version, t.latest_version) = r.version) as in_use
    from agent_config_templates t
    join agent_config_template_revisions r on r.template_id = t.id
    where t.tenant_id = ${tenantId}
      and (r.version = t.latest_version or exists (select 1 from agent_config_assignments a
           where a.template_id = t.id and a.revision_version = r.version))`.execute(db);
  return result.rows;
}

/** Whether the tenant's own-telemetry settings reference secret `name` in a header. */
export async function ownTelemetryReferencesSecret(
  db: Queryable,
  tenantId: string,
  name: string,
): Promise<boolean> {
  const result = await sql<{ used: boolean }>`
    select exists (select 1 from tenant_own_telemetry where tenant_id = ${tenantId}
      and jsonb_path_exists(settings, '$.*.headers.*.secret ? (@ == $name)', jsonb_build_object('name', ${name}::text))
    ) as used`.execute(db);
  return result.rows[0]?.used === true;
}
