/**
 * The metrics an operator alerts on, read from a real server's /metrics while a real fleet does
 * things: agents online and offline, deliveries by outcome and stalled, refused connections, KMS
 * calls and errors, a rollout that paused itself, fleet-event lag, readiness and the pool. None
 * carries a tenant or agent label.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { scrape } from "../helpers/metrics.js";
import { collectorConfig, driveUntil, REFUSED, rolloutFleet } from "../helpers/rollouts.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { SwitchableKms } from "../helpers/switchable-kms.js";
import { explicitKms } from "../helpers/test-kms.js";

const STALL_S = 60;
let srv: TestServer;
let fleet: TenantFixture;
let kms: SwitchableKms;
const clock = new ManualClock();
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

beforeAll(async () => {
  kms = new SwitchableKms(await explicitKms());
  srv = await startTestServer({
    clock,
    kms,
    env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200", DELIVERY_STALL_SECONDS: String(STALL_S) },
  });
  fleet = await createTenant(srv, "Operations");
});
afterEach(() => fleet.stopAgents());
afterAll(() => srv?.stop());

async function metric(name: string, labels?: Record<string, string>): Promise<number> {
  return (await scrape(srv.url)).sum(name, labels);
}

describe("operator metrics on /metrics", () => {
  it("counts the fleet's agents online and offline, with no tenant or agent label anywhere", async () => {
    const a = await fleet.enrolledAgent();
    await eventually(async () =>
      (await metric("agentapi_agents", { status: "online" })) === 1 ? true : undefined,
    );
    expect(await metric("agentapi_opamp_connected_agents")).toBe(1);
    await a.stop();
    await eventually(async () =>
      (await metric("agentapi_agents", { status: "offline" })) === 1 &&
      (await metric("agentapi_agents", { status: "online" })) === 0
        ? true
        : undefined,
    );
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    expect(text).not.toContain(fleet.tenantId);
    expect(text).not.toContain(a.instanceUidString);
    expect(text).not.toMatch(/[{,](tenant\w*|instance\w*|agent\w*)="/i);
  });

  it("counts deliveries offered, applied and failed, and shows a delivery with no report as stalled", async () => {
    const before = await scrape(srv.url);
    expect(before.value("agentapi_deliveries_total", { outcome: "failed" })).toBe(0);
    await fleet.api.put(t("/config-templates/ok"), { content: collectorConfig(4317) });
    await fleet.api.put(t("/config-templates/bad"), { content: collectorConfig(4317, REFUSED) });
    await fleet.api.put(t("/config-templates/slow"), { content: collectorConfig(4319) });
    await fleet.api.put(t("/assignments/ok"), { selector: "role=ok", template: "ok", revision: "latest" });
    await fleet.api.put(t("/assignments/bad"), { selector: "role=bad", template: "bad", revision: "latest" });
    await fleet.api.put(t("/assignments/slow"), {
      selector: "role=slow",
      template: "slow",
      revision: "latest",
    });
    await rolloutFleet(fleet, 1, { role: "ok" });
    await rolloutFleet(fleet, 1, { role: "bad" });
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { token } = await fleet.enrollmentToken({ labels: { role: "slow" } });
    const slow = fleet.agent({ token, applyConfig: () => hung.then(() => ({ ok: true as const })) });
    await slow.start();
    await slow.waitForConnection(2);

    const after = await eventually(async () => {
      const s = await scrape(srv.url);
      return s.value("agentapi_deliveries_total", { outcome: "applied" }) === 1 &&
        s.value("agentapi_deliveries_total", { outcome: "failed" }) === 1 &&
        s.value("agentapi_deliveries_total", { outcome: "applying" }) === 3
        ? s
        : undefined;
    });
    expect(after.value("agentapi_deliveries_total", { outcome: "offered" })).toBe(3);
    expect(after.value("agentapi_deliveries_stalled")).toBe(0);
    await clock.advance(STALL_S * 1000 + 1_000);
    expect(await metric("agentapi_deliveries_stalled")).toBe(1);
    release();
    await eventually(async () => ((await metric("agentapi_deliveries_stalled")) === 0 ? true : undefined));
  });

  it("counts refused OpAMP connections by reason", async () => {
    const before = await metric("agentapi_opamp_refused_connections_total");
    await expect(fleet.agent({ token: "xse_not-a-token" }).start()).rejects.toMatchObject({ status: 401 });
    const s = await scrape(srv.url);
    expect(s.sum("agentapi_opamp_refused_connections_total")).toBe(before + 1);
  });

  it("times KMS calls and counts their failures by kind", async () => {
    expect((await fleet.api.put(t("/secrets/db-password"), { value: "s3cret" })).status).toBe(201);
    const s = await scrape(srv.url);
    expect(s.value("agentapi_kms_request_duration_seconds_count", { operation: "generate_data_key" })).toBe(
      1,
    );
    expect(s.sum("agentapi_kms_errors_total")).toBe(0);

    kms.down = true;
    try {
      expect((await fleet.api.put(t("/secrets/db-password"), { value: "other" })).status).toBe(503);
    } finally {
      kms.down = false;
    }
    expect(
      await metric("agentapi_kms_errors_total", { operation: "generate_data_key", kind: "unavailable" }),
    ).toBe(1);
  });

  it("shows rollouts by state and a rollout that paused itself, and times fleet events", async () => {
    await fleet.api.put(t("/config-templates/base"), { content: collectorConfig(4320) });
    await fleet.api.put(t("/assignments/fleet"), { selector: "env=canary", template: "base", revision: 1 });
    await rolloutFleet(fleet, 3, { env: "canary" });
    await fleet.api.put(t("/config-templates/base"), { content: collectorConfig(4320, REFUSED) });
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 2,
      strategy: { canary: 1, waves: ["100%"], bakeSeconds: 1, maxFailures: 0 },
    });
    expect(started.status).toBe(201);
    expect(await metric("agentapi_rollouts", { state: "running" })).toBe(1);
    await driveUntil(clock, async () =>
      (await metric("agentapi_rollouts_self_paused")) === 1 ? true : undefined,
    );
    const s = await scrape(srv.url);
    expect(s.value("agentapi_rollouts", { state: "paused" })).toBe(1);
    expect(s.value("agentapi_rollouts", { state: "running" })).toBe(0);
    expect(s.value("agentapi_fleet_event_lag_seconds_count")).toBeGreaterThan(0);

    // Paused by an operator after a resume: paused, but not by itself.
    expect((await fleet.api.post(t(`/rollouts/${started.body.id}/resume`))).status).toBe(200);
    expect((await fleet.api.post(t(`/rollouts/${started.body.id}/pause`))).status).toBe(200);
    const manual = await scrape(srv.url);
    expect(manual.value("agentapi_rollouts", { state: "paused" })).toBe(1);
    expect(manual.value("agentapi_rollouts_self_paused")).toBe(0);
  });

  it("reports readiness, and the pool's use against its limit on PostgreSQL", async () => {
    const s = await scrape(srv.url);
    expect(s.value("agentapi_ready")).toBe(1);
    expect(s.families.has("agentapi_nodejs_eventloop_lag_p99_seconds")).toBe(true);
    if (srv.ctx.database.kind === "postgres") {
      expect(s.value("agentapi_db_pool_max_connections")).toBe(10);
      expect(s.value("agentapi_db_pool_connections", { state: "total" })).toBeGreaterThan(0);
    } else {
      expect(s.value("agentapi_db_pool_max_connections")).toBe(0);
    }
  });
});
