/**
 * Own telemetry end to end (issue 13): the real supervisor (templates/supervisor/supervisor.yaml as
 * shipped) and collector send the collector's own metrics to the OTLP/HTTP endpoint the tenant set,
 * with the secret header resolved, and follow a change live without reconnecting or looping.
 * The receiver is a tiny HTTP server this test runs.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { e2eBinaryPaths, pinnedVersion } from "./e2e-toolchain.js";
import { freePort, Supervisor, stopAllSupervisors, tempDir } from "./supervisor-process.js";

const PLATFORM_KEY = "e2e-own-telemetry-key-5f0c2a9d81";

/** An OTLP/HTTP receiver that only counts what it gets: path and the headers of each POST. */
class OtlpReceiver {
  readonly posts: Array<{ path: string; headers: IncomingHttpHeaders; bytes: number; at: number }> = [];
  readonly #server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST") {
        this.posts.push({
          path: req.url ?? "",
          headers: req.headers,
          bytes: Buffer.concat(chunks).length,
          at: Date.now(),
        });
      }
      // An empty ExportMetricsServiceResponse.
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  metricsPosts(orgId: string) {
    return this.posts.filter(
      (p) =>
        p.path === "/v1/metrics" &&
        p.bytes > 0 &&
        p.headers.authorization === `Bearer ${PLATFORM_KEY}` &&
        p.headers["x-scope-orgid"] === orgId,
    );
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let srv: TestServer;
let version: string;
const receiver = new OtlpReceiver();
let receiverPort: number;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  version = await pinnedVersion();
  srv = await startTestServer({
    env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", HEARTBEAT_INTERVAL_SECONDS: "3" },
  });
  receiverPort = await receiver.start();
});
afterAll(async () => {
  await stopAllSupervisors();
  await srv?.stop();
  await receiver.stop();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

describe("the collector's own metrics", () => {
  let fleet: TenantFixture;
  let t: (s: string) => string;
  let sup: Supervisor;
  let uid: string;

  const ownTelemetry = (orgId: string) => ({
    metrics: {
      endpoint: `http://127.0.0.1:${receiverPort}/v1/metrics`,
      headers: { "x-scope-orgid": orgId, authorization: { secret: "platform_key", prefix: "Bearer " } },
    },
  });

  /** Waits for own metrics carrying `orgId` (and the resolved key); fails with the supervisor's log. */
  async function ownMetricsArrive(orgId: string, timeoutMs: number): Promise<void> {
    await eventually(
      async () => (receiver.metricsPosts(orgId).length > 0 ? true : undefined),
      timeoutMs,
      `own metrics with x-scope-orgid ${orgId}`,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await sup.transcript()}`);
    });
  }

  beforeAll(async () => {
    fleet = await createTenant(srv, "E2E Own Telemetry");
    t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;
    expect((await fleet.api.put(t("/secrets/platform_key"), { value: PLATFORM_KEY })).status).toBe(201);
    expect((await fleet.api.put(t("/own-telemetry"), ownTelemetry("e2e-1"))).status).toBe(201);
    const port = await freePort();
    const dir = await tempDir("agent-api-e2e-own-");
    cleanups.push(dir.remove);
    const config = `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${port}
exporters:
  file:
    path: ${join(dir.dir, "traces.json")}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`;
    expect((await fleet.api.put(t("/config-templates/own"), { content: config })).status).toBe(201);
    expect(
      (await fleet.api.put(t("/assignments/own"), { selector: "", template: "own", priority: 1 })).status,
    ).toBe(201);
    const { token } = await fleet.enrollmentToken();
    sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: fleet.opampUrl,
      token,
      storageDir: join(dir.dir, "supervisor"),
      // The collector's periodic metric reader: every second instead of every minute.
      env: { OTEL_METRIC_EXPORT_INTERVAL: "1000" },
    });
    sup.start();
  });

  it("arrive at the tenant's endpoint with the secret header resolved", async () => {
    uid = await eventually(
      async () => {
        const r = await fleet.api.get(t("/agents"));
        return r.body.items.length === 1 ? (r.body.items[0].instanceUid as string) : undefined;
      },
      20_000,
      "the agent to enroll",
    );
    await ownMetricsArrive("e2e-1", 60_000);
    const view = (await fleet.api.get(t(`/agents/${uid}`))).body;
    expect(view.capabilities.names).toEqual(
      expect.arrayContaining(["reportsOwnMetrics", "reportsOwnLogs", "reportsOwnTraces"]),
    );
    // The supervisor reports the own-telemetry section in its effective config: masked.
    expect(JSON.stringify(view)).not.toContain(PLATFORM_KEY);
    expect(srv.logs()).not.toContain(PLATFORM_KEY);
  });

  it("follow a change live, without reconnecting to the server or restarting in a loop", async () => {
    const connections = sup.matching(/Connected to the OpAMP server/).length;
    expect((await fleet.api.put(t("/own-telemetry"), ownTelemetry("e2e-2"))).status).toBe(200);
    await ownMetricsArrive("e2e-2", 45_000);
    // Settled: one collector, and it keeps running (no offer → restart → offer loop).
    const pid = await eventually(async () => (await sup.collectorPids())[0], 10_000, "the collector");
    await new Promise((r) => setTimeout(r, 8_000));
    expect(await sup.collectorPids()).toEqual([pid]);
    const since = Date.now() - 3_000;
    expect(receiver.metricsPosts("e2e-2").some((p) => p.at > since)).toBe(true);
    expect(receiver.metricsPosts("e2e-1").some((p) => p.at > since)).toBe(false);
    expect(sup.matching(/Connected to the OpAMP server/).length).toBe(connections);
  });
});
