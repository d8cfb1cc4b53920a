import { sign } from "hono/jwt";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueToken } from "../../src/credentials/index.js";
import { type ApiClient, apiClient } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789";

let srv: TestServer;
let op: ApiClient;

/** Row counts of every table a REST mutation can touch, to prove failed calls write nothing. */
async function snapshot(): Promise<Record<string, number>> {
  const { db } = srv.ctx.database;
  const out: Record<string, number> = {};
  for (const table of [
    "tenants",
    "admin_api_keys",
    "agent_enrollment_tokens",
    "audit_events",
    "idempotency_keys",
  ]) {
    const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db);
    out[table] = r.rows[0]?.n ?? -1;
  }
  return out;
}

async function newTenant(name = "Acme Prod"): Promise<string> {
  const res = await op.post("/api/v1/tenants", { displayName: name });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function tenantKey(tenantId: string, role: "admin" | "editor" | "viewer"): Promise<string> {
  const res = await op.post(`/api/v1/tenants/${tenantId}/api-keys`, { name: `${role}-key`, role });
  expect(res.status).toBe(201);
  return res.body.key;
}

beforeAll(async () => {
  srv = await startTestServer({ env: { JWT_SECRET, BODY_LIMIT_BYTES: "4096" } });
  op = apiClient(srv.url, srv.operatorKey);
});
afterAll(() => srv?.stop());

describe("tenants", () => {
  it("creates a tenant with an id derived from its display name, and lists and gets it", async () => {
    const created = await op.post("/api/v1/tenants", { displayName: "Acme Prod" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ displayName: "Acme Prod", orgId: null });
    expect(created.body.id).toMatch(/^xs_acmeprod_[a-z2-7]{8}$/);
    expect(created.headers.get("location")).toBe(`/api/v1/tenants/${created.body.id}`);
    const got = await op.get(`/api/v1/tenants/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
    expect(got.headers.get("etag")).toMatch(/^W\/".+"$/);
    const listed = await op.get("/api/v1/tenants?limit=500");
    expect(listed.body.items.map((t: { id: string }) => t.id)).toContain(created.body.id);
  });

  it("pages through tenants with a cursor, without repeats or gaps", async () => {
    for (let i = 0; i < 5; i++) await newTenant(`Paging ${i}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { id: string }[]; nextCursor: string | null } } = await op.get(
        `/api/v1/tenants?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      seen.push(...res.body.items.map((t) => t.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    const all = await op.get("/api/v1/tenants?limit=500");
    expect(seen).toEqual(all.body.items.map((t: { id: string }) => t.id));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("rejects a tampered cursor with 400 naming the cursor parameter", async () => {
    const res = await op.get("/api/v1/tenants?cursor=bm90LWEtY3Vyc29y");
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_cursor");
    expect(res.body.issues).toEqual([
      { path: "cursor", message: "not a cursor this API issued for this listing" },
    ]);
  });

  it("deletes a tenant with If-Match, refusing a stale ETag with 412 and deleting nothing", async () => {
    const id = await newTenant("Doomed");
    const before = await snapshot();
    const stale = await op.delete(`/api/v1/tenants/${id}`, { headers: { "if-match": 'W/"stale"' } });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe("precondition_failed");
    expect(await snapshot()).toEqual(before);
    const etag = (await op.get(`/api/v1/tenants/${id}`)).headers.get("etag") ?? "";
    const ok = await op.delete(`/api/v1/tenants/${id}`, { headers: { "if-match": etag } });
    expect(ok.status).toBe(204);
    expect((await op.get(`/api/v1/tenants/${id}`)).status).toBe(404);
  });

  it("lets only the operator create tenants; a tenant admin gets 403", async () => {
    const id = await newTenant();
    const admin = apiClient(srv.url, await tenantKey(id, "admin"));
    const before = await snapshot();
    const res = await admin.post("/api/v1/tenants", { displayName: "Sneaky" });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("forbidden");
    expect(await snapshot()).toEqual(before);
  });
});

describe("tenant isolation", () => {
  it("answers 404, not 403, when a tenant key asks about another tenant", async () => {
    const a = await newTenant("Tenant A");
    const b = await newTenant("Tenant B");
    const tokenA = (await op.post(`/api/v1/tenants/${a}/enrollment-tokens`, { name: "a-hosts" })).body;
    const adminB = apiClient(srv.url, await tenantKey(b, "admin"));
    const before = await snapshot();
    for (const res of [
      await adminB.get(`/api/v1/tenants/${a}`),
      await adminB.get(`/api/v1/tenants/${a}/enrollment-tokens`),
      await adminB.get(`/api/v1/tenants/${a}/enrollment-tokens/${tokenA.id}`),
      await adminB.delete(`/api/v1/tenants/${a}/enrollment-tokens/${tokenA.id}`),
      await adminB.post(`/api/v1/tenants/${a}/api-keys`, { name: "x", role: "viewer" }),
      await adminB.get(`/api/v1/tenants/${a}/audit-events`),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("not_found");
    }
    // B's own id under its path does not reach A's token either.
    expect((await adminB.get(`/api/v1/tenants/${b}/enrollment-tokens/${tokenA.id}`)).status).toBe(404);
    expect(await snapshot()).toEqual(before);
    const listB = await adminB.get("/api/v1/tenants");
    expect(listB.body.items.map((t: { id: string }) => t.id)).toEqual([b]);
  });
});

describe("authentication", () => {
  it("rejects a missing, malformed, unknown, revoked or expired key with 401 and writes nothing", async () => {
    const id = await newTenant();
    const revoked = await op.post(`/api/v1/tenants/${id}/api-keys`, { name: "old", role: "viewer" });
    await op.delete(`/api/v1/tenants/${id}/api-keys/${revoked.body.id}`);
    const expiring = await op.post(`/api/v1/tenants/${id}/api-keys`, {
      name: "short",
      role: "viewer",
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect(expiring.status).toBe(201);
    await new Promise((r) => setTimeout(r, 1600));
    const before = await snapshot();
    const cases: Array<[string, string | null]> = [
      ["missing", null],
      ["malformed", "xsa_short"],
      ["bad checksum", `${srv.operatorKey.slice(0, -1)}${srv.operatorKey.endsWith("A") ? "B" : "A"}`],
      ["unknown", issueToken("admin").plaintext],
      ["revoked", revoked.body.key],
      ["expired", expiring.body.key],
      ["wrong kind", issueToken("enrollment").plaintext],
    ];
    for (const [what, token] of cases) {
      const res = await op.get(`/api/v1/tenants/${id}`, { token });
      expect(res.status, what).toBe(401);
      expect(res.headers.get("www-authenticate"), what).toContain("Bearer");
      expect(res.body.code, what).toBe("unauthenticated");
    }
    expect(await snapshot()).toEqual(before);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    for (const reason of ["missing", "malformed", "unknown", "revoked", "expired"]) {
      expect(metrics).toMatch(
        new RegExp(`agentapi_auth_failures_total\\{transport="rest",reason="${reason}"\\} [1-9]`),
      );
    }
  });

  it("rejects a non-Bearer Authorization scheme", async () => {
    const res = await op.get("/api/v1/tenants", {
      token: null,
      headers: { authorization: `Basic ${srv.operatorKey}` },
    });
    expect(res.status).toBe(401);
  });

  it("enforces roles: viewer reads, editor manages tokens, only admin manages keys", async () => {
    const id = await newTenant();
    const viewer = apiClient(srv.url, await tenantKey(id, "viewer"));
    const editor = apiClient(srv.url, await tenantKey(id, "editor"));
    const admin = apiClient(srv.url, await tenantKey(id, "admin"));
    expect((await viewer.get(`/api/v1/tenants/${id}/enrollment-tokens`)).status).toBe(200);
    const before = await snapshot();
    expect((await viewer.post(`/api/v1/tenants/${id}/enrollment-tokens`, { name: "v" })).status).toBe(403);
    expect((await editor.post(`/api/v1/tenants/${id}/api-keys`, { name: "e", role: "viewer" })).status).toBe(
      403,
    );
    expect((await editor.get(`/api/v1/tenants/${id}/api-keys`)).status).toBe(403);
    expect(await snapshot()).toEqual(before);
    expect((await editor.post(`/api/v1/tenants/${id}/enrollment-tokens`, { name: "e" })).status).toBe(201);
    expect((await admin.post(`/api/v1/tenants/${id}/api-keys`, { name: "a", role: "editor" })).status).toBe(
      201,
    );
  });

  it("accepts HS256 JWTs from the portal mapped to the same roles", async () => {
    const id = await newTenant();
    const now = Math.floor(Date.now() / 1000);
    const viewerJwt = await sign(
      { sub: "user-1", tenant_id: id, role: "viewer", exp: now + 60 },
      JWT_SECRET,
      "HS256",
    );
    const viewer = apiClient(srv.url, viewerJwt);
    expect((await viewer.get(`/api/v1/tenants/${id}`)).status).toBe(200);
    expect((await viewer.post(`/api/v1/tenants/${id}/enrollment-tokens`, { name: "x" })).status).toBe(403);
    const other = await newTenant();
    expect((await viewer.get(`/api/v1/tenants/${other}`)).status).toBe(404);
    const expired = await sign(
      { sub: "user-1", tenant_id: id, role: "admin", exp: now - 10 },
      JWT_SECRET,
      "HS256",
    );
    expect((await op.get(`/api/v1/tenants/${id}`, { token: expired })).status).toBe(401);
    const forged = await sign(
      { sub: "user-1", role: "operator", exp: now + 60 },
      "another-secret-of-sufficient-length!!",
      "HS256",
    );
    expect((await op.get("/api/v1/tenants", { token: forged })).status).toBe(401);
    const operatorJwt = await sign({ sub: "portal", role: "operator", exp: now + 60 }, JWT_SECRET, "HS256");
    const created = await apiClient(srv.url, operatorJwt).post("/api/v1/tenants", {
      displayName: "From Portal",
    });
    expect(created.status).toBe(201);
    const audit = await op.get(`/api/v1/tenants/${created.body.id}/audit-events`);
    expect(audit.body.items[0].actor).toEqual({ type: "jwt", id: "jwt:portal" });
  });

  it("does not let an admin mint a key above its own role or an operator key", async () => {
    const id = await newTenant();
    const admin = apiClient(srv.url, await tenantKey(id, "admin"));
    const res = await admin.post(`/api/v1/tenants/${id}/api-keys`, { name: "x", role: "operator" });
    expect(res.status).toBe(400);
    expect(res.body.issues[0].path).toBe("role");
  });
});

describe("request validation", () => {
  it("answers malformed JSON with 400 and stores nothing", async () => {
    const before = await snapshot();
    const res = await op.call("POST", "/api/v1/tenants", { raw: '{"displayName": "x",' });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ code: "bad_request", status: 400 });
    expect(res.body.requestId).toBe(res.headers.get("x-request-id"));
    expect(await snapshot()).toEqual(before);
  });

  it("rejects unknown fields and wrong types with their field paths", async () => {
    const id = await newTenant();
    const before = await snapshot();
    const unknown = await op.post("/api/v1/tenants", { displayName: "x", colour: "red" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issues).toEqual([{ path: "colour", message: "unknown field" }]);
    const wrongType = await op.post(`/api/v1/tenants/${id}/enrollment-tokens`, { name: "x", maxUses: "ten" });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.issues[0].path).toBe("maxUses");
    const badLabel = await op.post(`/api/v1/tenants/${id}/enrollment-tokens`, {
      name: "x",
      labels: { env: "prod\nsneaky: yes" },
    });
    expect(badLabel.status).toBe(400);
    expect(badLabel.body.issues[0].path).toBe("labels.env");
    const pastExpiry = await op.post(`/api/v1/tenants/${id}/enrollment-tokens`, {
      name: "x",
      expiresAt: "2001-01-01T00:00:00Z",
    });
    expect(pastExpiry.status).toBe(400);
    expect(pastExpiry.body.issues[0].path).toBe("expiresAt");
    expect(await snapshot()).toEqual(before);
  });

  it("answers a body over the limit with 413 and stores nothing", async () => {
    const before = await snapshot();
    const res = await op.post("/api/v1/tenants", { displayName: "x".repeat(5000) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("payload_too_large");
    expect(await snapshot()).toEqual(before);
  });
});

describe("Idempotency-Key", () => {
  it("replays the first answer for a retried POST, without creating a second resource", async () => {
    const key = `retry-${Date.now()}`;
    const first = await op.post(
      "/api/v1/tenants",
      { displayName: "Once Only" },
      { headers: { "idempotency-key": key } },
    );
    expect(first.status).toBe(201);
    const before = await snapshot();
    const again = await op.post(
      "/api/v1/tenants",
      { displayName: "Once Only" },
      { headers: { "idempotency-key": key } },
    );
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await snapshot()).toEqual(before);
  });

  it("never stores or replays a one-time token", async () => {
    const id = await newTenant();
    const key = `tok-${Date.now()}`;
    const first = await op.post(
      `/api/v1/tenants/${id}/enrollment-tokens`,
      { name: "idem" },
      { headers: { "idempotency-key": key } },
    );
    expect(first.body.token).toMatch(/^xse_/);
    const again = await op.post(
      `/api/v1/tenants/${id}/enrollment-tokens`,
      { name: "idem" },
      { headers: { "idempotency-key": key } },
    );
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.token).toBeNull();
    const stored = await sql<{
      response: string;
    }>`select response::text as response from idempotency_keys`.execute(srv.ctx.database.db);
    expect(stored.rows.map((r) => r.response).join()).not.toContain(first.body.token);
  });

  it("refuses the same key with a different body with 409", async () => {
    const key = `conflict-${Date.now()}`;
    await op.post("/api/v1/tenants", { displayName: "First" }, { headers: { "idempotency-key": key } });
    const before = await snapshot();
    const res = await op.post(
      "/api/v1/tenants",
      { displayName: "Second" },
      { headers: { "idempotency-key": key } },
    );
    expect(res.status).toBe(409);
    expect(await snapshot()).toEqual(before);
  });

  it("forgets a key after 24 h: the same key with another body runs, and its answer is the one replayed", async () => {
    const key = `expired-${Date.now()}`;
    const old = await op.post(
      "/api/v1/tenants",
      { displayName: "Yesterday" },
      { headers: { "idempotency-key": key } },
    );
    expect(old.status).toBe(201);
    await sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = ${key}`.execute(
      srv.ctx.database.db,
    );
    const fresh = await op.post(
      "/api/v1/tenants",
      { displayName: "Today" },
      { headers: { "idempotency-key": key } },
    );
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get("idempotent-replayed")).toBeNull();
    expect(fresh.body.id).not.toBe(old.body.id);
    expect(fresh.body.displayName).toBe("Today");
    const retry = await op.post(
      "/api/v1/tenants",
      { displayName: "Today" },
      { headers: { "idempotency-key": key } },
    );
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body).toEqual(fresh.body);
  });
});

describe("audit trail", () => {
  it("records every mutation with actor, target and request id, and no secrets", async () => {
    const id = await newTenant("Audited");
    const token = await op.post(`/api/v1/tenants/${id}/enrollment-tokens`, {
      name: "hosts",
      labels: { env: "prod" },
    });
    const key = await op.post(`/api/v1/tenants/${id}/api-keys`, { name: "ci", role: "editor" });
    await op.delete(`/api/v1/tenants/${id}/enrollment-tokens/${token.body.id}`);
    await op.delete(`/api/v1/tenants/${id}/api-keys/${key.body.id}`);
    const res = await op.get(`/api/v1/tenants/${id}/audit-events`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { action: string }) => e.action)).toEqual([
      "api_key.revoke",
      "enrollment_token.revoke",
      "api_key.create",
      "enrollment_token.create",
      "tenant.create",
    ]);
    for (const e of res.body.items) {
      expect(e.requestId).toMatch(/^req_/);
      expect(e.actor.type).toBe("api_key");
    }
    const dump = JSON.stringify(res.body);
    expect(dump).not.toContain(token.body.token);
    expect(dump).not.toContain(key.body.key);
    const filtered = await op.get(`/api/v1/tenants/${id}/audit-events?action=tenant.create`);
    expect(filtered.body.items).toHaveLength(1);
  });
});
