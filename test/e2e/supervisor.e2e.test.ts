/**
 * End to end with the real OpAMP supervisor (collector-contrib cmd/opampsupervisor) running a
 * real collector (opamp extension, OTLP receiver, file exporter), configured with
 * templates/supervisor/supervisor.yaml exactly as shipped, against a real agent-api server.
 * Every step is asserted through the REST API and on the collector itself (its OTLP port answers
 * and the file exporter writes what it received).
 */
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { e2eBinaryPaths, pinnedVersion } from "./e2e-toolchain.js";
import {
  collectorServes,
  freePort,
  Supervisor,
  sendSpan,
  stopAllSupervisors,
  tempDir,
} from "./supervisor-process.js";

const HEARTBEAT_SECONDS = 3;
const SECRET_VALUE = "e2e-backend-token-0123456789";
// The supervisor reports APPLIED only when config_apply_timeout (5 s in the template) elapses.
const APPLY_TIMEOUT_MS = 40_000;

let srv: TestServer;
let version: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  version = await pinnedVersion();
  srv = await startTestServer({
    env: {
      LIVENESS_FLUSH_MS: "200",
      FLEET_EVENTS_POLL_MS: "500",
      HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_SECONDS),
    },
  });
});
afterAll(async () => {
  await stopAllSupervisors();
  await srv?.stop();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

/** A collector config: OTLP/HTTP in on `port`, traces to a file; logs to otlphttp with a secret header. */
function collectorConfig(port: number, file: string, extra = ""): string {
  return `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${port}
exporters:
  file:
    path: ${file}
    flush_interval: 100ms
${extra}  otlphttp:
    endpoint: http://127.0.0.1:9
    headers:
      Authorization: "Bearer {{secret "backend_token"}}"
service:
  telemetry:
    metrics:
      # Otherwise the collector serves its own metrics on localhost:8888, which may be taken.
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
    logs:
      receivers: [otlp]
      exporters: [otlphttp]
`;
}

interface Ctx {
  fleet: TenantFixture;
  t: (s: string) => string;
}

async function tenant(name: string): Promise<Ctx> {
  const fleet = await createTenant(srv, name);
  const t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;
  expect((await fleet.api.put(t("/secrets/backend_token"), { value: SECRET_VALUE })).status).toBe(201);
  return { fleet, t };
}

async function agentView(c: Ctx, uid: string) {
  const r = await c.fleet.api.get(c.t(`/agents/${uid}`));
  expect(r.status).toBe(200);
  return r.body;
}

type Delivery = {
  id: string;
  configHash: string;
  status: string;
  errorMessage: string | null;
  rolledBackFrom: string | null;
  attempts: number;
  revision: { version: number } | null;
};

async function deliveries(c: Ctx, uid: string): Promise<Delivery[]> {
  const r = await c.fleet.api.get(c.t(`/agents/${uid}/deliveries`));
  expect(r.status).toBe(200);
  return r.body.items;
}

async function deliveryOf(
  c: Ctx,
  uid: string,
  version: number,
  status: string,
  timeoutMs = APPLY_TIMEOUT_MS,
) {
  return eventually(
    async () =>
      (await deliveries(c, uid)).find((d) => d.revision?.version === version && d.status === status),
    timeoutMs,
    `revision ${version} ${status}`,
  );
}

async function portRefused(port: number): Promise<boolean> {
  try {
    await sendSpan(port, "nobody-listens");
    return false;
  } catch {
    return true;
  }
}

async function singleAgentUid(c: Ctx): Promise<string> {
  return eventually(
    async () => {
      const r = await c.fleet.api.get(c.t("/agents"));
      return r.body.items.length === 1 ? (r.body.items[0].instanceUid as string) : undefined;
    },
    20_000,
    "the agent to enroll",
  );
}

describe("opampsupervisor + collector over WebSocket", () => {
  let c: Ctx;
  let token: string;
  let storage: string;
  let out: string;
  let sup: Supervisor;
  let uid: string;
  let port1: number;
  let port2: number;
  let collectorPid: number | undefined;
  let hashV2: string;

  beforeAll(async () => {
    c = await tenant("E2E WebSocket");
    const s = await tempDir("agent-api-e2e-ws-");
    cleanups.push(s.remove);
    storage = join(s.dir, "supervisor");
    out = s.dir;
    port1 = await freePort();
    do port2 = await freePort();
    while (port2 === port1);
    const put = await c.fleet.api.put(c.t("/config-templates/collector"), {
      content: collectorConfig(port1, join(out, "traces-v1.json")),
    });
    expect(put.status).toBe(201);
    expect(
      (
        await c.fleet.api.put(c.t("/assignments/e2e"), {
          selector: "e2e=ws",
          template: "collector",
          priority: 1,
        })
      ).status,
    ).toBe(201);
    token = (await c.fleet.enrollmentToken({ labels: { e2e: "ws" } })).token;
  });

  it("enrolls with xse_, switches to xag_, runs the delivered config and reports it applied", async () => {
    sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: c.fleet.opampUrl,
      token,
      storageDir: storage,
    });
    sup.start();
    uid = await singleAgentUid(c);
    const enrolled = await eventually(
      async () => {
        const a = await agentView(c, uid);
        return a.keyConfirmedAt ? a : undefined;
      },
      20_000,
      "the xag_ key to be used",
    );
    expect(enrolled.keys).toHaveLength(1);
    expect(enrolled.keys[0].firstUsedAt).not.toBeNull();
    // Two connections: the enrollment token, then the offered key.
    expect(sup.matching(/Connected to the OpAMP server/).length).toBeGreaterThanOrEqual(2);

    const applied = await deliveryOf(c, uid, 1, "applied");
    await collectorServes(port1, join(out, "traces-v1.json"), "e2e-span-v1");
    collectorPid = (await sup.collectorPids())[0];
    expect(collectorPid).toBeDefined();

    const view = await eventually(
      async () => {
        const a = await agentView(c, uid);
        return a.health?.healthy && a.effectiveConfig?.files?.[""]?.body?.includes(`127.0.0.1:${port1}`)
          ? a
          : undefined;
      },
      20_000,
      "healthy with its effective config",
    );
    expect(view).toMatchObject({
      status: "online",
      attention: null,
      connection: { transport: "websocket", heartbeatIntervalSeconds: HEARTBEAT_SECONDS },
      description: {
        identifying: {
          "service.instance.id": uid,
          "service.name": "otelcol-agentapi-e2e",
          "service.version": version.replace(/^v/, ""),
        },
      },
      remoteConfigStatus: { status: "APPLIED", lastRemoteConfigHash: applied.configHash },
      health: { healthy: true },
    });
    expect(view.capabilities.names).toEqual(
      expect.arrayContaining([
        "acceptsOpAMPConnectionSettings",
        "acceptsRemoteConfig",
        "reportsRemoteConfig",
        "reportsEffectiveConfig",
        "reportsHealth",
        "reportsHeartbeat",
      ]),
    );
    // The template takes own telemetry (docs/own-telemetry.md); this tenant sets none.
    expect(view.capabilities.names).toEqual(
      expect.arrayContaining(["reportsOwnMetrics", "reportsOwnLogs", "reportsOwnTraces"]),
    );
    // The collector's health tree: its pipelines and components.
    expect(JSON.stringify(view.health)).toContain("receiver:otlp");
    // The secret reached the collector (it is in the delivered config) but never the API.
    const effective: string = view.effectiveConfig.files[""].body;
    expect(effective).toContain("[REDACTED]");
    expect(JSON.stringify(view)).not.toContain(SECRET_VALUE);
  });

  it("re-applies a new revision: the collector moves to the new port and file", async () => {
    const put = await c.fleet.api.put(c.t("/config-templates/collector"), {
      content: collectorConfig(port2, join(out, "traces-v2.json")),
    });
    expect(put.status).toBe(201);
    const d = await deliveryOf(c, uid, 2, "applied");
    hashV2 = d.configHash;
    await collectorServes(port2, join(out, "traces-v2.json"), "e2e-span-v2");
    expect(await portRefused(port1)).toBe(true);
    expect((await deliveries(c, uid)).map((x) => x.status)).toEqual(["applied", "superseded"]);
  });

  it("re-enrolls a restarted supervisor with the same instance_uid, no duplicate, no re-push", async () => {
    const before = await deliveries(c, uid);
    const keysBefore = (await agentView(c, uid)).keys.length;
    const exit = await sup.stop();
    expect(exit.code).toBe(0);
    expect(await sup.collectorPids()).toEqual([]);
    await eventually(
      async () => ((await agentView(c, uid)).status === "offline" ? true : undefined),
      5_000,
      "offline",
    );

    sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: c.fleet.opampUrl,
      token,
      storageDir: storage,
    });
    sup.start();
    const view = await eventually(
      async () => {
        const a = await agentView(c, uid);
        // The new key is issued on the enrollment connection; the previous one is revoked when the
        // new one is first used (on the next connection).
        const live = a.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt);
        return a.status === "online" && a.keys.length > keysBefore && live.length === 1 && live[0].firstUsedAt
          ? a
          : undefined;
      },
      20_000,
      "re-enrolled and back on a new xag_ key",
    );
    expect(view.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt)).toHaveLength(1);
    const list = await c.fleet.api.get(c.t("/agents"));
    expect(list.body.items.map((a: { instanceUid: string }) => a.instanceUid)).toEqual([uid]);
    // It runs its persisted config at once and reports its hash: nothing is sent again.
    await collectorServes(port2, join(out, "traces-v2.json"), "e2e-span-after-restart");
    await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000));
    const afterRestart = await deliveries(c, uid);
    expect(afterRestart.map((d) => [d.id, d.status, d.attempts])).toEqual(
      before.map((d) => [d.id, d.status, d.attempts]),
    );
    expect((await agentView(c, uid)).remoteConfigStatus).toMatchObject({ lastRemoteConfigHash: hashV2 });
  });

  it("reports an invalid config failed with the collector's validation error and keeps running", async () => {
    collectorPid = await eventually(async () => (await sup.collectorPids())[0], 10_000, "the collector");
    const put = await c.fleet.api.put(c.t("/config-templates/collector"), {
      content: collectorConfig(port2, join(out, "traces-v3.json"), "    no_such_setting: true\n"),
    });
    expect(put.status).toBe(201);
    const failed = await deliveryOf(c, uid, 3, "failed");
    expect(failed.errorMessage).toMatch(/no_such_setting/);
    expect(failed.errorMessage).toMatch(/validation failed/);
    // The running collector was left alone.
    expect(await sup.collectorPids()).toEqual([collectorPid]);
    await collectorServes(port2, join(out, "traces-v2.json"), "e2e-span-after-invalid");
  });

  it("rolls back a config that crashes the collector: failed for the new one, applied again for the old one", async () => {
    const busy: Server = createServer();
    const busyPort = await freePort();
    await new Promise<void>((r) => busy.listen(busyPort, "127.0.0.1", () => r()));
    try {
      const put = await c.fleet.api.put(c.t("/config-templates/collector"), {
        content: collectorConfig(busyPort, join(out, "traces-v4.json")),
      });
      expect(put.status).toBe(201);
      const failed = await deliveryOf(c, uid, 4, "failed");
      expect(failed.errorMessage).toMatch(/exited unexpectedly/);
      expect(failed.errorMessage).toMatch(/address already in use/);
      const restored = await eventually(
        async () => (await deliveries(c, uid)).find((d) => d.configHash === hashV2 && d.rolledBackFrom),
        APPLY_TIMEOUT_MS,
        "the rollback to revision 2 recorded",
      );
      expect(restored).toMatchObject({ status: "applied", rolledBackFrom: failed.configHash });
      await collectorServes(port2, join(out, "traces-v2.json"), "e2e-span-after-rollback");
      const view = await eventually(async () => {
        const a = await agentView(c, uid);
        return a.health?.healthy ? a : undefined;
      }, 20_000);
      expect(view.remoteConfigStatus).toMatchObject({ status: "APPLIED", lastRemoteConfigHash: hashV2 });
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it("revocation disconnects the supervisor and refuses it (401); its collector keeps running", async () => {
    const mark = sup.logs.length;
    const r = await c.fleet.api.post(c.t(`/agents/${uid}/revoke`));
    expect(r.status).toBe(200);
    // opamp-go: "Server responded with status=401 Unauthorized", then "websocket: bad handshake".
    await sup.waitForLog(/Server responded with status=401/, 20_000, mark);
    await sup.waitForLog(/Failed to connect to the OpAMP server/, 5_000, mark);
    await new Promise((res) => setTimeout(res, 3_000));
    expect(sup.matching(/Connected to the OpAMP server/, mark)).toHaveLength(0);
    const view = await agentView(c, uid);
    expect(view).toMatchObject({ status: "offline", attention: "revoked" });
    await collectorServes(port2, join(out, "traces-v2.json"), "e2e-span-after-revoke");
    const exit = await sup.stop();
    expect(exit.code).toBe(0);
    expect(await sup.collectorPids()).toEqual([]);
  });

  it("a revoked supervisor restarting with the enrollment token is held: one error, no reconnect loop", async () => {
    sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: c.fleet.opampUrl,
      token,
      storageDir: storage,
    });
    sup.start();
    await sup.waitForLog(/Server returned an error response/, 20_000);
    expect(sup.matching(/Server returned an error response/)[0]?.message).toMatch(/revoked/);
    // It still runs its last config on its own.
    await collectorServes(port2, join(out, "traces-v2.json"), "e2e-span-while-held");
    await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000 + 2_000));
    expect(sup.matching(/Connected to the OpAMP server/)).toHaveLength(1);
    expect(sup.matching(/Server returned an error response/)).toHaveLength(1);
    expect(sup.matching(/Failed to connect/)).toHaveLength(0);
    const view = await agentView(c, uid);
    expect(view.attention).toBe("revoked");
    expect(view.keys.filter((k: { revokedAt: string | null }) => !k.revokedAt)).toHaveLength(0);
    expect((await sup.stop()).code).toBe(0);
    expect(await sup.collectorPids()).toEqual([]);
  });
});

describe("opampsupervisor + collector over plain HTTP", () => {
  it("enrolls, switches keys, runs the config, reports applied, and is refused after revocation", async () => {
    const c = await tenant("E2E HTTP");
    const s = await tempDir("agent-api-e2e-http-");
    cleanups.push(s.remove);
    const port = await freePort();
    const file = join(s.dir, "traces.json");
    expect(
      (await c.fleet.api.put(c.t("/config-templates/collector"), { content: collectorConfig(port, file) }))
        .status,
    ).toBe(201);
    expect(
      (
        await c.fleet.api.put(c.t("/assignments/e2e"), {
          selector: "e2e=http",
          template: "collector",
          priority: 1,
        })
      ).status,
    ).toBe(201);
    const { token } = await c.fleet.enrollmentToken({ labels: { e2e: "http" } });
    const sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: c.fleet.opampHttpUrl,
      token,
      storageDir: join(s.dir, "supervisor"),
    }).start();
    const uid = await singleAgentUid(c);
    await deliveryOf(c, uid, 1, "applied");
    await collectorServes(port, file, "e2e-span-http");
    const view = await eventually(async () => {
      const a = await agentView(c, uid);
      return a.health?.healthy && a.effectiveConfig ? a : undefined;
    }, 20_000);
    expect(view).toMatchObject({ status: "online", connection: { transport: "http" } });
    expect(view.keyConfirmedAt).not.toBeNull();
    expect(JSON.stringify(view)).not.toContain(SECRET_VALUE);

    const mark = sup.logs.length;
    expect((await c.fleet.api.post(c.t(`/agents/${uid}/revoke`))).status).toBe(200);
    await sup.waitForLog(/401/, (HEARTBEAT_SECONDS + 10) * 1000, mark);
    expect((await agentView(c, uid)).attention).toBe("revoked");
    const exit = await sup.stop();
    expect(exit.code).toBe(0);
    expect(await sup.collectorPids()).toEqual([]);
  });
});
