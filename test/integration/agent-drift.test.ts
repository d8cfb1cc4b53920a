/**
 * Drift (docs/drift.md): an agent drifts when the config it runs (the hash it last reported
 * APPLIED) is not the config it should run (the hash the planner last decided for it). What a
 * user sees: `drift` and `driftReason` on the agent, `?drift=true|false` on the list, `drifted`
 * counts in the roll-ups and the assignment view; `null` whenever it is not known.
 */

import fc from "fast-check";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentCapability } from "../../src/protocol/capabilities.js";
import { configPushedAfter, createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { Json } from "../helpers/http.js";
import type { ApplyConfig } from "../helpers/opamp/agent-options.js";
import { SUPERVISOR_CAPABILITIES } from "../helpers/opamp/agent-wire.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

const V1 = "receivers: {}\nexporters: {}\n";
const V2 = "receivers: {}\nexporters: {}\nprocessors: {}\n";
/** A collector that refuses any config with a processors section (the v2 above). */
const refusesProcessors: ApplyConfig = (config) =>
  config.get("")?.body.includes("processors") ? { ok: false, error: "collector crashed" } : { ok: true };

/** A template `name` (content V1) given to agents labelled `team=<name>`. */
async function assign(name: string): Promise<void> {
  expect((await fleet.api.put(t(`/config-templates/${name}`), { content: V1 })).status).toBe(201);
  const a = await fleet.api.put(t(`/assignments/${name}`), { selector: `team=${name}`, template: name });
  expect(a.status).toBe(201);
}

async function enrolled(team: string, opts: Parameters<TenantFixture["enrolledAgent"]>[0] = {}) {
  const a = await fleet.enrolledAgent(opts, { labels: { team } });
  await a.settle();
  return a;
}

/** The agent's view once `drift` is `want`. */
async function driftOf(a: TestAgent, want: boolean | null): Promise<Json> {
  return eventually(async () => {
    const r = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
    return r.status === 200 && r.body.drift === want ? r.body : undefined;
  });
}

/** Publishes V2 of `name` and waits until the agent was offered it and has answered. */
async function publishV2(name: string, a: TestAgent): Promise<string> {
  const before = a.received.length;
  expect((await fleet.api.put(t(`/config-templates/${name}`), { content: V2 })).status).toBe(201);
  const pushed = await configPushedAfter(a, before);
  await a.settle();
  return Buffer.from(pushed.remoteConfig?.configHash ?? []).toString("hex");
}

const short = (hash: string) => hash.slice(0, 8);

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Drift");
});
afterEach(() => fleet.stopAgents());
afterAll(() => srv?.stop());

describe("an agent's drift", () => {
  it("is false for an agent that applied what it should run, in the detail and the list", async () => {
    await assign("steady");
    const a = await enrolled("steady");
    const view = await driftOf(a, false);
    expect(view.driftReason).toBeNull();
    expect(view.runningConfig).toMatchObject({ template: "steady", version: 1 });
    const list = await fleet.api.get(t("/agents?selector=team%3Dsteady"));
    expect(list.body.items).toEqual([expect.objectContaining({ drift: false, driftReason: null })]);
  });

  it("is true, with the reason, while a new revision's delivery failed and the agent runs the old one", async () => {
    await assign("failing");
    const a = await enrolled("failing", { applyConfig: refusesProcessors });
    const v1 = (await driftOf(a, false)).runningConfig.configHash as string;
    const v2 = await publishV2("failing", a);

    const view = await driftOf(a, true);
    expect(view.driftReason).toBe(
      `runs failing@1 (${short(v1)}) but should run failing@2 (${short(v2)}); its delivery is failed`,
    );
    expect(view.runningConfig).toMatchObject({ configHash: v1, version: 1 });
  });

  it("is true after a supervisor rollback (FAILED for the new hash, APPLIED for the old one)", async () => {
    await assign("rollback");
    const a = await enrolled("rollback");
    const v1 = (await driftOf(a, false)).runningConfig.configHash as string;
    const v2 = await publishV2("rollback", a);
    await driftOf(a, false); // The test agent applied v2 ...
    // ... then its collector crashed and the supervisor went back to v1.
    await a.send({
      remoteConfigStatus: {
        lastRemoteConfigHash: Buffer.from(v2, "hex"),
        status: 3,
        errorMessage: "collector crashed",
      },
    });
    await a.send({ remoteConfigStatus: { lastRemoteConfigHash: Buffer.from(v1, "hex"), status: 1 } });

    const view = await driftOf(a, true);
    expect(view.driftReason).toBe(
      `runs rollback@1 (${short(v1)}) but should run rollback@2 (${short(v2)}); its delivery is failed`,
    );
  });

  it("ends when the agent applies what it should run (a fixed revision)", async () => {
    await assign("retried");
    let refuse = true;
    const a = await enrolled("retried", {
      applyConfig: (config, hash) => (refuse ? refusesProcessors(config, hash) : { ok: true }),
    });
    await driftOf(a, false);
    const v2 = await publishV2("retried", a);
    await driftOf(a, true);

    refuse = false;
    const before = a.received.length;
    const v3 = await fleet.api.put(t("/config-templates/retried"), { content: `${V2}connectors: {}\n` });
    expect(v3.status).toBe(201);
    const pushed = await configPushedAfter(a, before);
    const view = await driftOf(a, false);
    expect(view.runningConfig).toMatchObject({
      configHash: Buffer.from(pushed.remoteConfig?.configHash ?? []).toString("hex"),
      version: 3,
    });
    expect(view.runningConfig.configHash).not.toBe(v2);
  });

  it("is not changed by a new effective config alone: the applied hash decides", async () => {
    await assign("local-edit");
    const a = await enrolled("local-edit");
    await driftOf(a, false);
    await a.reportEffectiveConfig("receivers: {}\nexporters: {}\nextensions: {health_check: {}}\n");
    await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
      return r.body.effectiveConfig?.files[""]?.body.includes("health_check") ? r : undefined;
    });
    expect((await fleet.api.get(t(`/agents/${a.instanceUidString}`))).body.drift).toBe(false);
  });
});

describe("drift not known", () => {
  it("is null for an agent that does not report its effective config, with the reason", async () => {
    await assign("silent");
    const a = await enrolled("silent", {
      capabilities: SUPERVISOR_CAPABILITIES & ~AgentCapability.ReportsEffectiveConfig,
    });
    // It got and applied its config: only drift is unknown.
    await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
      return r.body.runningConfig ? r : undefined;
    });
    const view = (await fleet.api.get(t(`/agents/${a.instanceUidString}`))).body;
    expect(view).toMatchObject({ drift: null, driftReason: "it does not report its effective config" });
  });

  it("is null for an agent no assignment matches, and becomes null when its assignment goes", async () => {
    const lonely = await enrolled("nobody-assigns-this");
    const view = (await fleet.api.get(t(`/agents/${lonely.instanceUidString}`))).body;
    expect(view.drift).toBeNull();
    expect(view.driftReason).toMatch(/^no desired config/);

    await assign("removed");
    const a = await enrolled("removed", { applyConfig: refusesProcessors });
    await driftOf(a, false);
    await publishV2("removed", a);
    await driftOf(a, true);
    expect((await fleet.api.delete(t("/assignments/removed"))).status).toBe(204);
    expect((await driftOf(a, null)).driftReason).toMatch(/^no desired config/);
  });
});

describe("finding and counting drifted agents", () => {
  it("lists exactly the drifted ones with ?drift=true, the others with ?drift=false, in cursor pages", async () => {
    await assign("fleet-a");
    const good = [await enrolled("fleet-a"), await enrolled("fleet-a")];
    const bad = [
      await enrolled("fleet-a", { applyConfig: refusesProcessors }),
      await enrolled("fleet-a", { applyConfig: refusesProcessors }),
      await enrolled("fleet-a", { applyConfig: refusesProcessors }),
    ];
    const unknown = await enrolled("fleet-a", {
      capabilities: SUPERVISOR_CAPABILITIES & ~AgentCapability.ReportsEffectiveConfig,
    });
    for (const a of [...good, ...bad]) await driftOf(a, false);
    const before = bad.map((a) => a.received.length);
    expect((await fleet.api.put(t("/config-templates/fleet-a"), { content: V2 })).status).toBe(201);
    for (const [i, a] of bad.entries()) await configPushedAfter(a, before[i] ?? 0);
    for (const a of bad) await driftOf(a, true);
    for (const a of good) await driftOf(a, false);

    const uids = (agents: TestAgent[]) => agents.map((a) => a.instanceUidString).sort();
    const pages = async (query: string) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r: { status: number; body: Json } = await fleet.api.get(
          t(`/agents?selector=team%3Dfleet-a&${query}&limit=2${cursor ? `&cursor=${cursor}` : ""}`),
        );
        expect(r.status).toBe(200);
        seen.push(...r.body.items.map((i: { instanceUid: string }) => i.instanceUid));
        cursor = r.body.nextCursor;
      } while (cursor);
      return seen;
    };
    expect(await pages("drift=true")).toEqual(uids(bad));
    expect(await pages("drift=false")).toEqual(uids(good));
    const all = await pages("status=online");
    expect(all).toContain(unknown.instanceUidString);
    expect(await pages("drift=true&status=online")).toEqual(uids(bad));

    // Roll-ups: per assignment, per revision (the revision the drifted agents should run), and the
    // assignment's own view.
    const byAssignment = await fleet.api.get(t("/deliveries/rollup?by=assignment"));
    expect(byAssignment.body.items.find((i: Json) => i.key === "fleet-a")?.counts).toMatchObject({
      drifted: 3,
      failed: 3,
    });
    const byRevision = await fleet.api.get(t("/deliveries/rollup?by=revision"));
    const revisions = Object.fromEntries(byRevision.body.items.map((i: Json) => [i.key, i.counts]));
    expect(revisions["fleet-a@2"]).toMatchObject({ drifted: 3, failed: 3 });
    expect(revisions["fleet-a@1"]).toMatchObject({ drifted: 0 });
    const assignment = await fleet.api.get(t("/assignments/fleet-a"));
    expect(assignment.body.status.deliveries).toMatchObject({ drifted: 3 });
  });

  it("refuses a drift filter that is not true or false, with a 400 naming it", async () => {
    const r = await fleet.api.get(t("/agents?drift=yes"));
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain("drift");
  });
});

describe("the drift rule", () => {
  it("agrees between the agent view, its reason and ?drift= for every combination of what is known", async () => {
    await assign("model");
    const a = await enrolled("model");
    await driftOf(a, false);
    await a.stop();
    const uid = a.instanceUidString;
    const hash = fc.constantFrom(null, "aaaa1111aaaa1111", "bbbb2222bbbb2222");
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          revoked: fc.boolean(),
          acceptsRemoteConfig: fc.boolean(),
          reportsEffectiveConfig: fc.boolean(),
          running: hash,
          desired: hash,
        }),
        async (k) => {
          let caps = AgentCapability.ReportsStatus;
          if (k.acceptsRemoteConfig) caps |= AgentCapability.AcceptsRemoteConfig;
          if (k.reportsEffectiveConfig) caps |= AgentCapability.ReportsEffectiveConfig;
          await sql`update agents set capabilities = ${caps.toString()}::bigint,
              revoked_at = ${k.revoked ? new Date() : null}, running_config_hash = ${k.running},
              desired_config_hash = ${k.desired}
            where tenant_id = ${fleet.tenantId} and instance_uid = ${uid}::uuid`.execute(srv.ctx.database.db);
          // The model, written apart from the column it checks.
          const known = !k.revoked && k.acceptsRemoteConfig && k.reportsEffectiveConfig && k.desired !== null;
          const want = known ? k.running !== k.desired : null;

          const view = (await fleet.api.get(t(`/agents/${uid}`))).body;
          expect(view.drift).toBe(want);
          expect(view.driftReason === null).toBe(want === false);
          if (want === true) expect(view.driftReason).toContain(`should run ${k.desired?.slice(0, 8)}`);
          for (const filter of [true, false]) {
            const listed = (await fleet.api.get(t(`/agents?drift=${filter}&q=${uid}`))).body.items;
            expect(listed.length).toBe(want === filter ? 1 : 0);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
