/**
 * What the fleet console needs from the server (issue 15): who the caller is, the portal's JWT
 * in a cookie only together with the console's header, and browser assets from this server
 * rather than a CDN. The console itself is tested in a browser by `npm run test:console`.
 */
import { sign } from "hono/jwt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const JWT_SECRET = "console-jwt-secret-0123456789abcdef0123";

let srv: TestServer;
let fleet: TenantFixture;

beforeAll(async () => {
  srv = await startTestServer({ env: { JWT_SECRET } });
  fleet = await createTenant(srv, "Console Serving");
});
afterAll(() => srv?.stop());

async function jwt(role: string): Promise<string> {
  const exp = Math.floor(Date.now() / 1000) + 60;
  return sign({ sub: "portal-user", tenant_id: fleet.tenantId, role, exp }, JWT_SECRET, "HS256");
}

describe("whoami", () => {
  it("tells a tenant key its tenant and role, and the operator that it sees every tenant", async () => {
    const key = await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/api-keys`, {
      name: "v",
      role: "viewer",
    });
    expect(key.status).toBe(201);
    const viewer = apiClient(srv.url, key.body.key);
    const me = await viewer.get("/api/v1/whoami");
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ type: "api_key", id: key.body.id, tenantId: fleet.tenantId, role: "viewer" });
    expect((await fleet.api.get("/api/v1/whoami")).body).toMatchObject({ tenantId: null, role: "operator" });
  });

  it("answers 401 problem+json without a credential", async () => {
    const res = await fleet.api.get("/api/v1/whoami", { token: null });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("is in the OpenAPI document", async () => {
    const doc = await fleet.api.get("/openapi.json", { token: null });
    expect(doc.body.paths["/api/v1/whoami"].get).toBeDefined();
    expect(doc.body.components.schemas.WhoAmI).toBeDefined();
  });
});

describe("the portal's JWT cookie", () => {
  const whoami = (headers: Record<string, string>) =>
    fetch(`${srv.url}/api/v1/whoami`, { headers }).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));

  it("signs the console in when it comes with the console header", async () => {
    const res = await whoami({ cookie: `agent_api_jwt=${await jwt("editor")}`, "x-agent-api-console": "1" });
    expect(res).toEqual({
      status: 200,
      body: { type: "jwt", id: "jwt:portal-user", tenantId: fleet.tenantId, role: "editor" },
    });
  });

  it("is no credential alone: a cross-site request cannot ride it", async () => {
    const token = await jwt("admin");
    expect((await whoami({ cookie: `agent_api_jwt=${token}` })).status).toBe(401);
    const write = await fetch(`${srv.url}/api/v1/tenants/${fleet.tenantId}/enrollment-tokens`, {
      method: "POST",
      headers: { cookie: `agent_api_jwt=${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "csrf" }),
    });
    expect(write.status).toBe(401);
  });

  it("carries only a JWT: an API key in the cookie is refused", async () => {
    const key = await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/api-keys`, {
      name: "c",
      role: "viewer",
    });
    const res = await whoami({ cookie: `agent_api_jwt=${key.body.key}`, "x-agent-api-console": "1" });
    expect(res.status).toBe(401);
  });

  it("is ignored when JWT_SECRET is not set", async () => {
    const plain = await startTestServer();
    try {
      const res = await fetch(`${plain.url}/api/v1/whoami`, {
        headers: { cookie: `agent_api_jwt=${await jwt("viewer")}`, "x-agent-api-console": "1" },
      });
      expect(res.status).toBe(401);
    } finally {
      await plain.stop();
    }
  });
});

describe("browser assets come from this server", () => {
  it("serves the /docs page with swagger-ui from its own node_modules, not a CDN", async () => {
    const page = await (await fetch(`${srv.url}/docs`)).text();
    expect(page).not.toMatch(/https?:\/\//);
    const scripts = [...page.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toEqual([
      "/docs/assets/swagger-ui-dist/swagger-ui.css",
      "/docs/assets/swagger-ui-dist/swagger-ui-bundle.js",
    ]);
    for (const asset of scripts) {
      const res = await fetch(`${srv.url}${asset}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/(css|javascript)/);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it("refuses paths that leave the asset folders", async () => {
    for (const path of [
      "/docs/assets/swagger-ui-dist/..%2Fpackage.json",
      "/docs/assets/swagger-ui-dist/%2e%2e%2f%2e%2e%2fpackage.json",
      "/ui/..%2F..%2Fpackage.json",
      "/ui/%2e%2e/%2e%2e/package.json",
      "/ui/assets/nothing.js",
    ]) {
      const res = await fetch(`${srv.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain('"name": "agent-api"');
    }
  });

  it("sends /ui to /ui/", async () => {
    const res = await fetch(`${srv.url}/ui`, { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("/ui/");
  });
});
