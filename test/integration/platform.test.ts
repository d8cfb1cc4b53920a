import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, apiClient } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let api: ApiClient;

beforeAll(async () => {
  srv = await startTestServer();
  api = apiClient(srv.url, srv.operatorKey);
});
afterAll(() => srv?.stop());

describe("operations endpoints", () => {
  it("answers /healthz without touching the database", async () => {
    const res = await api.get("/healthz", { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("reports ready on /readyz once the database is reachable and migrated", async () => {
    const res = await api.get("/readyz", { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "ready",
      database: "ok",
      migrations: "current",
      draining: false,
    });
  });

  it("exposes Prometheus metrics with HTTP requests by route template and pool figures", async () => {
    await api.get("/api/v1/tenants/xs_nope_aaaaaaaa");
    const res = await fetch(`${srv.url}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(text).toMatch(
      /agentapi_http_requests_total\{route="\/api\/v1\/tenants\/:tenantId",method="GET",status="404"\} \d+/,
    );
    expect(text).toContain("agentapi_process_resident_memory_bytes");
    expect(text).not.toContain("xs_nope_aaaaaaaa");
    if (srv.ctx.database.kind === "postgres")
      expect(text).toContain('agentapi_db_pool_connections{state="total"}');
  });

  it("counts open file descriptors without walking every handle on the event loop", async () => {
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    // Open fds are counted off the event loop; the figure is that of the previous count.
    const fds = Number(/^agentapi_process_open_fds (\d+)$/m.exec(text)?.[1]);
    expect(fds).toBeGreaterThan(3);
    // The collectors that list every active handle at each scrape are not there.
    expect(text).not.toContain("agentapi_nodejs_active_handles");
    expect(text).not.toContain("agentapi_nodejs_active_resources");
    expect(text).toContain("agentapi_nodejs_eventloop_lag_p99_seconds");
  });

  it("serves an OpenAPI 3.1 document generated from the routes, and a docs page", async () => {
    const res = await api.get("/openapi.json", { token: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const paths = Object.keys(res.body.paths);
    for (const p of [
      "/api/v1/tenants",
      "/api/v1/tenants/{tenantId}",
      "/api/v1/tenants/{tenantId}/api-keys",
      "/api/v1/tenants/{tenantId}/api-keys/{keyId}",
      "/api/v1/tenants/{tenantId}/enrollment-tokens",
      "/api/v1/tenants/{tenantId}/enrollment-tokens/{tokenId}",
      "/api/v1/tenants/{tenantId}/audit-events",
      "/api/v1/tenants/{tenantId}/agents",
      "/api/v1/tenants/{tenantId}/agents/{instanceUid}",
      "/api/v1/tenants/{tenantId}/agents/{instanceUid}/revoke",
      "/api/v1/tenants/{tenantId}/agents/{instanceUid}/rotate-key",
      "/api/v1/tenants/{tenantId}/agents/{instanceUid}/restart",
      "/api/v1/tenants/{tenantId}/agents/restart",
      "/api/v1/tenants/{tenantId}/agents/{instanceUid}/config",
      "/api/v1/tenants/{tenantId}/agents/{instanceUid}/deliveries",
      "/api/v1/tenants/{tenantId}/config-templates/{name}",
      "/api/v1/tenants/{tenantId}/config-templates/{name}/revisions/{version}",
      "/api/v1/tenants/{tenantId}/assignments/{name}",
      "/api/v1/tenants/{tenantId}/secrets/{name}",
      "/api/v1/tenants/{tenantId}/deliveries",
      "/api/v1/tenants/{tenantId}/deliveries/rollup",
      "/api/v1/tenants/{tenantId}/apply",
      "/api/v1/tenants/{tenantId}/own-telemetry",
      "/api/v1/tenants/{tenantId}/rollouts",
      "/api/v1/tenants/{tenantId}/rollouts/{id}",
      "/api/v1/tenants/{tenantId}/rollouts/{id}/agents",
      "/api/v1/tenants/{tenantId}/rollouts/{id}/pause",
      "/api/v1/tenants/{tenantId}/rollouts/{id}/resume",
      "/api/v1/tenants/{tenantId}/rollouts/{id}/abort",
    ]) {
      expect(paths).toContain(p);
    }
    expect(res.body.components.schemas.Problem).toBeDefined();
    const docs = await fetch(`${srv.url}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("/openapi.json");
  });

  it("echoes a caller's request id and generates one otherwise", async () => {
    const mine = await api.get("/healthz", { token: null, headers: { "x-request-id": "caller-req-12345" } });
    expect(mine.headers.get("x-request-id")).toBe("caller-req-12345");
    const generated = await api.get("/healthz", { token: null });
    expect(generated.headers.get("x-request-id")).toMatch(/^req_[0-9a-z]{26}$/);
  });

  it("answers unknown routes with a problem+json 404", async () => {
    const res = await api.get("/api/v1/nothing-here");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ code: "not_found", status: 404 });
  });

  it("writes one summary log line per request and never the credential", async () => {
    await api.get("/api/v1/tenants");
    const logs = srv.logs();
    expect(logs).toContain('"route":"/api/v1/tenants"');
    expect(logs).not.toContain(srv.operatorKey);
  });

  it("reports not ready (503) while draining", async () => {
    srv.ctx.state.draining = true;
    try {
      const res = await api.get("/readyz", { token: null });
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: "not ready", draining: true });
    } finally {
      srv.ctx.state.draining = false;
    }
  });
});
