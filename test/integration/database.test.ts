import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/schema.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Every column of every table, as the Kysely types declare them (checked by the compiler). */
const COLUMNS: { [T in keyof Database]: ReadonlyArray<keyof Database[T]> } = {
  tenants: ["id", "org_id", "display_name", "created_at", "created_by"],
  admin_api_keys: [
    "id",
    "tenant_id",
    "name",
    "role",
    "key_hash",
    "display_prefix",
    "created_at",
    "created_by",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "revoked_by",
  ],
  agent_enrollment_tokens: [
    "id",
    "tenant_id",
    "name",
    "labels",
    "token_hash",
    "display_prefix",
    "expires_at",
    "max_uses",
    "use_count",
    "allow_config_on_token",
    "created_at",
    "created_by",
    "last_used_at",
    "revoked_at",
    "revoked_by",
  ],
  agents: [
    "tenant_id",
    "instance_uid",
    "enrollment_token_id",
    "labels",
    "description",
    "capabilities",
    "health",
    "effective_config",
    "effective_config_hash",
    "remote_config_status",
    "available_components_hash",
    "running_config_hash",
    "running_since",
    "sequence_num",
    "replica_id",
    "connection_id",
    "transport",
    "connected_at",
    "disconnected_at",
    "last_seen_at",
    "heartbeat_interval_s",
    "enrolled_at",
    "key_confirmed_at",
    "key_rotation_requested_at",
    "revoked_at",
    "revoked_by",
    "created_at",
    "updated_at",
    "restart_requested_at",
    "restart_start_time_unix_nano",
    "restart_completed_at",
    "custom_capabilities",
    "desired_config_hash",
    "drift",
  ],
  agent_keys: [
    "id",
    "tenant_id",
    "instance_uid",
    "key_hash",
    "display_prefix",
    "created_at",
    "first_used_at",
    "last_used_at",
    "revoked_at",
    "revoke_reason",
  ],
  agent_config_templates: [
    "id",
    "tenant_id",
    "name",
    "description",
    "latest_version",
    "source",
    "created_at",
    "created_by",
    "updated_at",
  ],
  agent_config_template_revisions: [
    "id",
    "tenant_id",
    "template_id",
    "version",
    "content",
    "content_sha256",
    "message",
    "author",
    "created_at",
  ],
  agent_config_assignments: [
    "id",
    "tenant_id",
    "name",
    "description",
    "selector",
    "match_reported_attributes",
    "template_id",
    "revision_version",
    "priority",
    "source",
    "created_at",
    "created_by",
    "updated_at",
    "rollout_strategy",
    "layer",
  ],
  agent_config_deliveries: [
    "id",
    "tenant_id",
    "instance_uid",
    "config_hash",
    "template_id",
    "revision_id",
    "assignment_id",
    "status",
    "error_message",
    "rolled_back_from",
    "attempts",
    "created_at",
    "updated_at",
    "offered_at",
    "applying_at",
    "applied_at",
    "failed_at",
    "superseded_at",
    "overlay_revision_ids",
  ],
  agent_config_secrets: [
    "id",
    "tenant_id",
    "name",
    "version",
    "envelope",
    "kms_key_id",
    "created_at",
    "created_by",
  ],
  audit_events: [
    "id",
    "tenant_id",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "details",
    "created_at",
  ],
  fleet_events: ["id", "tenant_id", "kind", "payload", "claimed_by", "created_at"],
  replicas: ["id", "hostname", "started_at", "heartbeat_at", "stopped_at"],
  idempotency_keys: ["scope", "key", "request_hash", "status_code", "response", "created_at"],
  tenant_own_telemetry: ["tenant_id", "settings", "updated_at", "updated_by"],
  agent_component_sets: [
    "tenant_id",
    "hash",
    "components",
    "refusal",
    "list_bytes",
    "reported_by",
    "reported_at",
  ],
  rollouts: [
    "id",
    "tenant_id",
    "assignment_id",
    "from_revision_id",
    "to_revision_id",
    "state",
    "reason",
    "strategy",
    "waves",
    "current_wave",
    "wave_started_at",
    "failure_budget",
    "acknowledged_failures",
    "population",
    "superseded_by",
    "lease_owner",
    "lease_expires_at",
    "created_by",
    "created_at",
    "updated_at",
    "finished_at",
  ],
  rollout_agents: [
    "rollout_id",
    "tenant_id",
    "instance_uid",
    "position",
    "canary",
    "state",
    "reason",
    "hold_revision_id",
    "admitted_at",
    "applied_at",
    "finished_at",
    "updated_at",
  ],
};

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

describe("database schema", () => {
  it("matches the Kysely types column for column", async () => {
    const rows = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = 'public' and table_name not like 'kysely_%'`.execute(srv.ctx.database.db);
    const actual: Record<string, string[]> = {};
    for (const r of rows.rows) {
      actual[r.table_name] = [...(actual[r.table_name] ?? []), r.column_name];
    }
    const expected = Object.fromEntries(
      Object.entries(COLUMNS).map(([t, cols]) => [t, [...cols].map(String).sort()]),
    );
    expect(Object.fromEntries(Object.entries(actual).map(([t, cols]) => [t, cols.sort()]))).toEqual(expected);
  });

  it("keeps template revisions immutable", async () => {
    const { db } = srv.ctx.database;
    await sql`insert into tenants (id, display_name, created_by) values ('xs_immut_aaaaaaaa', 'Immut', 'test')`.execute(
      db,
    );
    await sql`insert into agent_config_templates (id, tenant_id, name, created_by)
              values ('tpl_immut', 'xs_immut_aaaaaaaa', 'base', 'test')`.execute(db);
    await sql`insert into agent_config_template_revisions (id, tenant_id, template_id, version, content, content_sha256, author)
              values ('rev_immut', 'xs_immut_aaaaaaaa', 'tpl_immut', 1, 'a: 1', 'abc', 'test')`.execute(db);
    await expect(
      sql`update agent_config_template_revisions set content = 'a: 2' where id = 'rev_immut'`.execute(db),
    ).rejects.toThrow(/immutable/);
    const r = await sql<{
      content: string;
    }>`select content from agent_config_template_revisions where id = 'rev_immut'`.execute(db);
    expect(r.rows[0]?.content).toBe("a: 1");
  });

  it("refuses a second agent row for the same (tenant, instance_uid)", async () => {
    const { db } = srv.ctx.database;
    await sql`insert into tenants (id, display_name, created_by) values ('xs_dup_aaaaaaaa', 'Dup', 'test')`.execute(
      db,
    );
    const uid = "01890a5d-ac96-774b-bcce-b302099a8057";
    await sql`insert into agents (tenant_id, instance_uid) values ('xs_dup_aaaaaaaa', ${uid})`.execute(db);
    await expect(
      sql`insert into agents (tenant_id, instance_uid) values ('xs_dup_aaaaaaaa', ${uid})`.execute(db),
    ).rejects.toThrow();
  });

  it("runs migrations idempotently: a second start applies nothing and is ready", async () => {
    const again = await startTestServer({ database: srv.database, env: { ADMIN_TOKEN: srv.operatorKey } });
    try {
      const res = await fetch(`${again.url}/readyz`);
      expect(res.status).toBe(200);
      expect(again.logs()).not.toContain("database migrated");
    } finally {
      await again.stop();
    }
  });
});
