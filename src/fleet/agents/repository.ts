import { type Expression, type Kysely, type SqlBool, sql, type Transaction, type Updateable } from "kysely";
import type { AgentKeyRow, AgentRow, AgentsTable, Database } from "../../db/schema.js";
import type { Requirement } from "../selector.js";

type Db = Kysely<Database> | Transaction<Database>;

export interface AgentRef {
  tenantId: string;
  instanceUid: string;
}

/** An agent row with its replica's last heartbeat (null when no replica holds it). */
export type AgentWithReplica = AgentRow & { replica_heartbeat_at: Date | null };

export async function findAgent(db: Db, ref: AgentRef): Promise<AgentWithReplica | undefined> {
  return db
    .selectFrom("agents")
    .leftJoin("replicas", "replicas.id", "agents.replica_id")
    .selectAll("agents")
    .select("replicas.heartbeat_at as replica_heartbeat_at")
    .where("agents.tenant_id", "=", ref.tenantId)
    .where("agents.instance_uid", "=", ref.instanceUid)
    .executeTakeFirst();
}

export async function lockAgent(trx: Transaction<Database>, ref: AgentRef): Promise<AgentRow | undefined> {
  return trx
    .selectFrom("agents")
    .selectAll()
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .forUpdate()
    .executeTakeFirst();
}

/** Inserts the agent unless it exists; true when this call created it. */
export async function insertAgentIfAbsent(
  trx: Transaction<Database>,
  row: { tenant_id: string; instance_uid: string; enrollment_token_id: string; labels: string },
): Promise<boolean> {
  const inserted = await trx
    .insertInto("agents")
    .values(row)
    .onConflict((oc) => oc.columns(["tenant_id", "instance_uid"]).doNothing())
    .returning("instance_uid")
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function updateAgent(db: Db, ref: AgentRef, patch: Updateable<AgentsTable>): Promise<void> {
  await db
    .updateTable("agents")
    .set({ ...patch, updated_at: new Date() })
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .execute();
}

/** Clears the connection columns, but only if `connectionId` still holds the agent. */
export async function markAgentDisconnected(db: Db, ref: AgentRef, connectionId: string): Promise<void> {
  await db
    .updateTable("agents")
    .set({ replica_id: null, connection_id: null, disconnected_at: new Date() })
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .where("connection_id", "=", connectionId)
    .execute();
}

/** One statement for a whole batch of heartbeats (DESIGN.md §4: never one UPDATE per message). */
export async function touchAgents(db: Db, replicaId: string, refs: AgentRef[]): Promise<void> {
  if (refs.length === 0) return;
  const tenants = refs.map((r) => r.tenantId);
  const uids = refs.map((r) => r.instanceUid);
  await sql`
    update agents set last_seen_at = now()
    from (select unnest(${tenants}::text[]) as tenant_id, unnest(${uids}::uuid[]) as instance_uid) as seen
    where agents.tenant_id = seen.tenant_id and agents.instance_uid = seen.instance_uid
      and agents.replica_id = ${replicaId}`.execute(db);
}

export async function deleteAgent(trx: Transaction<Database>, ref: AgentRef): Promise<void> {
  await trx
    .deleteFrom("agents")
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .execute();
}

// --- keys -------------------------------------------------------------------------------------

export async function insertAgentKey(
  trx: Db,
  row: { id: string; tenant_id: string; instance_uid: string; key_hash: Uint8Array; display_prefix: string },
): Promise<AgentKeyRow> {
  return trx.insertInto("agent_keys").values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findAgentKeyByHash(db: Db, hash: Uint8Array): Promise<AgentKeyRow | undefined> {
  return db.selectFrom("agent_keys").selectAll().where("key_hash", "=", hash).executeTakeFirst();
}

export async function listAgentKeys(db: Db, ref: AgentRef): Promise<AgentKeyRow[]> {
  return db
    .selectFrom("agent_keys")
    .selectAll()
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .orderBy("created_at", "desc")
    .execute();
}

/** Revokes the agent's live keys matching `which`, with a reason for the key history. */
export async function revokeAgentKeys(
  trx: Transaction<Database>,
  ref: AgentRef,
  reason: string,
  which: { unusedOnly?: boolean; createdBefore?: Date; exceptId?: string } = {},
): Promise<number> {
  let q = trx
    .updateTable("agent_keys")
    .set({ revoked_at: new Date(), revoke_reason: reason })
    .where("tenant_id", "=", ref.tenantId)
    .where("instance_uid", "=", ref.instanceUid)
    .where("revoked_at", "is", null);
  if (which.unusedOnly) q = q.where("first_used_at", "is", null);
  if (which.createdBefore) q = q.where("created_at", "<", which.createdBefore);
  if (which.exceptId) q = q.where("id", "!=", which.exceptId);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function markAgentKeyUsed(
  trx: Transaction<Database>,
  keyId: string,
  firstUse: boolean,
): Promise<void> {
  const now = new Date();
  await trx
    .updateTable("agent_keys")
    .set(firstUse ? { first_used_at: now, last_used_at: now } : { last_used_at: now })
    .where("id", "=", keyId)
    .execute();
}

// --- listing ----------------------------------------------------------------------------------

export interface AgentListFilter {
  tenantId: string;
  requirements: Requirement[];
  status?: "online" | "offline";
  text?: string;
  afterUid?: string;
  limit: number;
  /** Liveness thresholds, computed by the service. */
  onlineSince: Date;
  replicaFreshSince: Date;
}

/** SQL for one selector requirement over the `labels` jsonb column. */
function requirementSql(r: Requirement): Expression<SqlBool> {
  const has = sql<SqlBool>`jsonb_exists(agents.labels, ${r.key})`;
  switch (r.op) {
    case "exists":
      return has;
    case "notexists":
      return sql<SqlBool>`not ${has}`;
    case "eq":
      // Containment uses the GIN index on labels.
      return sql<SqlBool>`agents.labels @> ${JSON.stringify({ [r.key]: r.value })}::jsonb`;
    case "neq":
      return sql<SqlBool>`not (agents.labels @> ${JSON.stringify({ [r.key]: r.value })}::jsonb)`;
    case "in":
      return sql<SqlBool>`(agents.labels ->> ${r.key}) = any(${r.values}::text[])`;
    case "notin":
      return sql<SqlBool>`not coalesce((agents.labels ->> ${r.key}) = any(${r.values}::text[]), false)`;
  }
  return sql<SqlBool>`false`;
}

/** The SQL form of "online" (see AgentService.statusOf for the same rule in code). */
function onlineSql(f: AgentListFilter): Expression<SqlBool> {
  return sql<SqlBool>`(agents.replica_id is not null and agents.last_seen_at >= ${f.onlineSince}
    and exists (select 1 from replicas r where r.id = agents.replica_id and r.stopped_at is null
                and r.heartbeat_at >= ${f.replicaFreshSince}))`;
}

/** Keyset page by instance_uid: one index range scan however deep the page. */
export async function listAgents(db: Db, f: AgentListFilter): Promise<AgentWithReplica[]> {
  let q = db
    .selectFrom("agents")
    .leftJoin("replicas", "replicas.id", "agents.replica_id")
    .selectAll("agents")
    .select("replicas.heartbeat_at as replica_heartbeat_at")
    .where("agents.tenant_id", "=", f.tenantId);
  for (const r of f.requirements) q = q.where(requirementSql(r));
  if (f.status === "online") q = q.where(onlineSql(f));
  if (f.status === "offline") q = q.where(sql<SqlBool>`not ${onlineSql(f)}`);
  if (f.text) {
    const pattern = `%${f.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where((eb) =>
      eb.or([
        sql<SqlBool>`agents.instance_uid::text ilike ${pattern}`,
        sql<SqlBool>`agents.description::text ilike ${pattern}`,
        sql<SqlBool>`agents.labels::text ilike ${pattern}`,
      ]),
    );
  }
  if (f.afterUid) q = q.where("agents.instance_uid", ">", f.afterUid);
  return q.orderBy("agents.instance_uid").limit(f.limit).execute();
}
