/**
 * The agent state the API shows never contradicts itself: liveness by one rule (item and list
 * agree at any heartbeat interval), the grace of an enrollment switch, connection and key times,
 * a revoked agent held connected, the config an agent runs now, failures superseded by a later
 * success, stalled and applying deliveries, and the log lines operators read. Time moves through
 * a ManualClock: no real waits.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { ConfigStatus } from "../helpers/opamp/agent-wire.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const HEARTBEAT_S = 2;
const FLUSH_MS = 200;
const STALL_S = 60;

let srv: TestServer;
let fleet: TenantFixture;
let clock: ManualClock;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

beforeAll(async () => {
  clock = new ManualClock();
  srv = await startTestServer({
    clock,
    env: {
      HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_S),
      LIVENESS_FLUSH_MS: String(FLUSH_MS),
      FLEET_EVENTS_POLL_MS: "300",
      DELIVERY_STALL_SECONDS: String(STALL_S),
    },
  });
  fleet = await createTenant(srv, "Session State");
});
afterEach(() => fleet.stopAgents());
afterAll(() => srv?.stop());

async function agentView(uid: string) {
  const res = await fleet.api.get(t(`/agents/${uid}`));
  expect(res.status).toBe(200);
  return res.body;
}

async function listed(uid: string, status: "online" | "offline"): Promise<boolean> {
  const res = await fleet.api.get(t(`/agents?status=${status}&limit=500`));
  expect(res.status).toBe(200);
  return res.body.items.some((a: { instanceUid: string }) => a.instanceUid === uid);
}

/** Item status and both list filters, for one agent. */
async function liveness(uid: string) {
  const item = (await agentView(uid)).status;
  return { item, online: await listed(uid, "online"), offline: await listed(uid, "offline") };
}

async function putTemplate(name: string, content: string) {
  const res = await fleet.api.put(t(`/config-templates/${name}`), { content });
  expect([200, 201]).toContain(res.status);
  return res.body;
}

async function assign(name: string, selector: string, template: string) {
  const res = await fleet.api.put(t(`/assignments/${name}`), {
    selector,
    template,
    revision: "latest",
    priority: 10,
  });
  expect([200, 201]).toContain(res.status);
}

async function deliveriesOf(uid: string, query = "") {
  const res = await fleet.api.get(t(`/agents/${uid}/deliveries?limit=100${query}`));
  expect(res.status).toBe(200);
  return res.body.items as Array<{
    configHash: string;
    status: string;
    running: boolean;
    stalled: boolean;
    errorMessage: string | null;
    revision: { version: number | null } | null;
  }>;
}

describe("liveness: one rule for the item and the list", () => {
  it(`at HEARTBEAT_INTERVAL_SECONDS=${HEARTBEAT_S}, a heartbeating agent is online in its view and in ?status=online`, async () => {
    const a = await fleet.enrolledAgent();
    for (let i = 0; i < 10; i++) {
      await clock.advance(HEARTBEAT_S * 1000);
      await a.heartbeat();
    }
    await clock.advance(FLUSH_MS);
    expect(await liveness(a.instanceUidString)).toEqual({ item: "online", online: true, offline: false });
  });

  it("a silent agent (socket open) is offline in its view and in the list filters, after three of its intervals", async () => {
    const a = await fleet.enrolledAgent();
    await clock.advance(FLUSH_MS);
    expect(await liveness(a.instanceUidString)).toEqual({ item: "online", online: true, offline: false });
    // Still inside three intervals (+ one flush): online everywhere.
    await clock.advance(3 * HEARTBEAT_S * 1000 - FLUSH_MS);
    expect(await liveness(a.instanceUidString)).toEqual({ item: "online", online: true, offline: false });
    // Past them: offline everywhere, while its socket is still open.
    await clock.advance(2 * FLUSH_MS);
    expect(a.isConnected).toBe(true);
    expect(await liveness(a.instanceUidString)).toEqual({ item: "offline", online: false, offline: true });
    // A heartbeat brings it back, everywhere.
    await a.heartbeat();
    await clock.advance(FLUSH_MS);
    expect(await liveness(a.instanceUidString)).toEqual({ item: "online", online: true, offline: false });
  });
});

describe("connection state", () => {
  it("the end of an enrollment connection waits the switch grace: an agent that never comes back shows offline after it", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = fleet.agent({ token, followConnectionSettings: false });
    await a.start();
    await a.settle();
    expect(a.ignoredOffers).toHaveLength(1);
    // The agent says goodbye to switch keys, and is never seen again.
    await a.send({ agentDisconnect: {} });
    a.kill();
    await clock.advance(FLUSH_MS);
    const during = await agentView(a.instanceUidString);
    expect(during.connection.disconnectedAt).toBeNull();
    expect(during.status).toBe("online");
    await clock.advance(3_000);
    const after = await agentView(a.instanceUidString);
    expect(after.status).toBe("offline");
    // Written when the grace ended, by the clock that measured it.
    const endedAt = Date.parse(after.connection.disconnectedAt);
    expect(endedAt).toBeGreaterThanOrEqual(clock.now() - 3_000 - FLUSH_MS);
    expect(endedAt).toBeLessThanOrEqual(clock.now());
  });

  it("while connected, disconnectedAt is null; keyConfirmedAt is the time of the latest key switch", async () => {
    const a = await fleet.enrolledAgent();
    const first = await agentView(a.instanceUidString);
    expect(first.keyConfirmedAt).not.toBeNull();
    await a.stop();
    await eventually(async () =>
      (await agentView(a.instanceUidString)).connection.disconnectedAt ? true : undefined,
    );
    await clock.advance(60_000);
    // The supervisor restarts: back with its enrollment token, a new key offered and used.
    await a.restart();
    await a.waitForConnection(4);
    await a.settle();
    const again = await eventually(async () => {
      const v = await agentView(a.instanceUidString);
      return v.keyConfirmedAt !== first.keyConfirmedAt ? v : undefined;
    });
    expect(again.status).toBe("online");
    expect(again.connection.disconnectedAt).toBeNull();
    expect(Date.parse(again.connection.connectedAt)).toBeGreaterThan(
      Date.parse(first.connection.connectedAt),
    );
    expect(Date.parse(again.keyConfirmedAt)).toBeGreaterThanOrEqual(Date.parse(again.connection.connectedAt));
  });

  it("a revoked agent held connected shows online, attention revoked, with its new connection's time", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = fleet.agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    const revoked = await fleet.api.post(t(`/agents/${a.instanceUidString}/revoke`), {});
    expect(revoked.status).toBe(200);
    await a.waitForClose();
    await clock.advance(10_000);
    // The supervisor comes back with its enrollment token: held without config.
    const held = fleet.agent({ token, instanceUid: a.instanceUid });
    await held.start();
    await held.settle();
    const view = await eventually(async () => {
      const v = await agentView(a.instanceUidString);
      return v.status === "online" ? v : undefined;
    });
    expect(view.attention).toBe("revoked");
    expect(view.connection.connectedAt).toBe(clock.date().toISOString());
    expect(view.connection.disconnectedAt).toBeNull();
    // Held: it stays online while it speaks.
    await clock.advance(3 * HEARTBEAT_S * 1000);
    await held.heartbeat();
    await clock.advance(FLUSH_MS);
    expect((await agentView(a.instanceUidString)).status).toBe("online");
  });
});

describe("deliveries and the running config", () => {
  it("after v2 applied and v3 failed, the agent view and its deliveries say v2 runs; v4 applied supersedes the failure", async () => {
    await putTemplate("running", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n# v1\n");
    await assign("running", "role=running", "running");
    const a = await fleet.enrolledAgent(
      {
        applyConfig: async (config) =>
          config.get("")?.body.includes("# v3") ? { ok: false, error: "v3 does not start" } : { ok: true },
      },
      { labels: { role: "running" } },
    );
    const uid = a.instanceUidString;
    const version = async () => (await agentView(uid)).runningConfig?.version;
    expect(await eventually(async () => ((await version()) === 1 ? 1 : undefined))).toBe(1);
    await putTemplate("running", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n# v2\n");
    expect(await eventually(async () => ((await version()) === 2 ? 2 : undefined))).toBe(2);
    await putTemplate("running", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n# v3\n");
    const failed = await eventually(async () => {
      const rows = await deliveriesOf(uid, "&status=failed");
      return rows.length === 1 ? rows : undefined;
    });
    expect(failed[0]?.errorMessage).toBe("v3 does not start");
    const view = await agentView(uid);
    expect(view.runningConfig).toMatchObject({ template: "running", version: 2 });
    const running = (await deliveriesOf(uid)).filter((d) => d.running);
    expect(running.map((d) => d.revision?.version)).toEqual([2]);

    await putTemplate("running", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n# v4\n");
    expect(await eventually(async () => ((await version()) === 4 ? 4 : undefined))).toBe(4);
    await eventually(async () =>
      (await deliveriesOf(uid, "&status=failed")).length === 0 ? true : undefined,
    );
    const rollups = await fleet.api.get(t("/deliveries/rollup?by=revision"));
    expect(rollups.status).toBe(200);
    const v3 = rollups.body.items.find((r: { key: string }) => r.key === "running@3");
    expect(v3?.counts.failed).toBe(0);
    expect(v3?.counts.superseded).toBe(1);
    const rows = await deliveriesOf(uid);
    expect(rows.filter((d) => d.running).map((d) => d.revision?.version)).toEqual([4]);
  });

  it("a delivery the agent is applying shows applying, and stalled once no report came for DELIVERY_STALL_SECONDS", async () => {
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    await putTemplate("slow", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n");
    await assign("slow", "role=slow", "slow");
    const { token } = await fleet.enrollmentToken({ labels: { role: "slow" } });
    const a = fleet.agent({
      token,
      applyConfig: async () => {
        await hung;
        return { ok: true };
      },
    });
    await a.start();
    await a.waitForConnection(2);
    const uid = a.instanceUidString;
    const applying = await eventually(async () => {
      const rows = await deliveriesOf(uid, "&status=applying");
      return rows.length === 1 ? rows : undefined;
    });
    expect(applying[0]).toMatchObject({ status: "applying", stalled: false, running: false });
    expect(await deliveriesOf(uid, "&status=stalled")).toHaveLength(0);
    await clock.advance(STALL_S * 1000 + 1_000);
    const stalled = await deliveriesOf(uid, "&status=stalled");
    expect(stalled).toHaveLength(1);
    expect(stalled[0]).toMatchObject({ status: "applying", stalled: true });
    release();
    await eventually(async () =>
      (await deliveriesOf(uid, "&status=applied")).length === 1 ? true : undefined,
    );
    expect(await deliveriesOf(uid, "&status=stalled")).toHaveLength(0);
    expect(a.remoteConfigStatus?.status).toBe(ConfigStatus.APPLIED);
  });

  it("deleting an agent keeps no stale liveness: it is gone from both list filters", async () => {
    const a = await fleet.enrolledAgent();
    const res = await fleet.api.delete(t(`/agents/${a.instanceUidString}`));
    expect(res.status).toBe(204);
    expect(await listed(a.instanceUidString, "online")).toBe(false);
    expect(await listed(a.instanceUidString, "offline")).toBe(false);
  });
});

describe("log lines operators read", () => {
  it("one info line per enrollment, key switch, connection end (with reason), delivery outcome and refused upgrade; never a token", async () => {
    await putTemplate("logged", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n# ok\n");
    await assign("logged", "role=logged", "logged");
    const { token } = await fleet.enrollmentToken({ labels: { role: "logged" } });
    const a = fleet.agent({ token });
    await a.start();
    await a.waitForConnection(2);
    await a.settle();
    await eventually(async () =>
      (await deliveriesOf(a.instanceUidString, "&status=applied")).length ? true : undefined,
    );
    await putTemplate("logged", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n# broken\n");
    await a.stop();
    // A token one character off (never the same character: a token ending in "x" stayed valid).
    const refused = fleet.agent({ token: `${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}` });
    await expect(refused.start()).rejects.toThrow();

    const uid = a.instanceUidString;
    const lines = await eventually(async () => {
      const all = srv
        .logs()
        .split("\n")
        .filter((l) => l.trim().startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const ended = all.some((l) => l.msg === "agent connection ended" && l.instanceUid === uid);
      return ended ? all : undefined;
    });
    const of = (msg: string) =>
      lines.filter((l) => l.msg === msg && (l.instanceUid === uid || !l.instanceUid));
    expect(of("agent enrolled")).toHaveLength(1);
    expect(of("agent enrolled")[0]).toMatchObject({ enrollment: "new", level: "info" });
    expect(of("agent switched to its own key")).toHaveLength(1);
    expect(of("agent left to switch to its own key")).toHaveLength(1);
    expect(of("agent connection ended")[0]?.reason).toEqual(
      expect.stringMatching(/^(agent_disconnect|close )/),
    );
    expect(of("delivery applied").length).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.msg === "OpAMP connection refused" && l.reason === "malformed")).toBe(true);
    // The normal key switch is not logged as a disconnect.
    expect(lines.some((l) => l.msg === "agent disconnected")).toBe(false);
    const text = srv.logs();
    expect(text).not.toContain(token);
    expect(text).not.toContain(a.currentToken);
  });

  it("a failed delivery is logged with the agent's error", async () => {
    await putTemplate("failing", "receivers:\n  otlp: {}\nexporters:\n  debug: {}\n");
    await assign("failing", "role=failing", "failing");
    const a = await fleet.enrolledAgent(
      { applyConfig: async () => ({ ok: false, error: "exporter debug: unknown field" }) },
      { labels: { role: "failing" } },
    );
    const line = await eventually(async () =>
      srv
        .logs()
        .split("\n")
        .filter((l) => l.includes('"delivery failed"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.instanceUid === a.instanceUidString),
    );
    expect(line).toMatchObject({ level: "info", error: "exporter debug: unknown field" });
  });
});
