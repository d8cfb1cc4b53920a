/**
 * The isolation matrix, generated from /openapi.json: every operation × every caller that must
 * be refused — another tenant's admin, editor and viewer keys and its admin JWT, the tenant's own
 * keys below the operation's role, a revoked key, an expired key, an expired, forged or unsigned
 * JWT, a malformed key, no credential — against a victim tenant full of real rows (an agent
 * enrolled over OpAMP, a template with two revisions, an assignment, a secret, an enrollment
 * token, an API key, a finished rollout, own-telemetry settings). Each answer is the documented
 * refusal (401, 403, or 404 without revealing the tenant), and the victim's stored rows are the
 * same afterwards. A route added to the code is in the matrix without a test edit.
 */
import { sign } from "hono/jwt";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { issueToken } from "../../src/credentials/index.js";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import { call, documentedOperations, type Operation, RANK, type Role } from "../helpers/operations.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { createTenantData, type TenantData } from "../helpers/tenant-data.js";

const JWT_SECRET = "isolation-matrix-jwt-secret-0123456789abcdef";

let srv: TestServer;
const clock = new ManualClock();
let victim: TenantData;
let attacker: TenantFixture;
let attackerKeys: Record<"viewer" | "editor" | "admin", string>;
let ops: Operation[];
/** The credentials that must get 401 anywhere. */
let unauthenticated: { who: string; bearer: string | null }[];
let attackerJwt: string;

const jwtNow = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  srv = await startTestServer({
    clock,
    env: { JWT_SECRET, LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200" },
  });
  victim = await createTenantData(srv, "Victim", clock);
  attacker = await createTenant(srv, "Attacker");
  const key = async (tenantId: string, role: string, extra: Record<string, unknown> = {}) => {
    const r = await attacker.api.post(`/api/v1/tenants/${tenantId}/api-keys`, { name: role, role, ...extra });
    expect(r.status).toBe(201);
    return r.body as { id: string; key: string };
  };
  attackerKeys = {
    viewer: (await key(attacker.tenantId, "viewer")).key,
    editor: (await key(attacker.tenantId, "editor")).key,
    admin: (await key(attacker.tenantId, "admin")).key,
  };
  const revoked = await key(victim.tenantId, "admin");
  expect(
    (await attacker.api.delete(`/api/v1/tenants/${victim.tenantId}/api-keys/${revoked.id}`)).status,
  ).toBe(200);
  const expiring = await key(victim.tenantId, "admin", {
    expiresAt: new Date(clock.now() + 1_000).toISOString(),
  });
  await clock.advance(2_000);
  const claims = { sub: "portal-user", role: "admin", tenant_id: victim.tenantId };
  attackerJwt = await sign({ ...claims, tenant_id: attacker.tenantId, exp: jwtNow() + 600 }, JWT_SECRET);
  unauthenticated = [
    { who: "no credential", bearer: null },
    { who: "a malformed xsa_ key", bearer: `${victim.keys.admin.slice(0, -2)}xx` },
    { who: "an unknown xsa_ key", bearer: issueToken("admin").plaintext },
    { who: "the tenant's revoked admin key", bearer: revoked.key },
    { who: "the tenant's expired admin key", bearer: expiring.key },
    { who: "an expired admin JWT", bearer: await sign({ ...claims, exp: jwtNow() - 60 }, JWT_SECRET) },
    {
      who: "an admin JWT signed with another secret",
      bearer: await sign({ ...claims, exp: jwtNow() + 600 }, `${JWT_SECRET}-forged`),
    },
    {
      who: "an unsigned JWT (alg none) claiming operator",
      bearer: unsignedJwt({ sub: "x", role: "operator" }),
    },
  ];
  ops = await documentedOperations(srv.url);
}, 120_000);
afterAll(async () => {
  await victim?.fleet.stopAgents();
  await srv?.stop();
});

function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({ ...claims, exp: jwtNow() + 600 })}.`;
}

/** Every row the victim tenant owns, in every table with a tenant_id, as sorted JSON lines. */
async function victimRows(): Promise<Record<string, string[]>> {
  const { db } = srv.ctx.database;
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.columns
    where column_name = 'tenant_id' and table_schema = current_schema()
    order by table_name`.execute(db);
  const json = (row: Record<string, unknown>) =>
    JSON.stringify(row, (_k, v) =>
      typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
    );
  const dump: Record<string, string[]> = {};
  for (const { table_name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`
      select * from ${sql.table(table_name)} where tenant_id = ${victim.tenantId}`.execute(db);
    // Using a key marks it used (last_used_at): that is its owner's own request, not a change.
    dump[table_name] = rows.rows
      .map((r) => json(table_name === "admin_api_keys" ? { ...r, last_used_at: null } : r))
      .sort();
  }
  const tenant = await sql<
    Record<string, unknown>
  >`select * from tenants where id = ${victim.tenantId}`.execute(db);
  dump.tenants = tenant.rows.map(json);
  return dump;
}

describe("tenant isolation, every operation of /openapi.json", () => {
  it("refuses every caller that may not act, as documented, and the victim's rows do not change", async () => {
    const before = await victimRows();
    expect(before.agents).toHaveLength(1);
    expect(before.agent_config_template_revisions).toHaveLength(2);
    expect(before.rollouts).toHaveLength(1);

    const wrong: string[] = [];
    let attempts = 0;
    const check = async (
      op: Operation,
      params: Record<string, string>,
      who: string,
      bearer: string | null,
      want: (a: { status: number; code?: string; detail?: string }) => boolean,
      wantText: string,
    ) => {
      attempts++;
      const answer = await call(srv.url, op, params, bearer);
      if (!want(answer))
        wrong.push(`${who}: ${op.label} → ${answer.status} ${answer.code} (want ${wantText})`);
      if (answer.text.includes(victim.tenantId))
        wrong.push(`${who}: ${op.label} → the answer names the victim tenant`);
    };
    const is = (status: number, code: string) => (a: { status: number; code?: string }) =>
      a.status === status && a.code === code;

    for (const op of ops) {
      const params = victim.params;
      // The control: the ids are real, so the tenant's own key with the role reads them (200).
      if (op.method === "GET") {
        const owner = op.requiredRole === "operator" ? srv.operatorKey : victim.keys[op.requiredRole];
        const answer = await call(srv.url, op, params, owner);
        if (answer.status !== 200)
          wrong.push(`control, the tenant's own key: ${op.label} → ${answer.status}`);
      }
      for (const { who, bearer } of unauthenticated)
        await check(op, params, who, bearer, is(401, "unauthenticated"), "401");

      const others: [string, string, Role][] = [
        ["another tenant's admin key", attackerKeys.admin, "admin"],
        ["another tenant's editor key", attackerKeys.editor, "editor"],
        ["another tenant's viewer key", attackerKeys.viewer, "viewer"],
        ["another tenant's admin JWT", attackerJwt, "admin"],
      ];
      for (const [who, bearer, role] of others) {
        if (op.tenantScoped) await check(op, params, who, bearer, is(404, "not_found"), "404");
        else if (RANK[role] < RANK[op.requiredRole])
          await check(op, params, who, bearer, is(403, "forbidden"), "403");
        else await check(op, params, who, bearer, (a) => a.status < 500, "a normal answer");
      }

      // The tenant's own keys below the operation's role: a viewer writing, an editor revoking…
      if (op.tenantScoped)
        for (const role of ["viewer", "editor", "admin"] as const)
          if (RANK[role] < RANK[op.requiredRole])
            await check(
              op,
              params,
              `the tenant's ${role} key`,
              victim.keys[role],
              is(403, "forbidden"),
              "403",
            );

      // The victim's ids under the attacker's own tenant: nothing of the victim is found.
      if (op.tenantScoped) {
        const own = { ...params, tenantId: attacker.tenantId };
        const who = "another tenant's admin key, own tenant path, victim's ids";
        const resourceParams = (op.path.match(/\{(\w+)\}/g) ?? []).filter((p) => p !== "{tenantId}");
        if (op.agentScoped)
          await check(
            op,
            own,
            who,
            attackerKeys.admin,
            (a) => a.status === 404 && a.detail === "agent not found",
            "404 agent not found",
          );
        else if (op.method !== "PUT" && resourceParams.some((p) => p !== "{name}"))
          await check(op, own, who, attackerKeys.admin, (a) => a.status === 404 || a.status === 400, "404");
        else await check(op, own, who, attackerKeys.admin, (a) => a.status < 500, "a normal answer");
      }
    }

    expect(wrong).toEqual([]);
    expect(attempts).toBeGreaterThan(ops.length * 12);
    // The victim's agent is still there and still holds its key (nothing revoked it).
    const agent = await apiClient(srv.url, victim.keys.viewer).get(
      `/api/v1/tenants/${victim.tenantId}/agents/${victim.params.instanceUid}`,
    );
    expect(agent.status).toBe(200);
    expect(agent.body.revokedAt).toBeNull();
    expect(await victimRows()).toEqual(before);
  }, 60_000);
});
