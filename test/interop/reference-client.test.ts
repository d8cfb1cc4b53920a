/**
 * Interoperability with the reference OpAMP client (opamp-go), once per opamp-go version
 * (v0.23.0, what released supervisors ship, and the newest release the Go proxy serves).
 *
 * The harness (test/interop/client) behaves like opampsupervisor: it enrolls with an xse_ token,
 * follows the connection-settings offer by replacing its client, applies remote configs and
 * reports their status, health and effective config. Everything is asserted both on what the
 * real client saw (its JSON events) and through the REST API.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/database.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { clientBinaryPath, opampGoVersions } from "./go-toolchain.js";
import { InteropAgent, stopAllInteropAgents, tempStateDir } from "./interop-agent.js";

const HEARTBEAT_SECONDS = 2;
const SECRET_VALUE = "s3cr3t-interop-token-value";

let srv: TestServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  srv = await startTestServer({
    env: {
      LIVENESS_FLUSH_MS: "200",
      FLEET_EVENTS_POLL_MS: "500",
      // Offered to the agents; also their plain-HTTP polling interval after the switch.
      HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_SECONDS),
    },
  });
});
afterAll(async () => {
  await stopAllInteropAgents();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
  await srv?.stop();
});

const TEMPLATE = (marker: string) => `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
exporters:
  otlphttp:
    endpoint: https://backend.example.com
    headers:
      Authorization: "Bearer {{secret "backend_token"}}"
  debug:
    verbosity: {{default (label "verbosity") "basic"}}
service:
  telemetry:
    resource:
      marker: ${marker}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp, debug]
`;

const FAILING = `${TEMPLATE("v3")}fail: true\nfail_message: "interop: exporter otlphttp: cannot dial backend.example.com"\n`;

interface Ctx {
  fleet: TenantFixture;
  t: (suffix: string) => string;
}

async function tenantWithConfig(name: string, selector: string): Promise<Ctx> {
  const fleet = await createTenant(srv, name);
  const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;
  expect((await fleet.api.put(t("/secrets/backend_token"), { value: SECRET_VALUE })).status).toBe(201);
  expect((await fleet.api.put(t("/config-templates/interop"), { content: TEMPLATE("v1") })).status).toBe(201);
  const asg = await fleet.api.put(t("/assignments/interop"), {
    selector,
    template: "interop",
    revision: "latest",
    priority: 10,
  });
  expect(asg.status).toBe(201);
  return { fleet, t };
}

async function getAgent(c: Ctx, uid: string) {
  const r = await c.fleet.api.get(c.t(`/agents/${uid}`));
  expect(r.status).toBe(200);
  return r.body;
}

async function deliveries(c: Ctx, uid: string) {
  const r = await c.fleet.api.get(c.t(`/agents/${uid}/deliveries`));
  expect(r.status).toBe(200);
  return r.body.items as Array<{
    configHash: string;
    status: string;
    errorMessage: string | null;
    revision: { version: number } | null;
  }>;
}

describe.each(opampGoVersions())("opamp-go %s", (version) => {
  const binary = clientBinaryPath(version);

  describe("WebSocket transport, the supervisor's life cycle", () => {
    let c: Ctx;
    let state: { dir: string; remove: () => Promise<void> };
    let agent: InteropAgent;
    let uid: string;
    let hashV1: string;
    let hashV2: string;
    let hashV3: string;

    beforeAll(async () => {
      c = await tenantWithConfig(`Interop WS ${version}`, "env=interop");
      state = await tempStateDir();
      cleanups.push(state.remove);
    });

    it("enrolls with xse_, follows the offer to its own xag_ key, gets its config and reports it applied", async () => {
      const { token } = await c.fleet.enrollmentToken({ labels: { env: "interop", verbosity: "detailed" } });
      agent = new InteropAgent({ binary, endpoint: c.fleet.opampUrl, token, stateDir: state.dir }).start();
      const started = await agent.waitFor("started");
      uid = started.instanceUid;
      expect(started.opampGoVersion).toBe(version);

      // Phase 1: the enrollment connection, then the offer (full endpoint, Authorization, heartbeat).
      await agent.waitFor("connected", (e) => e.client === 1 && e.auth === "xse_");
      const offer = await agent.waitFor("offer", (e) => e.client === 1);
      expect(offer).toMatchObject({
        endpoint: `ws://localhost:${srv.port}/v1/opamp`,
        auth: "xag_",
        headers: ["Authorization"],
        heartbeatSeconds: HEARTBEAT_SECONDS,
      });
      // Phase 2: a new client object with the offered settings only.
      const followed = await agent.waitFor("offer_followed");
      expect(followed).toMatchObject({
        client: 2,
        transport: "websocket",
        auth: "xag_",
        heartbeatSeconds: 2,
      });
      await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_");

      // The config arrives on the xag_ connection only, as one "" entry of text/yaml.
      const rx = await agent.waitFor("config_received", () => true, 10_000);
      expect(rx.client).toBe(2);
      expect(rx.keys).toEqual([""]);
      expect(rx.contentTypes).toEqual({ "": "text/yaml" });
      expect(rx.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(rx.body).toContain("verbosity: detailed");
      expect(rx.body).toContain(`Bearer ${SECRET_VALUE}`);
      hashV1 = rx.hash;
      await agent.waitFor("config_status", (e) => e.hash === hashV1 && e.status === "APPLYING");
      await agent.waitFor("config_status", (e) => e.hash === hashV1 && e.status === "APPLIED");
      expect(agent.all("config_status").every((e) => e.reportError === "")).toBe(true);

      const delivered = await eventually(
        async () => {
          const d = await deliveries(c, uid);
          return d[0]?.status === "applied" ? d : undefined;
        },
        10_000,
        "delivery applied",
      );
      expect(delivered[0]).toMatchObject({ configHash: hashV1, status: "applied", revision: { version: 1 } });

      const view = await eventually(
        async () => {
          const a = await getAgent(c, uid);
          return a.health?.healthy === true && a.effectiveConfig?.files?.[""]?.body?.includes("detailed")
            ? a
            : undefined;
        },
        10_000,
        "health and effective config",
      );
      expect(view).toMatchObject({
        instanceUid: uid,
        status: "online",
        attention: null,
        labels: { env: "interop", verbosity: "detailed" },
        connection: { transport: "websocket", heartbeatIntervalSeconds: HEARTBEAT_SECONDS },
        description: {
          identifying: { "service.instance.id": uid, "service.name": "opamp-interop" },
          nonIdentifying: { "opamp_go.version": version },
        },
        remoteConfigStatus: { lastRemoteConfigHash: hashV1, status: "APPLIED" },
        health: { healthy: true, status: "StatusOK" },
      });
      expect(view.keyConfirmedAt).not.toBeNull();
      expect(view.capabilities.names).toEqual(
        expect.arrayContaining(["acceptsOpAMPConnectionSettings", "reportsHeartbeat", "acceptsRemoteConfig"]),
      );
      // The effective config the client reported carried the secret in clear; the API never shows it.
      const effective = view.effectiveConfig.files[""];
      expect(effective.body).toContain("[REDACTED]");
      expect(JSON.stringify(view)).not.toContain(SECRET_VALUE);
    });

    it("heartbeats at the offered interval without reconnecting or being re-offered", async () => {
      const before = await getAgent(c, uid);
      await new Promise((r) => setTimeout(r, (HEARTBEAT_SECONDS * 2 + 1) * 1000));
      const afterHb = await getAgent(c, uid);
      expect(afterHb.status).toBe("online");
      expect(Date.parse(afterHb.connection.lastSeenAt)).toBeGreaterThan(
        Date.parse(before.connection.lastSeenAt),
      );
      expect(agent.all("offer")).toHaveLength(1);
      expect(agent.all("connecting")).toHaveLength(2);
      expect(agent.all("connected")).toHaveLength(2);
      expect(agent.all("connect_failed")).toHaveLength(0);
    });

    it("applies a new revision pushed on the live connection", async () => {
      const mark = agent.events.length;
      const v2 = await c.fleet.api.put(c.t("/config-templates/interop"), { content: TEMPLATE("v2") });
      expect(v2.status).toBe(201);
      const rx = await agent.waitFor("config_received", (e) => e.hash !== hashV1, 5_000, mark);
      expect(rx.body).toContain("marker: v2");
      hashV2 = rx.hash;
      await agent.waitFor("config_status", (e) => e.hash === hashV2 && e.status === "APPLIED", 5_000, mark);
      const d = await eventually(
        async () => {
          const items = await deliveries(c, uid);
          return items[0]?.status === "applied" && items[0].configHash === hashV2 ? items : undefined;
        },
        10_000,
        "revision 2 applied",
      );
      expect(d.map((x) => x.status)).toEqual(["applied", "superseded"]);
      expect(d[0]?.revision?.version).toBe(2);
      const view = await eventually(async () => {
        const a = await getAgent(c, uid);
        return a.effectiveConfig?.files?.[""]?.body?.includes("marker: v2") ? a : undefined;
      });
      expect(view.remoteConfigStatus).toMatchObject({ lastRemoteConfigHash: hashV2, status: "APPLIED" });
    });

    it("shows a failing config as failed with the client's error, and health unhealthy", async () => {
      const mark = agent.events.length;
      expect((await c.fleet.api.put(c.t("/config-templates/interop"), { content: FAILING })).status).toBe(
        201,
      );
      const rx = await agent.waitFor("config_received", (e) => e.hash !== hashV2, 5_000, mark);
      hashV3 = rx.hash;
      const failed = await agent.waitFor(
        "config_status",
        (e) => e.hash === hashV3 && e.status === "FAILED",
        5_000,
        mark,
      );
      expect(failed.error).toBe("interop: exporter otlphttp: cannot dial backend.example.com");
      const d = await eventually(
        async () => {
          const items = await deliveries(c, uid);
          return items[0]?.status === "failed" ? items : undefined;
        },
        10_000,
        "delivery failed",
      );
      expect(d[0]).toMatchObject({
        configHash: hashV3,
        status: "failed",
        errorMessage: "interop: exporter otlphttp: cannot dial backend.example.com",
        revision: { version: 3 },
      });
      const view = await eventually(async () => {
        const a = await getAgent(c, uid);
        return a.health?.healthy === false ? a : undefined;
      });
      expect(view.health.lastError).toContain("cannot dial");
      expect(view.remoteConfigStatus).toMatchObject({ lastRemoteConfigHash: hashV3, status: "FAILED" });
      // Not pushed again on heartbeats.
      await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000 + 500));
      expect(agent.all("config_received", (e) => e.hash === hashV3)).toHaveLength(1);
    });

    it("disconnects cleanly (agent_disconnect) and shows offline at once", async () => {
      const exit = await agent.stop("sigterm");
      expect(exit.code).toBe(0);
      expect(agent.all("stopped")[0]?.reason).toMatch(/signal/);
      expect(agent.all("client_stopped").at(-1)?.error).toBe("");
      const view = await eventually(
        async () => {
          const a = await getAgent(c, uid);
          return a.status === "offline" ? a : undefined;
        },
        3_000,
        "offline after the disconnect",
      );
      expect(view.connection.disconnectedAt).not.toBeNull();
    });

    it("re-enrolls a restarted supervisor (same uid, enrollment token again) without a duplicate or a re-push", async () => {
      const { token } = await c.fleet.enrollmentToken({ labels: { env: "interop", verbosity: "detailed" } });
      const keysBefore = (await getAgent(c, uid)).keys.length;
      // Same state dir = the same persistent_state (instance uid, last status FAILED for v3).
      agent = new InteropAgent({ binary, endpoint: c.fleet.opampUrl, token, stateDir: state.dir }).start();
      const started = await agent.waitFor("started");
      expect(started.instanceUid).toBe(uid);
      expect(started.lastRemoteConfigHash).toBe(hashV3);
      await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_", 10_000);
      const list = await c.fleet.api.get(c.t(`/agents?q=${uid}`));
      expect(list.body.items.filter((a: { instanceUid: string }) => a.instanceUid === uid)).toHaveLength(1);
      const view = await eventually(async () => {
        const a = await getAgent(c, uid);
        // The new key is issued on the enrollment connection; the previous one is revoked when the
        // new one is first used (on the next connection).
        const live = a.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt);
        return a.status === "online" && a.keys.length > keysBefore && live.length === 1 && live[0].firstUsedAt
          ? a
          : undefined;
      });
      expect(view.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt)).toHaveLength(1);
      // The failed hash is what it reports; the server does not push it again.
      await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000 + 500));
      expect(agent.all("config_received")).toHaveLength(0);
    });

    it("rotates its key on the live xag_ connection: the client follows the new offer, the old key is revoked", async () => {
      const mark = agent.events.length;
      const keysBefore = (await getAgent(c, uid)).keys.length;
      const clients = agent.all("connecting").length;
      const res = await c.fleet.api.post(c.t(`/agents/${uid}/rotate-key`));
      expect(res.status).toBe(200);
      const offer = await agent.waitFor("offer", () => true, 5_000, mark);
      expect(offer).toMatchObject({ client: clients, auth: "xag_", heartbeatSeconds: HEARTBEAT_SECONDS });
      await agent.waitFor("offer_followed", () => true, 5_000, mark);
      await agent.waitFor("connected", (e) => e.client === clients + 1 && e.auth === "xag_", 10_000, mark);
      const view = await eventually(async () => {
        const a = await getAgent(c, uid);
        return a.keyRotationRequestedAt === null && a.status === "online" ? a : undefined;
      });
      expect(view.keys).toHaveLength(keysBefore + 1);
      expect(view.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt)).toHaveLength(1);
      // One offer per rotation: no loop on the new connection, and no config re-push.
      await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000 + 500));
      expect(agent.all("offer", () => true).filter((e) => agent.events.indexOf(e) >= mark)).toHaveLength(1);
      expect(agent.events.slice(mark).filter((e) => e.event === "config_received")).toHaveLength(0);
    });

    it("revocation: the live connection is closed, the key gets 401, and the client stays out", async () => {
      const mark = agent.events.length;
      const revoked = await c.fleet.api.post(c.t(`/agents/${uid}/revoke`));
      expect(revoked.status).toBe(200);
      // opamp-go logs the refused upgrade and retries with backoff, forever, never getting in.
      await agent.waitFor("log", (e) => /status=401/.test(e.msg), 10_000, mark);
      await agent.waitFor("connect_failed", () => true, 5_000, mark);
      await new Promise((r) => setTimeout(r, 3_000));
      const failures = agent.all("log", (e) => /status=401/.test(e.msg));
      expect(failures.length).toBeGreaterThanOrEqual(2);
      expect(agent.events.slice(mark).filter((e) => e.event === "connected")).toHaveLength(0);
      const view = await getAgent(c, uid);
      expect(view).toMatchObject({ status: "offline", attention: "revoked" });
      expect(view.revokedAt).not.toBeNull();
      const exit = await agent.stop();
      expect(exit.code).toBe(0);
    });

    it("a revoked agent restarting with the enrollment token is held: one error, no offer, no reconnect loop", async () => {
      const { token } = await c.fleet.enrollmentToken({ labels: { env: "interop" } });
      agent = new InteropAgent({ binary, endpoint: c.fleet.opampUrl, token, stateDir: state.dir }).start();
      expect((await agent.waitFor("started")).instanceUid).toBe(uid);
      await agent.waitFor("connected", (e) => e.client === 1 && e.auth === "xse_");
      const err = await agent.waitFor("error_response");
      expect(err.message).toMatch(/revoked/);
      await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000 + 1_500));
      expect(agent.all("error_response")).toHaveLength(1);
      expect(agent.all("connecting")).toHaveLength(1);
      expect(agent.all("connected")).toHaveLength(1);
      expect(agent.all("offer")).toHaveLength(0);
      expect(agent.all("config_received")).toHaveLength(0);
      const view = await getAgent(c, uid);
      expect(view.attention).toBe("revoked");
      expect(view.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt)).toHaveLength(0);
      expect((await agent.stop()).code).toBe(0);
    });
  });

  describe("plain-HTTP transport", () => {
    let c: Ctx;

    beforeAll(async () => {
      c = await tenantWithConfig(`Interop HTTP ${version}`, "transport=http");
    });

    it("goes offline after missed polls when the client stops (opamp-go's HTTP client sends no agent_disconnect)", async () => {
      const { token } = await c.fleet.enrollmentToken({ labels: { transport: "http-stop" } });
      const agent = new InteropAgent({
        binary,
        endpoint: c.fleet.opampHttpUrl,
        token,
        heartbeatSeconds: 1,
      }).start();
      const { instanceUid: uid } = await agent.waitFor("started");
      await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_", 10_000);
      await eventually(async () => ((await getAgent(c, uid)).status === "online" ? true : undefined), 5_000);
      expect((await agent.stop()).code).toBe(0);
      const stoppedAt = Date.now();
      await eventually(
        async () => ((await getAgent(c, uid)).status === "offline" ? true : undefined),
        (3 * HEARTBEAT_SECONDS + 5) * 1000,
        "offline after three missed polls",
      );
      expect(Date.now() - stoppedAt).toBeGreaterThan(HEARTBEAT_SECONDS * 1000);
    });

    it("enrolls, switches keys, polls, applies configs, fails one, and is locked out on revocation", async () => {
      const { token } = await c.fleet.enrollmentToken({ labels: { transport: "http" } });
      const state = await tempStateDir();
      cleanups.push(state.remove);
      const agent = new InteropAgent({
        binary,
        endpoint: c.fleet.opampHttpUrl,
        token,
        stateDir: state.dir,
        // The first poll happens at once; 1 s polling until the offer sets the server's interval.
        heartbeatSeconds: 1,
      }).start();
      const { instanceUid: uid } = await agent.waitFor("started");
      await agent.waitFor("connected", (e) => e.client === 1 && e.transport === "http" && e.auth === "xse_");
      const offer = await agent.waitFor("offer");
      expect(offer).toMatchObject({
        endpoint: `http://localhost:${srv.port}/v1/opamp`,
        auth: "xag_",
        heartbeatSeconds: HEARTBEAT_SECONDS,
      });
      await agent.waitFor("offer_followed", (e) => e.transport === "http" && e.auth === "xag_");
      await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_");
      const rx = await agent.waitFor("config_received", () => true, 15_000);
      expect(rx.client).toBe(2);
      await agent.waitFor("config_status", (e) => e.hash === rx.hash && e.status === "APPLIED", 10_000);
      // APPLIED travels with the next poll.
      await eventually(
        async () => {
          const d = await deliveries(c, uid);
          return d[0]?.status === "applied" && d[0].configHash === rx.hash ? d : undefined;
        },
        15_000,
        "delivery applied over HTTP",
      );
      const view = await eventually(
        async () => {
          const a = await getAgent(c, uid);
          return a.health?.healthy && a.effectiveConfig ? a : undefined;
        },
        15_000,
        "health and effective config over HTTP",
      );
      expect(view).toMatchObject({ status: "online", connection: { transport: "http" } });
      expect(view.keyConfirmedAt).not.toBeNull();
      expect(JSON.stringify(view)).not.toContain(SECRET_VALUE);

      // A new revision is picked up by the next poll; a failing one is reported failed.
      let mark = agent.events.length;
      await c.fleet.api.put(c.t("/config-templates/interop"), { content: TEMPLATE("http-v2") });
      const rx2 = await agent.waitFor("config_received", (e) => e.hash !== rx.hash, 15_000, mark);
      await agent.waitFor(
        "config_status",
        (e) => e.hash === rx2.hash && e.status === "APPLIED",
        10_000,
        mark,
      );
      await eventually(
        async () => ((await deliveries(c, uid))[0]?.configHash === rx2.hash ? true : undefined),
        15_000,
      );
      mark = agent.events.length;
      await c.fleet.api.put(c.t("/config-templates/interop"), { content: FAILING });
      const rx3 = await agent.waitFor("config_received", (e) => e.hash !== rx2.hash, 15_000, mark);
      await agent.waitFor("config_status", (e) => e.hash === rx3.hash && e.status === "FAILED", 10_000, mark);
      const failed = await eventually(
        async () => {
          const d = await deliveries(c, uid);
          return d[0]?.status === "failed" ? d[0] : undefined;
        },
        15_000,
        "failed over HTTP",
      );
      expect(failed.errorMessage).toBe("interop: exporter otlphttp: cannot dial backend.example.com");

      // Revocation: the next poll is refused with 401 (opamp-go: "invalid response from server: 401").
      mark = agent.events.length;
      expect((await c.fleet.api.post(c.t(`/agents/${uid}/revoke`))).status).toBe(200);
      // (Over HTTP, opamp-go calls OnConnect for every 200, so a poll may still succeed in between.)
      const refused = await agent.waitFor(
        "log",
        (e) => /invalid response from server: 401/.test(e.msg),
        10_000,
        mark,
      );
      const from = agent.events.indexOf(refused);
      // It keeps polling at its interval and is refused every time.
      await agent.waitFor(
        "log",
        (e) => /invalid response from server: 401/.test(e.msg),
        (HEARTBEAT_SECONDS + 3) * 1000,
        from + 1,
      );
      expect(agent.events.slice(from).filter((e) => e.event === "connected")).toHaveLength(0);
      expect(agent.events.slice(mark).filter((e) => e.event === "config_received")).toHaveLength(0);
      const revoked = await getAgent(c, uid);
      expect(revoked.attention).toBe("revoked");
      expect((await agent.stop()).code).toBe(0);
    });
  });

  describe("server restart", () => {
    it("the client reconnects with its xag_ key to the restarted server: no re-enrollment, no re-push", async () => {
      const db = await createTestDatabase();
      cleanups.push(() => db.drop());
      const env = { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", HEARTBEAT_INTERVAL_SECONDS: "2" };
      const first = await startTestServer({ database: db, env });
      let second: TestServer | undefined;
      try {
        const fleet = await createTenant(first, `Interop restart ${version}`);
        const c: Ctx = { fleet, t: (x) => `/api/v1/tenants/${fleet.tenantId}${x}` };
        await fleet.api.put(c.t("/secrets/backend_token"), { value: SECRET_VALUE });
        await fleet.api.put(c.t("/config-templates/interop"), { content: TEMPLATE("restart") });
        await fleet.api.put(c.t("/assignments/interop"), {
          selector: "env=restart",
          template: "interop",
          priority: 1,
        });
        const { token } = await fleet.enrollmentToken({ labels: { env: "restart" } });
        const agent = new InteropAgent({ binary, endpoint: fleet.opampUrl, token }).start();
        const { instanceUid: uid } = await agent.waitFor("started");
        const rx = await agent.waitFor("config_received");
        await agent.waitFor("config_status", (e) => e.status === "APPLIED");
        await eventually(async () =>
          (await deliveries(c, uid))[0]?.status === "applied" ? true : undefined,
        );
        const before = await getAgent(c, uid);

        const mark = agent.events.length;
        await first.stop();
        // Same database, same port, same operator key: the same server, restarted.
        second = await startTestServer({
          database: db,
          env: { ...env, PORT: String(first.port), ADMIN_TOKEN: first.operatorKey },
        });
        // The same client object (number 2) reconnects with its key.
        await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_", 20_000, mark);
        const view = await eventually(
          async () => {
            const a = await getAgent(c, uid);
            return a.status === "online" && a.connection.connectedAt !== before.connection.connectedAt
              ? a
              : undefined;
          },
          10_000,
          "online on the restarted server",
        );
        expect(view.keys.map((k: { id: string }) => k.id)).toEqual(
          before.keys.map((k: { id: string }) => k.id),
        );
        expect(view.health).toMatchObject({ healthy: true });
        expect(view.remoteConfigStatus).toMatchObject({ lastRemoteConfigHash: rx.hash, status: "APPLIED" });
        await new Promise((r) => setTimeout(r, 2_500));
        const after = agent.events.slice(mark);
        expect(after.filter((e) => e.event === "offer")).toHaveLength(0);
        expect(after.filter((e) => e.event === "config_received")).toHaveLength(0);
        expect((await deliveries(c, uid)).map((d) => d.status)).toEqual(["applied"]);
        expect((await agent.stop()).code).toBe(0);
      } finally {
        await stopAllInteropAgents();
        await second?.stop();
        await first.stop().catch(() => undefined);
      }
    });
  });

  describe("with EnableCompression (gzip HTTP bodies, permessage-deflate)", () => {
    it.each(["websocket", "http"] as const)("enrolls and applies its config over %s", async (transport) => {
      const selector = `compressed=${transport}`;
      const c = await tenantWithConfig(`Interop gzip ${transport} ${version}`, selector);
      const { token } = await c.fleet.enrollmentToken({ labels: { compressed: transport } });
      const agent = new InteropAgent({
        binary,
        endpoint: transport === "websocket" ? c.fleet.opampUrl : c.fleet.opampHttpUrl,
        token,
        heartbeatSeconds: 1,
        extraArgs: ["-compression"],
      }).start();
      const { instanceUid: uid } = await agent.waitFor("started");
      await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_", 10_000);
      const rx = await agent.waitFor("config_received", () => true, 15_000);
      await agent.waitFor("config_status", (e) => e.hash === rx.hash && e.status === "APPLIED", 10_000);
      await eventually(
        async () => ((await deliveries(c, uid))[0]?.status === "applied" ? true : undefined),
        15_000,
        "delivery applied",
      );
      const view = await eventually(async () => {
        const a = await getAgent(c, uid);
        return a.effectiveConfig?.files?.[""]?.body?.includes("marker: v1") ? a : undefined;
      }, 15_000);
      expect(view.connection.transport).toBe(transport);
      expect(agent.all("connect_failed")).toHaveLength(0);
      expect(agent.all("log")).toHaveLength(0);
      expect((await agent.stop()).code).toBe(0);
    });
  });

  describe("a client without accepts_opamp_connection_settings", () => {
    it("stays on the enrollment token without config and is flagged in the API", async () => {
      const c = await tenantWithConfig(`Interop no-switch ${version}`, "env=noswitch");
      const { token } = await c.fleet.enrollmentToken({ labels: { env: "noswitch" } });
      const agent = new InteropAgent({
        binary,
        endpoint: c.fleet.opampUrl,
        token,
        noAcceptsConnectionSettings: true,
      }).start();
      const { instanceUid: uid } = await agent.waitFor("started");
      await agent.waitFor("connected", (e) => e.auth === "xse_");
      const view = await eventually(async () => {
        const a = await getAgent(c, uid);
        return a.attention ? a : undefined;
      });
      expect(view.attention).toBe("needs_accepts_opamp_connection_settings");
      await new Promise((r) => setTimeout(r, 1_500));
      expect(agent.all("offer")).toHaveLength(0);
      expect(agent.all("config_received")).toHaveLength(0);
      expect(agent.all("connected")).toHaveLength(1);
      expect((await agent.stop()).code).toBe(0);
    });
  });

  describe("commands and identity", () => {
    it("receives the Restart command, restarts its collector and is shown back", async () => {
      const fleet = await createTenant(srv, `Interop restart ${version}`);
      const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;
      const { token } = await fleet.enrollmentToken();
      const agent = new InteropAgent({
        binary,
        endpoint: fleet.opampUrl,
        token,
        extraArgs: ["-accepts-restart"],
      }).start();
      const { instanceUid: uid } = await agent.waitFor("started");
      await agent.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_");
      // The reply to the key connection's first message: the server holds the agent on it now.
      await agent.waitFor("message", (e) => e.client === 2);
      const res = await fleet.api.post(t(`/agents/${uid}/restart`));
      expect(res.status).toBe(202);
      const command = await agent.waitFor("command");
      expect(command).toMatchObject({ client: 2, type: "CommandType_Restart" });
      await agent.waitFor("collector_restarted");
      const view = await eventually(
        async () => {
          const r = await fleet.api.get(t(`/agents/${uid}`));
          return r.body.restart?.completedAt ? r.body : undefined;
        },
        10_000,
        "restart completed",
      );
      expect(view.restart.requestedAt).toBe(res.body.restart.requestedAt);
      expect(agent.all("connected")).toHaveLength(2);
      expect((await agent.stop()).code).toBe(0);
    });

    it("adopts and persists a new instance uid when its uid is live on another host", async () => {
      const fleet = await createTenant(srv, `Interop duplicate ${version}`);
      const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;
      const { token } = await fleet.enrollmentToken();
      const original = new InteropAgent({
        binary,
        endpoint: fleet.opampUrl,
        token,
        extraArgs: ["-host-name", "original-host"],
      }).start();
      const { instanceUid: uid } = await original.waitFor("started");
      await original.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_");
      const cloneState = await tempStateDir();
      cleanups.push(cloneState.remove);
      const clone = new InteropAgent({
        binary,
        endpoint: fleet.opampUrl,
        token,
        stateDir: cloneState.dir,
        extraArgs: ["-instance-uid", uid, "-host-name", "cloned-host"],
      }).start();
      const changed = await clone.waitFor("instance_uid_changed");
      expect(changed.from).toBe(uid);
      expect(changed.to).not.toBe(uid);
      // It enrolls under the new uid and switches to a key of its own.
      await clone.waitFor("connected", (e) => e.client === 2 && e.auth === "xag_");
      const cloneView = await eventually(async () => {
        const r = await fleet.api.get(t(`/agents/${changed.to}`));
        return r.status === 200 && r.body.status === "online" ? r.body : undefined;
      });
      expect(cloneView.description.nonIdentifying["host.name"]).toBe("cloned-host");
      expect(cloneView.description.identifying["service.instance.id"]).toBe(changed.to);
      const originalView = (await fleet.api.get(t(`/agents/${uid}`))).body;
      expect(originalView.status).toBe("online");
      expect(originalView.description.nonIdentifying["host.name"]).toBe("original-host");
      expect(original.all("connected")).toHaveLength(2);
      // Persisted like the supervisor's persistent_state.yaml: a restart keeps the new uid.
      const persisted = JSON.parse(await readFile(join(cloneState.dir, "state.json"), "utf8"));
      expect(persisted.instanceUid).toBe(changed.to);
      expect((await clone.stop()).code).toBe(0);
      expect((await original.stop()).code).toBe(0);
    });
  });
});
