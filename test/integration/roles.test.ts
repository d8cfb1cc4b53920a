/**
 * Roles (DESIGN.md §10, docs/roles.md), walked from /openapi.json: every operation declares its
 * minimum role; a key of each role gets 403 below it and a normal answer (success or the
 * documented validation/not-found/conflict answer) at or above it; docs/roles.md is the same
 * table; every agent-scoped route answers 404 "agent not found" for an agent the tenant does not
 * have, whatever the verb and the body.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import {
  call,
  destructiveLast,
  documentedOperations,
  type Operation,
  RANK,
  type Role,
} from "../helpers/operations.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { createTenantData, type TenantData } from "../helpers/tenant-data.js";

let srv: TestServer;
let data: TenantData;
let ops: Operation[];
const clock = new ManualClock();

beforeAll(async () => {
  srv = await startTestServer({ clock, env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200" } });
  data = await createTenantData(srv, "Roles", clock);
  ops = await documentedOperations(srv.url);
}, 120_000);
afterAll(async () => {
  await data?.fleet.stopAgents();
  await srv?.stop();
});

/** The `| METHOD | path | role |` rows of docs/roles.md's table. */
async function rolesDocTable(): Promise<string[]> {
  const text = await readFile(new URL("../../docs/roles.md", import.meta.url), "utf8");
  return text
    .split("\n")
    .map((line) => /^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`\s*\|\s*(\w+)\s*\|/.exec(line))
    .flatMap((m) => (m ? [`${m[1]} ${m[2]} ${m[3]}`] : []));
}

describe("roles", () => {
  it("docs/roles.md lists every operation with the role the server enforces", async () => {
    const documented = ops.map((op) => `${op.label} ${op.requiredRole}`).sort();
    // On a mismatch, the message carries the table's rows as they should read, to paste.
    const rows = ops.map((op) => `| ${op.method} | \`${op.path}\` | ${op.requiredRole} | ${op.summary} |`);
    expect(
      (await rolesDocTable()).sort(),
      `docs/roles.md's table differs from /openapi.json; its rows should be:\n${rows.join("\n")}\n`,
    ).toEqual(documented);
  });

  it("follows DESIGN.md §10: revoke, delete and key rotation of agents are admin; restart and retry editor", () => {
    const role = (label: string) => ops.find((op) => op.label === label)?.requiredRole;
    const agent = "/api/v1/tenants/{tenantId}/agents/{instanceUid}";
    expect(role(`POST ${agent}/revoke`)).toBe("admin");
    expect(role(`POST ${agent}/rotate-key`)).toBe("admin");
    expect(role(`DELETE ${agent}`)).toBe("admin");
    expect(role(`POST ${agent}/restart`)).toBe("editor");
    expect(role(`POST ${agent}/deliveries/retry`)).toBe("editor");
    expect(role("POST /api/v1/tenants/{tenantId}/deliveries/retry")).toBe("editor");
    for (const op of ops)
      if (op.method === "GET" && op.tenantScoped && !/api-keys|audit-events/.test(op.path))
        expect(op.requiredRole, op.label).toBe("viewer");
    for (const op of ops)
      if (op.method !== "GET" && op.tenantScoped)
        expect(RANK[op.requiredRole], `${op.label}: a viewer only reads`).toBeGreaterThan(RANK.viewer);
  });

  it("shows the role in each operation's description", async () => {
    const doc = (await (await fetch(`${srv.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { description: string }>>;
    };
    for (const op of ops) {
      const described = doc.paths[op.path]?.[op.method.toLowerCase()]?.description;
      expect(described, op.label).toContain(`Required role: **${op.requiredRole}**`);
    }
  });

  it("an agent-scoped route answers 404 agent not found for a uid the tenant does not have", async () => {
    const agentOps = ops.filter((op) => op.agentScoped);
    expect(agentOps.length).toBeGreaterThanOrEqual(9);
    const params = { ...data.params, instanceUid: randomUUID() };
    for (const op of agentOps) {
      for (const key of [data.keys.admin, srv.operatorKey]) {
        const answer = await call(srv.url, op, params, key);
        expect([answer.status, answer.code, answer.detail], op.label).toEqual([
          404,
          "not_found",
          "agent not found",
        ]);
      }
    }
  });

  it("a key of each role gets 403 below the operation's role and a normal answer at or above it", async () => {
    const keys: Record<Role, string> = { ...data.keys, operator: srv.operatorKey };
    const walked: string[] = [];
    const wrong: string[] = [];
    for (const op of destructiveLast(ops)) {
      for (const role of ["viewer", "editor", "admin", "operator"] as const) {
        const answer = await call(srv.url, op, data.params, keys[role]);
        const what = `${role} ${op.label} → ${answer.status} ${answer.code ?? ""} ${answer.detail ?? ""}`;
        walked.push(what);
        const allowed = RANK[role] >= RANK[op.requiredRole];
        if (!allowed && (answer.status !== 403 || answer.code !== "forbidden"))
          wrong.push(`${what} (want 403)`);
        if (allowed && (answer.status === 401 || answer.status === 403 || answer.status >= 500))
          wrong.push(`${what} (want a normal answer)`);
        if (allowed && !op.documented.has(answer.status)) wrong.push(`${what} (not a documented answer)`);
      }
    }
    expect(wrong).toEqual([]);
    expect(walked.length).toBe(ops.length * 4);
  }, 60_000);
});
