/**
 * Layered configs end to end (docs/layers.md): the real supervisor and collector run a merged
 * config. The platform base receives OTLP and writes traces to one file; an overlay adds a second
 * file exporter to the same pipeline. The collector accepts the merge (APPLIED) and a span sent
 * afterwards lands in both files, so it runs the base's exporter and the overlay's, appended.
 * Only components of test/e2e/collector/builder.yaml are used (otlp, file).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { e2eBinaryPaths, pinnedVersion } from "./e2e-toolchain.js";
import { collectorServes, freePort, Supervisor, stopAllSupervisors, tempDir } from "./supervisor-process.js";

// The supervisor reports APPLIED only when config_apply_timeout (5 s in the template) elapses.
const APPLY_TIMEOUT_MS = 40_000;

let srv: TestServer;
let fleet: TenantFixture;
const cleanups: Array<() => Promise<void>> = [];
const t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;

beforeAll(async () => {
  srv = await startTestServer({
    env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", HEARTBEAT_INTERVAL_SECONDS: "3" },
  });
  fleet = await createTenant(srv, "E2E layers");
});
afterAll(async () => {
  await stopAllSupervisors();
  await srv?.stop();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

type Delivery = { configHash: string; status: string; errorMessage: string | null };

describe("opampsupervisor + collector: layered configs", () => {
  it("runs a base (otlp → file) merged with an overlay that adds an exporter to the same pipeline", async () => {
    const version = await pinnedVersion();
    const s = await tempDir("agent-api-e2e-layers-");
    cleanups.push(s.remove);
    const port = await freePort();
    const platformFile = join(s.dir, "platform.json");
    const securityFile = join(s.dir, "security.json");
    const base = stringify({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: { file: { path: platformFile, flush_interval: "100ms" } },
      service: {
        // Otherwise the collector serves its own metrics on localhost:8888, which may be taken.
        telemetry: { metrics: { level: "none" } },
        pipelines: { traces: { receivers: ["otlp"], exporters: ["file"] } },
      },
    });
    const overlay = stringify({
      exporters: { "file/security": { path: securityFile, flush_interval: "100ms" } },
      service: { pipelines: { traces: { exporters: ["file/security"] } } },
    });
    expect((await fleet.api.put(t("/config-templates/platform"), { content: base })).status).toBe(201);
    expect((await fleet.api.put(t("/config-templates/security"), { content: overlay })).status).toBe(201);
    const put = (name: string, body: Record<string, unknown>) =>
      fleet.api.put(t(`/assignments/${name}`), body);
    expect((await put("platform", { selector: "e2e=layers", template: "platform" })).status).toBe(201);
    expect(
      (await put("security", { selector: "e2e=layers", template: "security", priority: 5, layer: "overlay" }))
        .status,
    ).toBe(201);

    const { token } = await fleet.enrollmentToken({ labels: { e2e: "layers" } });
    const sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: fleet.opampUrl,
      token,
      storageDir: join(s.dir, "supervisor"),
    }).start();
    const uid = await eventually(
      async () => {
        const r = await fleet.api.get(t("/agents"));
        return r.body.items.length === 1 ? (r.body.items[0].instanceUid as string) : undefined;
      },
      20_000,
      "the agent to enroll",
    );

    const applied = await eventually(
      async () => {
        const r = await fleet.api.get(t(`/agents/${uid}/deliveries`));
        return (r.body.items as Delivery[]).find((d) => d.status === "applied");
      },
      APPLY_TIMEOUT_MS,
      "the merged config applied",
    );
    const explain = (await fleet.api.get(t(`/agents/${uid}/config`))).body;
    expect(explain.outcome).toBe("config");
    expect(explain.delivery.configHash).toBe(applied.configHash);
    expect(explain.layers.map((l: { assignment: string }) => l.assignment)).toEqual(["platform", "security"]);
    expect(parse(explain.renderedConfig).service.pipelines.traces.exporters).toEqual([
      "file",
      "file/security",
    ]);

    // The collector runs both exporters of the merged pipeline: one span, two files.
    await collectorServes(port, platformFile, "e2e-layers-merged");
    await eventually(
      async () =>
        (await readFile(securityFile, "utf8").catch(() => "")).includes("e2e-layers-merged")
          ? true
          : undefined,
      10_000,
      "the span in the overlay's file",
    );
    // What the supervisor reports the collector runs has the overlay's exporter too.
    const agent = (await fleet.api.get(t(`/agents/${uid}`))).body;
    expect(agent.remoteConfigStatus).toMatchObject({
      status: "APPLIED",
      lastRemoteConfigHash: applied.configHash,
    });

    expect((await sup.stop()).code).toBe(0);
  });
});
