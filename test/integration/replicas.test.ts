/**
 * Two replicas on one database: a change made through one reaches agents held by the other,
 * by NOTIFY or, when the notification is lost, by the poll.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseKind } from "../helpers/database.js";
import { configPushedAfter, createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let a: TestServer;
let b: TestServer;
let fleet: TenantFixture;

beforeAll(async () => {
  const env = { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "1000" };
  a = await startTestServer({ env });
  // PostgreSQL: a second pool on the same database, as another process would have. Embedded:
  // the one in-process database handle, shared (PGlite is opened once per process).
  b = await startTestServer({
    env: { ...env, ADMIN_TOKEN: a.operatorKey },
    ...(testDatabaseKind === "postgres" ? { database: a.database } : { shareDatabaseOf: a }),
  });
  fleet = await createTenant(a, "Replicas");
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

async function enrolledOn(srv: TestServer): Promise<TestAgent> {
  const { token } = await fleet.enrollmentToken();
  const agent = new TestAgent({ url: `ws://127.0.0.1:${srv.port}/v1/opamp`, token });
  await agent.start();
  await agent.waitForConnection(2);
  await agent.settle();
  return agent;
}

describe("cross-replica propagation", () => {
  it("closes an agent's socket on replica A within 5 s of its revocation through replica B", async () => {
    const agent = await enrolledOn(a);
    const viaB = apiClient(b.url, a.operatorKey);
    const started = Date.now();
    const res = await viaB.post(`/api/v1/tenants/${fleet.tenantId}/agents/${agent.instanceUidString}/revoke`);
    expect(res.status).toBe(200);
    const closed = await agent.waitForClose(5_000);
    expect(closed.code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("pushes a new revision committed through replica B to an agent on replica A within 2 s", async () => {
    await fleet.api.put(`/api/v1/tenants/${fleet.tenantId}/config-templates/xr`, {
      content: "receivers: {}\n",
    });
    await fleet.api.put(`/api/v1/tenants/${fleet.tenantId}/assignments/xr`, {
      selector: "",
      template: "xr",
      priority: 1,
    });
    const agent = await enrolledOn(a);
    await agent.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    const viaB = apiClient(b.url, a.operatorKey);
    const since = agent.received.length;
    const started = Date.now();
    const put = await viaB.put(`/api/v1/tenants/${fleet.tenantId}/config-templates/xr`, {
      content: "receivers: {}\nexporters: {}\n",
    });
    expect(put.status).toBe(201);
    const pushed = await configPushedAfter(agent, since, 3_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(Buffer.from(pushed.remoteConfig?.config?.configMap[""]?.body ?? []).toString()).toContain(
      "exporters",
    );
    await agent.stop();
  });
  it("still delivers the change by polling when the notification is lost", async () => {
    const agent = await enrolledOn(a);
    const viaB = apiClient(b.url, a.operatorKey);
    // Drop replica A's LISTEN: only its poll of fleet_events can notice the revocation now.
    await a.ctx.fleetEvents.stop();
    const { FleetEventFeed } = await import("../../src/fleet/events.js");
    const pollingOnly = new FleetEventFeed(
      { ...a.ctx.database, listen: async () => async () => undefined },
      a.ctx.logger,
      { pollIntervalMs: 500, windowMs: 15_000, retentionMs: 3_600_000 },
    );
    pollingOnly.subscribe((e) => a.server.opamp.onFleetEvent(e));
    await pollingOnly.start();
    try {
      await viaB.post(`/api/v1/tenants/${fleet.tenantId}/agents/${agent.instanceUidString}/revoke`);
      const closed = await agent.waitForClose(5_000);
      expect(closed.code).toBe(1008);
    } finally {
      await pollingOnly.stop();
    }
  });

  it("shows an agent offline once the replica holding it stops heartbeating its replicas row", async () => {
    const agent = await enrolledOn(a);
    const view = () => fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${agent.instanceUidString}`);
    expect((await view()).body.status).toBe("online");
    // Simulate replica A dying without a word: its presence row goes stale.
    await a.ctx.database.db
      .updateTable("replicas")
      .set({ heartbeat_at: new Date(Date.now() - 120_000) })
      .where("id", "=", a.ctx.replicaId)
      .execute();
    const viaB = apiClient(b.url, a.operatorKey);
    const seen = await eventually(async () => {
      const r = await viaB.get(`/api/v1/tenants/${fleet.tenantId}/agents/${agent.instanceUidString}`);
      return r.body.status === "offline" ? r : undefined;
    });
    expect(seen.body.status).toBe("offline");
    await agent.stop();
  });

  it("marks every agent of a replica offline at once when it shuts down gracefully", async () => {
    const c = await startTestServer({
      env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "1000", ADMIN_TOKEN: a.operatorKey },
      ...(testDatabaseKind === "postgres" ? { database: a.database } : { shareDatabaseOf: a }),
    });
    const agents = [await enrolledOn(c), await enrolledOn(c)];
    const view = (uid: string) => fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${uid}`);
    for (const agent of agents) expect((await view(agent.instanceUidString)).body.status).toBe("online");
    await c.stop();
    for (const agent of agents) {
      const body = (await view(agent.instanceUidString)).body;
      expect(body.status).toBe("offline");
      expect(body.connection.disconnectedAt).not.toBeNull();
      agent.kill();
    }
  });
});
