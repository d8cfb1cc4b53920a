/**
 * Remote restart: the OpAMP Restart command, sent alone to a connected agent that accepts it (on
 * whichever replica holds it), paced when many are asked, audited, and shown in the agent view
 * until the agent reports a new start time. Refusals send and store nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerToAgent } from "../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability } from "../../src/protocol/capabilities.js";
import { testDatabaseKind } from "../helpers/database.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import type { TestAgentOptions } from "../helpers/opamp/agent-options.js";
import { SUPERVISOR_CAPABILITIES } from "../helpers/opamp/agent-wire.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const RESTARTABLE = SUPERVISOR_CAPABILITIES | AgentCapability.AcceptsRestartCommand;
const STARTED_NS = 1_700_000_000_000_000_000n;

let a: TestServer;
let b: TestServer;
let fleet: TenantFixture;

beforeAll(async () => {
  const env = { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", RESTART_RATE_PER_SECOND: "4" };
  a = await startTestServer({ env });
  b = await startTestServer({
    env: { ...env, ADMIN_TOKEN: a.operatorKey },
    ...(testDatabaseKind === "postgres" ? { database: a.database } : { shareDatabaseOf: a }),
  });
  fleet = await createTenant(a, "Restarts");
});
afterEach(async () => fleet.stopAgents());
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

const agentPath = (uid: string, suffix = "") => `/api/v1/tenants/${fleet.tenantId}/agents/${uid}${suffix}`;

function restartable(
  labels: Record<string, string> = {},
  capabilities = RESTARTABLE,
  extra: Partial<TestAgentOptions> = {},
): Promise<TestAgent> {
  return fleet.enrolledAgent(
    { capabilities, startingHealth: { healthy: true, startTimeUnixNano: STARTED_NS }, ...extra },
    { labels },
  );
}

/** Only instance_uid, capabilities and command: what the spec allows with a command. */
function expectCommandAlone(msg: ServerToAgent, uid: Uint8Array): void {
  expect(msg.command?.type).toBe(0);
  expect(msg.instanceUid).toEqual(uid);
  expect(msg.capabilities).not.toBe(0n);
  expect(msg.remoteConfig).toBeUndefined();
  expect(msg.connectionSettings).toBeUndefined();
  expect(msg.agentIdentification).toBeUndefined();
  expect(msg.errorResponse).toBeUndefined();
  expect(msg.flags).toBe(0n);
}

describe("POST …/agents/{uid}/restart", () => {
  it("sends the Restart command alone and shows the agent back once it reports a new start time", async () => {
    const agent = await restartable();
    const res = await fleet.api.post(agentPath(agent.instanceUidString, "/restart"));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ instanceUid: agent.instanceUidString, restart: { completedAt: null } });
    const command = await agent.waitFor((m) => m.command !== undefined, 5_000);
    expectCommandAlone(command, agent.instanceUid);
    const view = await eventually(async () => {
      const got = await fleet.api.get(agentPath(agent.instanceUidString));
      return got.body.restart?.completedAt ? got.body : undefined;
    });
    expect(view.restart.requestedAt).toBe(res.body.restart.requestedAt);
    expect(Date.parse(view.restart.completedAt)).toBeGreaterThanOrEqual(Date.parse(view.restart.requestedAt));
    expect(agent.collectorRestarts).toBe(1);
    const audit = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/audit-events?action=agent.restart`);
    expect(audit.body.items.map((e: { target: { id: string } }) => e.target.id)).toContain(
      agent.instanceUidString,
    );
  });

  it("is not complete while the agent reports the start time it had when asked", async () => {
    const agent = await restartable({}, RESTARTABLE, { actOnRestart: false });
    const res = await fleet.api.post(agentPath(agent.instanceUidString, "/restart"));
    expect(res.status).toBe(202);
    await agent.waitFor((m) => m.command !== undefined, 5_000);
    // The same start time again (e.g. a status report that was already on its way).
    await agent.reportHealth({ healthy: true, startTimeUnixNano: STARTED_NS });
    await agent.reportHealth({ healthy: false, startTimeUnixNano: 0n });
    const view = await fleet.api.get(agentPath(agent.instanceUidString));
    expect(view.body.restart).toEqual({ requestedAt: res.body.restart.requestedAt, completedAt: null });
  });

  it("reaches an agent held by another replica", async () => {
    const agent = await restartable();
    const viaB = apiClient(b.url, a.operatorKey);
    const res = await viaB.post(agentPath(agent.instanceUidString, "/restart"));
    expect(res.status).toBe(202);
    expectCommandAlone(await agent.waitFor((m) => m.command !== undefined, 5_000), agent.instanceUid);
  });

  it("reaches a plain-HTTP agent on a poll of its own, not merged into another reply", async () => {
    const { token } = await fleet.enrollmentToken();
    const agent = fleet.agent({
      token,
      url: fleet.opampHttpUrl,
      capabilities: RESTARTABLE,
      startingHealth: { healthy: true, startTimeUnixNano: STARTED_NS },
    });
    await agent.start();
    await agent.waitForConnection(2);
    await agent.settle();
    const res = await fleet.api.post(agentPath(agent.instanceUidString, "/restart"));
    expect(res.status).toBe(202);
    expectCommandAlone(await agent.waitFor((m) => m.command !== undefined, 5_000), agent.instanceUid);
  });

  it("refuses an agent without AcceptsRestartCommand with 409 and sends and stores nothing", async () => {
    const agent = await restartable({}, SUPERVISOR_CAPABILITIES);
    const res = await fleet.api.post(agentPath(agent.instanceUidString, "/restart"));
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/AcceptsRestartCommand/);
    await agent.heartbeat();
    expect(agent.received.some((m) => m.command !== undefined)).toBe(false);
    expect((await fleet.api.get(agentPath(agent.instanceUidString))).body.restart).toBeNull();
  });

  it("refuses an agent that is not connected with 409 and stores nothing", async () => {
    const agent = await restartable();
    await agent.stop();
    await eventually(async () => {
      const got = await fleet.api.get(agentPath(agent.instanceUidString));
      return got.body.status === "offline" ? true : undefined;
    });
    const res = await fleet.api.post(agentPath(agent.instanceUidString, "/restart"));
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/not connected/);
    expect((await fleet.api.get(agentPath(agent.instanceUidString))).body.restart).toBeNull();
  });

  it("answers 404 for an unknown agent, 400 for a malformed uid, 403 for a viewer", async () => {
    expect((await fleet.api.post(agentPath("01890a5d-ac96-774b-bcce-b302099a8057", "/restart"))).status).toBe(
      404,
    );
    expect((await fleet.api.post(agentPath("not-a-uid", "/restart"))).status).toBe(400);
    const agent = await restartable();
    const { key } = (
      await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/api-keys`, { name: "v", role: "viewer" })
    ).body;
    const viewer = apiClient(a.url, key);
    expect((await viewer.post(agentPath(agent.instanceUidString, "/restart"))).status).toBe(403);
    expect((await fleet.api.get(agentPath(agent.instanceUidString))).body.restart).toBeNull();
  });
});

describe("POST …/agents/restart", () => {
  it("asks every connected matching agent that accepts it, paced, and says how many", async () => {
    const first = await restartable({ pool: "paced" });
    const second = await restartable({ pool: "paced" });
    const third = await restartable({ pool: "paced" });
    const unable = await restartable({ pool: "paced" }, SUPERVISOR_CAPABILITIES);
    const elsewhere = await restartable({ pool: "other" });
    const res = await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/agents/restart`, {
      selector: "pool=paced",
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      requested: 3,
      skipped: { revoked: 0, noRestartCapability: 1, notConnected: 0 },
      perSecond: 4,
      spreadSeconds: 0.5,
    });
    const arrivals: number[] = [];
    for (const agent of [first, second, third]) {
      await agent.waitFor((m) => m.command !== undefined, 5_000);
      arrivals.push(Date.now());
    }
    // 4 per second: the last of three goes 500 ms after the first.
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeGreaterThanOrEqual(350);
    await unable.heartbeat();
    await elsewhere.heartbeat();
    expect(unable.received.some((m) => m.command)).toBe(false);
    expect(elsewhere.received.some((m) => m.command)).toBe(false);
    expect((await fleet.api.get(agentPath(elsewhere.instanceUidString))).body.restart).toBeNull();
  });

  it("refuses a bad selector with 422 naming the column, and asks nobody", async () => {
    const agent = await restartable({ pool: "bad" });
    const res = await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/agents/restart`, {
      selector: "pool in (bad",
    });
    expect(res.status).toBe(422);
    expect(res.body.issues[0]).toMatchObject({ path: "selector" });
    expect(typeof res.body.issues[0].column).toBe("number");
    const missing = await fleet.api.post(`/api/v1/tenants/${fleet.tenantId}/agents/restart`, {});
    expect(missing.status).toBe(400);
    await agent.heartbeat();
    expect(agent.received.some((m) => m.command)).toBe(false);
    expect((await fleet.api.get(agentPath(agent.instanceUidString))).body.restart).toBeNull();
  });
});

describe("custom capabilities", () => {
  it("stores what the agent reports and shows it in the agent view", async () => {
    const agent = await fleet.enrolledAgent({ customCapabilities: ["com.example.snapshot", "io.test.ping"] });
    const view = await fleet.api.get(agentPath(agent.instanceUidString));
    expect(view.body.customCapabilities).toEqual(["com.example.snapshot", "io.test.ping"]);
    const plain = await fleet.enrolledAgent();
    expect((await fleet.api.get(agentPath(plain.instanceUidString))).body.customCapabilities).toEqual([]);
  });
});
