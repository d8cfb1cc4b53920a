/**
 * Drift with the real supervisor and collector (docs/drift.md): the collector refuses a revision,
 * keeps running the one before, and the agent shows `drift: true` with the reason until a
 * revision it can run is applied. The effective config it reports is the collector's (our config
 * plus the supervisor's additions, secrets as [REDACTED]), which is why drift compares hashes.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { e2eBinaryPaths, pinnedVersion } from "./e2e-toolchain.js";
import { collectorServes, freePort, Supervisor, stopAllSupervisors, tempDir } from "./supervisor-process.js";

// The supervisor reports APPLIED only when config_apply_timeout (5 s in the template) elapses.
const APPLY_TIMEOUT_MS = 40_000;

let srv: TestServer;
let fleet: TenantFixture;
let version: string;
const t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  version = await pinnedVersion();
  srv = await startTestServer({
    env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", HEARTBEAT_INTERVAL_SECONDS: "3" },
  });
  fleet = await createTenant(srv, "E2E Drift");
  expect((await fleet.api.put(t("/secrets/drift_token"), { value: "drift-secret-0123456789" })).status).toBe(
    201,
  );
});
afterAll(async () => {
  await stopAllSupervisors();
  await srv?.stop();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

/** OTLP/HTTP in on `port`, traces to `file`; `extra` lands in the file exporter's settings. */
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
      Authorization: "Bearer {{secret "drift_token"}}"
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file, otlphttp]
`;
}

async function view(uid: string) {
  const r = await fleet.api.get(t(`/agents/${uid}`));
  expect(r.status).toBe(200);
  return r.body;
}

async function whenDrift(uid: string, want: boolean, version: number) {
  return eventually(
    async () => {
      const v = await view(uid);
      const settled = want ? v.drift === true : v.drift === false && v.runningConfig?.version === version;
      return settled ? v : undefined;
    },
    APPLY_TIMEOUT_MS,
    `drift ${want} at revision ${version}`,
  );
}

describe("drift with opampsupervisor + collector", () => {
  it("shows a refused revision as drift, with the reason, until a good one is applied", async () => {
    const s = await tempDir("agent-api-e2e-drift-");
    cleanups.push(s.remove);
    const port = await freePort();
    const put = (content: string) => fleet.api.put(t("/config-templates/collector"), { content });
    expect((await put(collectorConfig(port, join(s.dir, "v1.json")))).status).toBe(201);
    const assignment = await fleet.api.put(t("/assignments/e2e-drift"), {
      selector: "e2e=drift",
      template: "collector",
    });
    expect(assignment.status).toBe(201);
    const { token } = await fleet.enrollmentToken({ labels: { e2e: "drift" } });
    new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: fleet.opampUrl,
      token,
      storageDir: join(s.dir, "supervisor"),
    }).start();
    const uid = await eventually(
      async () => (await fleet.api.get(t("/agents"))).body.items[0]?.instanceUid as string | undefined,
      20_000,
      "the agent to enroll",
    );

    // v1 runs: no drift, although the effective config the collector reports is not our text.
    const v1 = await whenDrift(uid, false, 1);
    const effective = await eventually(async () => {
      const body: string | undefined = (await view(uid)).effectiveConfig?.files?.[""]?.body;
      return body?.includes(`127.0.0.1:${port}`) ? body : undefined;
    }, 20_000);
    expect(effective).toContain("[REDACTED]");
    expect(effective).toContain("opamp");

    // v2 fails the collector's validation: it keeps running v1, and drifts.
    expect(
      (await put(collectorConfig(port, join(s.dir, "v2.json"), "    no_such_setting: true\n"))).status,
    ).toBe(201);
    // It drifts as soon as it should run v2 (its delivery offered); once the collector refused
    // v2, the reason says so.
    await whenDrift(uid, true, 2);
    const v2Hash = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${uid}/deliveries?status=failed`));
      return r.body.items[0]?.configHash as string | undefined;
    });
    const reason = `runs collector@1 (${v1.runningConfig.configHash.slice(0, 8)}) but should run collector@2 (${v2Hash.slice(0, 8)}); its delivery is failed`;
    const drifted = await eventually(async () => {
      const v = await view(uid);
      return v.drift === true && v.driftReason === reason ? v : undefined;
    }, 10_000);
    expect(drifted.driftReason).toBe(reason);
    const listed = await fleet.api.get(t("/agents?drift=true"));
    expect(listed.body.items.map((a: { instanceUid: string }) => a.instanceUid)).toEqual([uid]);
    const rollup = await fleet.api.get(t("/deliveries/rollup?by=assignment"));
    expect(rollup.body.items[0]).toMatchObject({ key: "e2e-drift", counts: { drifted: 1, failed: 1 } });
    await collectorServes(port, join(s.dir, "v1.json"), "e2e-span-while-drifted");

    // v3 is fine: applied, no drift.
    expect((await put(collectorConfig(port, join(s.dir, "v3.json")))).status).toBe(201);
    await whenDrift(uid, false, 3);
    expect((await fleet.api.get(t("/agents?drift=true"))).body.items).toEqual([]);
  });
});
