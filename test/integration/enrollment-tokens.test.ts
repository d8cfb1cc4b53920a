import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let op: ApiClient;
let tenant: string;

beforeAll(async () => {
  srv = await startTestServer();
  op = apiClient(srv.url, srv.operatorKey);
  tenant = (await op.post("/api/v1/tenants", { displayName: "Tokens" })).body.id;
});
afterAll(() => srv?.stop());

describe("enrollment tokens", () => {
  it("returns the xse_ token exactly once, with labels, limits and a display prefix", async () => {
    const created = await op.post(`/api/v1/tenants/${tenant}/enrollment-tokens`, {
      name: "prod-hosts",
      labels: { env: "prod", "topology.example.com/region": "eu-1" },
      maxUses: 100,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const t = created.body;
    expect(t.token).toMatch(/^xse_[0-9A-Za-z]{38}$/);
    expect(t.token.startsWith(t.displayPrefix)).toBe(true);
    expect(t).toMatchObject({
      name: "prod-hosts",
      labels: { env: "prod", "topology.example.com/region": "eu-1" },
      maxUses: 100,
      useCount: 0,
      status: "active",
      allowConfigOnToken: false,
    });
    const got = await op.get(`/api/v1/tenants/${tenant}/enrollment-tokens/${t.id}`);
    expect(got.status).toBe(200);
    expect(got.body.token).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(t.token);
    const list = await op.get(`/api/v1/tenants/${tenant}/enrollment-tokens`);
    expect(JSON.stringify(list.body)).not.toContain(t.token);
    expect(srv.logs()).not.toContain(t.token);
  });

  it("stores only the SHA-256 of the token", async () => {
    const created = await op.post(`/api/v1/tenants/${tenant}/enrollment-tokens`, { name: "hashed" });
    const row = await srv.ctx.database.db
      .selectFrom("agent_enrollment_tokens")
      .selectAll()
      .where("id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(row.token_hash).length).toBe(32);
    expect(JSON.stringify(row)).not.toContain(created.body.token.slice(10));
  });

  it("revokes a token: shown as revoked, and revoking again is harmless", async () => {
    const created = await op.post(`/api/v1/tenants/${tenant}/enrollment-tokens`, { name: "short-lived" });
    const revoked = await op.delete(`/api/v1/tenants/${tenant}/enrollment-tokens/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe("revoked");
    expect(revoked.body.revokedAt).not.toBeNull();
    const again = await op.delete(`/api/v1/tenants/${tenant}/enrollment-tokens/${created.body.id}`);
    expect(again.status).toBe(200);
    expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
  });

  it("shows an expired token as expired", async () => {
    const created = await op.post(`/api/v1/tenants/${tenant}/enrollment-tokens`, {
      name: "expiring",
      expiresAt: new Date(Date.now() + 1000).toISOString(),
    });
    await new Promise((r) => setTimeout(r, 1100));
    const got = await op.get(`/api/v1/tenants/${tenant}/enrollment-tokens/${created.body.id}`);
    expect(got.body.status).toBe("expired");
  });

  it("answers 404 for a token id of another tenant or that does not exist", async () => {
    const other = (await op.post("/api/v1/tenants", { displayName: "Other" })).body.id;
    const created = await op.post(`/api/v1/tenants/${other}/enrollment-tokens`, { name: "theirs" });
    expect((await op.get(`/api/v1/tenants/${tenant}/enrollment-tokens/${created.body.id}`)).status).toBe(404);
    expect((await op.get(`/api/v1/tenants/${tenant}/enrollment-tokens/enr_nope`)).status).toBe(404);
  });
});
