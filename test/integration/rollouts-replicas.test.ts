/**
 * A rollout survives the replica driving it: two replicas share the database and a ManualClock;
 * the driver dies mid-rollout without releasing its lease (as a crashed process would), the other
 * replica takes the rollout over once the lease expires and completes it from the stored state.
 */
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { ROLLOUT_LEASE_MS } from "../../src/server.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { collectorConfig, configsSent, driveUntil, rolloutFleet } from "../helpers/rollouts.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const template = collectorConfig;

const clock = new ManualClock();
let a: TestServer;
let b: TestServer;
let fleet: TenantFixture;
let agents: TestAgent[];
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

async function leaseOwner(id: string): Promise<string | null> {
  const r = await sql<{
    lease_owner: string | null;
  }>`select lease_owner from rollouts where id = ${id}`.execute(a.ctx.database.db);
  return r.rows[0]?.lease_owner ?? null;
}

beforeAll(async () => {
  const env = { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200" };
  a = await startTestServer({ clock, env: { ...env, REPLICA_ID: "replica-a" } });
  b = await startTestServer({ clock, shareDatabaseOf: a, env: { ...env, REPLICA_ID: "replica-b" } });
  fleet = await createTenant(a, "Rollout Replicas");
  await fleet.api.put(t("/config-templates/base"), { content: template(4317) });
  await fleet.api.put(t("/assignments/fleet"), { selector: "env=prod", template: "base", revision: 1 });
  agents = await rolloutFleet(fleet, 20, { env: "prod" });
  await eventually(async () => (agents.every((x) => configsSent(x).length === 1) ? true : undefined), 10_000);
  await fleet.api.put(t("/config-templates/base"), { content: template(4318) });
}, 60_000);
afterAll(async () => {
  await fleet?.stopAgents();
  await b?.stop();
  await a?.stop();
});

describe("rollouts across replicas", () => {
  it("resumes on the other replica when the driving one dies mid-rollout", async () => {
    // The agents are on replica A; replica B drives (A's driver is off until B has died).
    await a.server.rollouts.stop();
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 2,
      strategy: { canary: 2, waves: ["50%", "100%"], bakeSeconds: 1 },
    });
    expect(started.status).toBe(201);
    const id: string = started.body.id;
    await driveUntil(clock, async () => {
      const r = (await fleet.api.get(t(`/rollouts/${id}`))).body;
      return r.currentWave >= 1 && r.counts.succeeded >= 2 ? r : undefined;
    });
    expect(await leaseOwner(id)).toBe("replica-b");

    // B dies: no lease release, no more ticks.
    await b.server.rollouts.stop({ releaseLeases: false });
    await b.stop();
    a.server.rollouts.start();
    const frozen = (await fleet.api.get(t(`/rollouts/${id}`))).body;
    await clock.advance(ROLLOUT_LEASE_MS / 3);
    expect(await leaseOwner(id)).toBe("replica-b");
    // Once the lease has expired, A takes over and finishes from the stored state.
    const done = await driveUntil(clock, async () => {
      const r = (await fleet.api.get(t(`/rollouts/${id}`))).body;
      return r.state === "completed" ? r : undefined;
    });
    expect(frozen.state).toBe("running");
    expect(done.counts).toMatchObject({ succeeded: 20, pending: 0, failed: 0 });
    expect(await leaseOwner(id)).toBeNull();
    // Nobody was sent the target twice, nor the old config after the new one.
    for (const x of agents) expect(configsSent(x).filter((c) => c.includes("4318"))).toHaveLength(1);
    expect((await fleet.api.get(t("/assignments/fleet"))).body.revision).toBe(2);
  });
});
