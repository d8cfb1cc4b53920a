import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const agents: TestAgent[] = [];

async function enroll(
  labels: Record<string, string>,
  description?: Record<string, string>,
): Promise<TestAgent> {
  const { token } = await fleet.enrollmentToken({ labels });
  const a = new TestAgent({
    url: fleet.opampUrl,
    token,
    ...(description ? { description: { nonIdentifying: description } } : {}),
  });
  agents.push(a);
  await a.start();
  await a.waitForConnection(2);
  await a.settle();
  return a;
}

const path = (suffix = "") => `/api/v1/tenants/${fleet.tenantId}/agents${suffix}`;
const uids = (body: { items: { instanceUid: string }[] }) => body.items.map((i) => i.instanceUid).sort();

let prodEu: TestAgent;
let prodUs: TestAgent;
let stagingEu: TestAgent;
let canary: TestAgent;

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Agents API");
  prodEu = await enroll({ env: "prod", region: "eu" }, { "host.name": "web-eu-1" });
  prodUs = await enroll({ env: "prod", region: "us" }, { "host.name": "web-us-1" });
  stagingEu = await enroll({ env: "staging", region: "eu" }, { "host.name": "stage-eu-1" });
  canary = await enroll({ env: "prod", region: "eu", canary: "true" }, { "host.name": "canary-eu-1" });
  await canary.stop();
});
afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await srv?.stop();
});

describe("GET /agents", () => {
  it("filters by Kubernetes label selector over server-assigned labels", async () => {
    const cases: Array<[string, TestAgent[]]> = [
      ["env=prod", [prodEu, prodUs, canary]],
      ["env=prod,region in (eu)", [prodEu, canary]],
      ["env=prod,!canary", [prodEu, prodUs]],
      ["region notin (us),env!=staging", [prodEu, canary]],
      ["canary", [canary]],
      ["env in (prod,staging),region=us", [prodUs]],
    ];
    for (const [selector, expected] of cases) {
      const res = await fleet.api.get(`${path()}?selector=${encodeURIComponent(selector)}`);
      expect(res.status, selector).toBe(200);
      expect(uids(res.body), selector).toEqual(expected.map((a) => a.instanceUidString).sort());
    }
  });

  it("filters by status and by text in the description", async () => {
    const offline = await fleet.api.get(`${path()}?status=offline`);
    expect(uids(offline.body)).toEqual([canary.instanceUidString]);
    const online = await fleet.api.get(`${path()}?status=online`);
    expect(uids(online.body)).toEqual([prodEu, prodUs, stagingEu].map((a) => a.instanceUidString).sort());
    const text = await fleet.api.get(`${path()}?q=stage-eu`);
    expect(uids(text.body)).toEqual([stagingEu.instanceUidString]);
  });

  it("pages with a cursor in instance_uid order", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { instanceUid: string }[]; nextCursor: string | null } } =
        await fleet.api.get(`${path()}?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.body.items.length).toBeLessThanOrEqual(1);
      seen.push(...res.body.items.map((i) => i.instanceUid));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toHaveLength(4);
  });

  it("answers a selector syntax error with 422 and the column", async () => {
    const res = await fleet.api.get(`${path()}?selector=${encodeURIComponent("env=prod,region in eu")}`);
    expect(res.status).toBe(422);
    expect(res.body.issues[0]).toMatchObject({ path: "selector", column: 20 });
  });

  it("rejects an unknown status with 400", async () => {
    const res = await fleet.api.get(`${path()}?status=sleeping`);
    expect(res.status).toBe(400);
    expect(res.body.issues[0].path).toBe("status");
  });
});

describe("PATCH /agents/{uid}", () => {
  it("merges labels (null removes), honours If-Match, and records an audit event", async () => {
    const url = path(`/${prodUs.instanceUidString}`);
    const current = await fleet.api.get(url);
    const etag = current.headers.get("etag") ?? "";
    const stale = await fleet.api.patch(
      url,
      { labels: { tier: "web" } },
      { headers: { "if-match": 'W/"old"' } },
    );
    expect(stale.status).toBe(412);
    const res = await fleet.api.patch(
      url,
      { labels: { tier: "web", region: null } },
      { headers: { "if-match": etag } },
    );
    expect(res.status).toBe(200);
    expect(res.body.labels).toEqual({ env: "prod", tier: "web" });
    const audit = await fleet.api.get(
      `/api/v1/tenants/${fleet.tenantId}/audit-events?action=agent.labels_update`,
    );
    expect(audit.body.items[0]).toMatchObject({
      target: { type: "agent", id: prodUs.instanceUidString },
      details: { before: { env: "prod", region: "us" }, after: { env: "prod", tier: "web" } },
    });
  });

  it("rejects invalid label values with the field path and changes nothing", async () => {
    const url = path(`/${stagingEu.instanceUidString}`);
    const before = (await fleet.api.get(url)).body.labels;
    const res = await fleet.api.patch(url, { labels: { env: "bad value!" } });
    expect(res.status).toBe(400);
    expect(res.body.issues[0].path).toBe("labels.env");
    expect((await fleet.api.get(url)).body.labels).toEqual(before);
  });
});

describe("tenant isolation of agents", () => {
  it("answers 404 for another tenant's agent, even with its exact uid", async () => {
    const other = await createTenant(srv, "Other Tenant");
    const key = (
      await other.api.post(`/api/v1/tenants/${other.tenantId}/api-keys`, { name: "x", role: "admin" })
    ).body.key;
    const otherAdmin = apiClient(srv.url, key);
    const uid = prodEu.instanceUidString;
    expect((await otherAdmin.get(path(`/${uid}`))).status).toBe(404);
    expect((await otherAdmin.get(`/api/v1/tenants/${other.tenantId}/agents/${uid}`)).status).toBe(404);
    expect((await otherAdmin.post(`/api/v1/tenants/${other.tenantId}/agents/${uid}/revoke`)).status).toBe(
      404,
    );
    expect((await otherAdmin.delete(`/api/v1/tenants/${other.tenantId}/agents/${uid}`)).status).toBe(404);
    expect((await fleet.api.get(path(`/${uid}`))).body.revokedAt).toBeNull();
  });

  it("lets a viewer read agents but not change them", async () => {
    const key = (
      await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/api-keys`, { name: "v", role: "viewer" })
    ).body.key;
    const viewer = apiClient(srv.url, key);
    expect((await viewer.get(path())).status).toBe(200);
    expect((await viewer.post(path(`/${prodEu.instanceUidString}/revoke`))).status).toBe(403);
    expect((await viewer.patch(path(`/${prodEu.instanceUidString}`), { labels: { a: "b" } })).status).toBe(
      403,
    );
  });

  it("answers 404 for an unknown agent and 400 for a malformed uid", async () => {
    expect((await fleet.api.get(path("/01890a5d-ac96-774b-bcce-b302099a8057"))).status).toBe(404);
    const bad = await fleet.api.get(path("/not-a-uuid"));
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe("instanceUid");
  });
});

describe("GET /fleet", () => {
  it("counts every agent by status, attention, drift and label, as the list's filters do", async () => {
    const res = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/fleet`);
    expect(res.status).toBe(200);
    expect(res.body.agents).toEqual({ total: 4, online: 3, offline: 1, attention: 0, drift: 0 });
    const online = await fleet.api.get(path("?status=online"));
    expect(online.body.items).toHaveLength(res.body.agents.online);
    expect(res.body.labels.slice(0, 2)).toEqual([
      { label: "env=prod", total: 3, online: 2 },
      { label: "region=eu", total: 3, online: 2 },
    ]);
    expect(res.body.labels).toContainEqual({ label: "canary=true", total: 1, online: 0 });
    expect(res.body.labels).toHaveLength(5);
    // A revoked agent needs attention (and stays counted until deleted).
    const extra = await enroll({ env: "dev" });
    expect((await fleet.api.post(path(`/${extra.instanceUidString}/revoke`))).status).toBe(200);
    const after = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/fleet`);
    expect(after.body.agents).toMatchObject({ total: 5, attention: 1 });
  });
});
