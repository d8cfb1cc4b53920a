import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const agent = (opts: Parameters<TenantFixture["agent"]>[0]) => fleet.agent(opts);

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Enrollment");
});
afterEach(() => fleet.stopAgents());
afterAll(() => srv?.stop());

async function getAgent(uid: string) {
  return fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${uid}`);
}

describe("two-phase enrollment", () => {
  it("enrolls with xse_, switches to its own xag_ key, reconnects and shows online with its description", async () => {
    const { token } = await fleet.enrollmentToken({ labels: { env: "prod" } });
    const a = agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    expect(a.followedOffers).toHaveLength(1);
    const offer = a.followedOffers[0];
    expect(offer?.destinationEndpoint).toBe(`ws://localhost:${srv.port}/v1/opamp`);
    expect(offer?.heartbeatIntervalSeconds).toBe(30n);
    expect(a.currentToken).toMatch(/^xag_[0-9A-Za-z]{38}$/);
    // The first reply of each connection carries the server's capabilities.
    expect(a.received[0]?.capabilities).toBe(0x27n);
    // The offer's hash is set (the supervisor cannot report status on an empty one).
    expect(a.received[0]?.connectionSettings?.hash.length).toBeGreaterThan(0);

    const res = await eventually(async () => {
      const r = await getAgent(a.instanceUidString);
      return r.body.keyConfirmedAt ? r : undefined;
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      instanceUid: a.instanceUidString,
      status: "online",
      attention: null,
      labels: { env: "prod" },
      description: {
        identifying: { "service.name": "otelcol-contrib", "service.instance.id": a.instanceUidString },
        nonIdentifying: { "host.name": "test-host" },
      },
      connection: { transport: "websocket" },
    });
    expect(res.body.capabilities.names).toContain("acceptsOpAMPConnectionSettings");
    expect(res.body.keys).toHaveLength(1);
    expect(res.body.keys[0].firstUsedAt).not.toBeNull();
    expect(JSON.stringify(res.body)).not.toContain(a.currentToken);

    const list = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents`);
    expect(list.body.items.map((x: { instanceUid: string }) => x.instanceUid)).toContain(a.instanceUidString);
  });

  it("enrolls a burst of agents started at once, each with its own key; a token with maxUses admits exactly that many", async () => {
    const { id, token } = await fleet.enrollmentToken({ maxUses: 4, labels: { burst: "limited" } });
    const burst = Array.from({ length: 10 }, () => agent({ token }));
    // Started together, their first messages are group-committed into the same statements.
    await Promise.all(burst.map((a) => a.start().catch(() => undefined)));
    const list = await eventually(async () => {
      const r = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents?selector=burst%3Dlimited`);
      return r.body.items.length === 4 &&
        r.body.items.every((x: { keyConfirmedAt: unknown }) => x.keyConfirmedAt)
        ? r
        : undefined;
    });
    const enrolled = burst.filter((a) => a.followedOffers.length === 1);
    expect(enrolled).toHaveLength(4);
    expect(new Set(enrolled.map((a) => a.currentToken)).size).toBe(4);
    expect(list.body.items.map((x: { instanceUid: string }) => x.instanceUid).sort()).toEqual(
      enrolled.map((a) => a.instanceUidString).sort(),
    );
    // The other six were refused: told the token is exhausted, or 401 once the count was reached.
    for (const a of burst.filter((x) => !enrolled.includes(x))) {
      const told = a.received.some((m) => m.errorResponse?.errorMessage === "enrollment token is exhausted");
      expect(told || a.refusals.some((r) => r.status === 401)).toBe(true);
    }
    const tokenView = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/enrollment-tokens/${id}`);
    expect(tokenView.body).toMatchObject({ useCount: 4, status: "exhausted" });
  });

  it("never re-offers connection settings on the xag_ connection (no reconnect loop)", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    for (let i = 0; i < 3; i++) await a.heartbeat();
    await new Promise((r) => setTimeout(r, 200));
    expect(a.offers).toHaveLength(1);
    expect(a.clientCount).toBe(2);
  });

  it("goes offline at once when the agent disconnects", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    await a.stop();
    const res = await eventually(async () => {
      const r = await getAgent(a.instanceUidString);
      return r.body.status === "offline" ? r : undefined;
    });
    expect(res.body.connection.disconnectedAt).not.toBeNull();
  });

  it("shows an agent that left to switch keys and never came back offline after the switch grace", async () => {
    const { token } = await fleet.enrollmentToken();
    // Takes the offer but does not act on it, then leaves with agent_disconnect, as the supervisor
    // does before it reconnects with the key; this one never reconnects.
    const a = agent({ token, followConnectionSettings: false });
    await a.start();
    await a.settle();
    expect(a.offers).toHaveLength(1);
    await a.stop();
    const left = Date.now();
    const online = await getAgent(a.instanceUidString);
    expect(online.body.status).toBe("online");
    const res = await eventually(
      async () => {
        const r = await getAgent(a.instanceUidString);
        return r.body.status === "offline" ? r : undefined;
      },
      8_000,
      "the agent offline",
    );
    expect(Date.now() - left).toBeGreaterThanOrEqual(2_500);
    expect(res.body.connection.disconnectedAt).not.toBeNull();
  });

  it("re-enrolls after a supervisor restart with the same uid and no duplicate row", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    const firstKey = a.currentToken;
    await a.restart();
    await a.waitForConnection(4);
    await a.settle();
    expect(a.currentToken).not.toBe(firstKey);
    const rows = await srv.ctx.database.db
      .selectFrom("agents")
      .select("instance_uid")
      .where("instance_uid", "=", a.instanceUidString)
      .execute();
    expect(rows).toHaveLength(1);
    const res = await eventually(async () => {
      const r = await getAgent(a.instanceUidString);
      return r.body.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt).length === 1
        ? r
        : undefined;
    });
    expect(res.body.status).toBe("online");
    // The key lost with the restarted supervisor's memory no longer works.
    const stale = new TestAgent({ url: fleet.opampUrl, token: firstKey, instanceUid: a.instanceUid });
    await expect(stale.start()).rejects.toMatchObject({ status: 401 });
    const tokenView = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/enrollment-tokens`);
    const used = tokenView.body.items.find(
      (t: { token?: string; useCount: number; id: string }) => t.useCount > 0 && t.id,
    );
    expect(used).toBeDefined();
  });

  it("revokes an agent: the live socket closes within seconds, its key gets 401, re-enrolling is refused", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    const key = a.currentToken;
    const revoked = await fleet.api.post(
      `/api/v1/tenants/${fleet.tenantId}/agents/${a.instanceUidString}/revoke`,
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect(revoked.body.attention).toBe("revoked");
    const closed = await a.waitForClose(5_000);
    expect(closed.code).toBe(1008);
    const withKey = new TestAgent({ url: fleet.opampUrl, token: key, instanceUid: a.instanceUid });
    await expect(withKey.start()).rejects.toMatchObject({ status: 401 });

    // Coming back with the enrollment token and the same uid: held, with an error, no offer.
    const again = agent({ token, instanceUid: a.instanceUid });
    await again.start();
    const first = again.received[0];
    expect(first?.errorResponse?.errorMessage).toMatch(/revoked/);
    expect(first?.connectionSettings).toBeUndefined();
    const hb = await again.heartbeat();
    expect(hb.errorResponse).toBeUndefined();
    expect(hb.connectionSettings).toBeUndefined();
    expect(again.clientCount).toBe(1);
    expect((await getAgent(a.instanceUidString)).body.revokedAt).not.toBeNull();

    // Deleting the agent lets it enroll afresh.
    await fleet.api.delete(`/api/v1/tenants/${fleet.tenantId}/agents/${a.instanceUidString}`);
    await again.waitForClose(5_000);
    const fresh = agent({ token, instanceUid: a.instanceUid });
    await fresh.start();
    await fresh.waitForConnection(2);
    await fresh.settle();
    expect((await getAgent(a.instanceUidString)).body.revokedAt).toBeNull();
  });

  it("rotates a key on the live connection; the old key works until the new one is used", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    const oldKey = a.currentToken;
    const res = await fleet.api.post(
      `/api/v1/tenants/${fleet.tenantId}/agents/${a.instanceUidString}/rotate-key`,
    );
    expect(res.status).toBe(200);
    expect(res.body.keyRotationRequestedAt).not.toBeNull();
    await a.waitForConnection(3, 5_000);
    await a.settle();
    expect(a.currentToken).not.toBe(oldKey);
    expect(a.currentToken).toMatch(/^xag_/);
    const detail = await eventually(async () => {
      const r = await getAgent(a.instanceUidString);
      return r.body.keyRotationRequestedAt === null ? r : undefined;
    });
    const live = detail.body.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt);
    expect(live).toHaveLength(1);
    const stale = new TestAgent({ url: fleet.opampUrl, token: oldKey, instanceUid: a.instanceUid });
    await expect(stale.start()).rejects.toMatchObject({ status: 401 });
  });
});
