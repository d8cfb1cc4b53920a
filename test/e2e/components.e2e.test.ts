/**
 * Available components end to end: the real supervisor (templates/supervisor/supervisor.yaml as
 * shipped, with reports_available_components) reports its collector's build; agent-api stores the
 * list, shows it, and refuses before sending a config that needs a component the build lacks
 * (test/e2e/collector/builder.yaml has no kafka exporter), while the collector keeps running its
 * old config.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
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
  fleet = await createTenant(srv, "E2E components");
});
afterAll(async () => {
  await stopAllSupervisors();
  await srv?.stop();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

/** OTLP/HTTP in on `port`, traces to `file`; with `kafka`, logs to a kafka exporter too. */
function config(port: number, file: string, kafka = false): string {
  return stringify({
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
    exporters: {
      file: { path: file, flush_interval: "100ms" },
      ...(kafka ? { kafka: { brokers: ["127.0.0.1:9092"] } } : {}),
    },
    service: {
      // Otherwise the collector serves its own metrics on localhost:8888, which may be taken.
      telemetry: { metrics: { level: "none" } },
      pipelines: {
        traces: { receivers: ["otlp"], exporters: ["file"] },
        ...(kafka ? { logs: { receivers: ["otlp"], exporters: ["kafka"] } } : {}),
      },
    },
  });
}

type Delivery = {
  configHash: string;
  status: string;
  errorMessage: string | null;
  revision: { version: number } | null;
};

async function deliveries(uid: string): Promise<Delivery[]> {
  const r = await fleet.api.get(t(`/agents/${uid}/deliveries`));
  expect(r.status).toBe(200);
  return r.body.items;
}

describe("opampsupervisor + collector: available components", () => {
  it("reports its build, and a config needing a component it lacks is refused before it is sent", async () => {
    const version = await pinnedVersion();
    const s = await tempDir("agent-api-e2e-components-");
    cleanups.push(s.remove);
    const port = await freePort();
    const file = join(s.dir, "traces.json");
    expect(
      (await fleet.api.put(t("/config-templates/collector"), { content: config(port, file) })).status,
    ).toBe(201);
    expect(
      (
        await fleet.api.put(t("/assignments/e2e"), {
          selector: "e2e=components",
          template: "collector",
          priority: 1,
        })
      ).status,
    ).toBe(201);
    const { token } = await fleet.enrollmentToken({ labels: { e2e: "components" } });
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
    const v1 = await eventually(
      async () => (await deliveries(uid)).find((d) => d.revision?.version === 1 && d.status === "applied"),
      APPLY_TIMEOUT_MS,
      "revision 1 applied",
    );
    await collectorServes(port, file, "e2e-components-v1");

    // The build as the collector's opamp extension reports it.
    const view = await eventually(
      async () => {
        const a = (await fleet.api.get(t(`/agents/${uid}`))).body;
        return a.availableComponents?.status === "reported" ? a : undefined;
      },
      20_000,
      "the component list stored",
    );
    expect(view.capabilities.names).toContain("reportsAvailableComponents");
    const types = (kind: string) => view.availableComponents[kind].map((c: { type: string }) => c.type);
    expect(types("receivers")).toEqual(expect.arrayContaining(["otlp", "nop"]));
    expect(types("exporters")).toEqual(expect.arrayContaining(["debug", "file", "nop", "otlphttp"]));
    expect(types("extensions")).toContain("opamp");
    expect(types("exporters")).not.toContain("kafka");
    expect(
      view.availableComponents.receivers.find((c: { type: string }) => c.type === "otlp").module,
    ).toMatch(/otlpreceiver v0\.158\.0/);

    // Revision 2 needs the kafka exporter: refused before it is sent.
    const pid = (await sup.collectorPids())[0];
    expect(pid).toBeDefined();
    const put = await fleet.api.put(t("/config-templates/collector"), {
      content: config(port, file, true),
    });
    expect(put.status).toBe(201);
    const failed = await eventually(
      async () => (await deliveries(uid)).find((d) => d.revision?.version === 2 && d.status === "failed"),
      10_000,
      "revision 2 refused",
    );
    expect(failed.errorMessage).toBe(`exporter "kafka" is not in this collector's build`);
    const explain = await fleet.api.get(t(`/agents/${uid}/config`));
    expect(explain.body).toMatchObject({
      outcome: "missing_components",
      missingComponents: [{ kind: "exporter", type: "kafka" }],
    });

    // Nothing reached the supervisor: its collector still runs revision 1, same process.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await sup.collectorPids()).toEqual([pid]);
    await collectorServes(port, file, "e2e-components-after-refusal");
    const after = (await fleet.api.get(t(`/agents/${uid}`))).body;
    expect(after.remoteConfigStatus).toMatchObject({
      status: "APPLIED",
      lastRemoteConfigHash: v1.configHash,
    });
    expect((await deliveries(uid)).find((d) => d.revision?.version === 1)?.status).toBe("applied");
    expect(sup.matching(/kafka/)).toHaveLength(0);

    expect((await sup.stop()).code).toBe(0);
  });
});
