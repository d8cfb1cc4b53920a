/**
 * Remote restart end to end: the real supervisor (templates/supervisor/supervisor.yaml as shipped,
 * accepts_restart_command on) running a real collector gets the OpAMP Restart command from
 * POST …/agents/{uid}/restart and restarts the collector: a new process (new PID) on the same
 * OpAMP connection, which serves again, and the agent view shows the restart completed.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { e2eBinaryPaths, pinnedVersion } from "./e2e-toolchain.js";
import { freePort, Supervisor, sendSpan, stopAllSupervisors, tempDir } from "./supervisor-process.js";

const HEARTBEAT_SECONDS = 3;

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

function collectorConfig(port: number, file: string): string {
  return `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${port}
exporters:
  file:
    path: ${file}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`;
}

async function serves(port: number, file: string, spanName: string): Promise<void> {
  await eventually(
    async () => ((await sendSpan(port, spanName).catch(() => undefined))?.status === 200 ? true : undefined),
    30_000,
    `the collector's OTLP receiver on ${port}`,
  );
  await eventually(
    async () => ((await readFile(file, "utf8").catch(() => "")).includes(spanName) ? true : undefined),
    10_000,
    `span ${spanName} in ${file}`,
  );
}

describe("remote restart with opampsupervisor + collector", () => {
  let fleet: TenantFixture;
  const t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;

  it("restarts the collector (a new PID) on POST …/restart and shows the agent back", async () => {
    fleet = await createTenant(srv, "E2E restart");
    const s = await tempDir("agent-api-e2e-restart-");
    cleanups.push(s.remove);
    const port = await freePort();
    const traces = join(s.dir, "traces.json");
    expect(
      (await fleet.api.put(t("/config-templates/collector"), { content: collectorConfig(port, traces) }))
        .status,
    ).toBe(201);
    expect(
      (await fleet.api.put(t("/assignments/e2e"), { selector: "", template: "collector", priority: 1 }))
        .status,
    ).toBe(201);
    const { token } = await fleet.enrollmentToken();
    const sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: fleet.opampUrl,
      token,
      storageDir: join(s.dir, "supervisor"),
    }).start();

    const uid = await eventually(
      async () => {
        const r = await fleet.api.get(t("/agents"));
        const item = r.body.items[0];
        return item?.keyConfirmedAt && item.health?.healthy ? (item.instanceUid as string) : undefined;
      },
      60_000,
      "the agent enrolled, on its key and healthy",
    );
    await serves(port, traces, "before-restart");
    const before = await sup.collectorPids();
    expect(before).toHaveLength(1);
    const view = (await fleet.api.get(t(`/agents/${uid}`))).body;
    expect(view.capabilities.names).toContain("acceptsRestartCommand");
    const connectionsBefore = sup.matching(/Connected to the OpAMP server/).length;

    const res = await fleet.api.post(t(`/agents/${uid}/restart`));
    expect(res.status).toBe(202);

    const after = await eventually(
      async () => {
        const pids = await sup.collectorPids();
        return pids.length === 1 && pids[0] !== before[0] ? pids : undefined;
      },
      30_000,
      "a new collector process",
    );
    expect(after[0]).not.toBe(before[0]);
    await serves(port, traces, "after-restart");
    const back = await eventually(
      async () => {
        const r = await fleet.api.get(t(`/agents/${uid}`));
        return r.body.restart?.completedAt ? r.body : undefined;
      },
      30_000,
      "the restart shown completed",
    );
    expect(back.restart.requestedAt).toBe(res.body.restart.requestedAt);
    expect(back.status).toBe("online");
    // The same OpAMP connection: the supervisor restarted only its collector.
    expect(sup.matching(/Connected to the OpAMP server/).length).toBe(connectionsBefore);
    await sup.stop();
  });
});
