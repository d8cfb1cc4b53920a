/**
 * Rollouts with 50 supervisor-like test agents on a ManualClock (1 s bake): a failing canary
 * pauses the rollout with only the canary touched and abort gives it its previous config back
 * (real pushes); a healthy rollout goes canary → 25 % → 100 % and pins the assignment; an
 * assignment's default strategy turns a new revision into a rollout; bad requests store nothing.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import type { FleetEvent } from "../../src/fleet/events.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { collectorConfig, configsSent, driveUntil, REFUSED, rolloutFleet } from "../helpers/rollouts.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const template = collectorConfig;

let srv: TestServer;
let fleet: TenantFixture;
let agents: TestAgent[];
const clock = new ManualClock();
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;
const STRATEGY = { canary: 2, waves: ["25%", "100%"], bakeSeconds: 1, maxFailures: 0 };

async function rollout(id: string) {
  const r = await fleet.api.get(t(`/rollouts/${id}`));
  expect(r.status).toBe(200);
  return r.body;
}

/** The tenant's fleet events as this replica handled them. */
const events: FleetEvent[] = [];
const withConfig = (marker: string) => agents.filter((a) => configsSent(a).some((c) => c.includes(marker)));

beforeAll(async () => {
  srv = await startTestServer({ clock, env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200" } });
  fleet = await createTenant(srv, "Rollouts");
  srv.ctx.fleetEvents.subscribe((e) => {
    if (e.tenantId === fleet.tenantId) events.push(e);
  });
  expect((await fleet.api.put(t("/config-templates/base"), { content: template(4317) })).status).toBe(201);
  expect(
    (await fleet.api.put(t("/assignments/fleet"), { selector: "env=prod", template: "base", revision: 1 }))
      .status,
  ).toBe(201);
  agents = await rolloutFleet(fleet, 50, { env: "prod" });
  await eventually(async () => (agents.every((a) => configsSent(a).length === 1) ? true : undefined), 10_000);
}, 60_000);
afterAll(async () => {
  await fleet?.stopAgents();
  await srv?.stop();
});

describe("rollouts", () => {
  it("a failing canary pauses the rollout with only the canary touched; abort gives it its config back", async () => {
    expect(
      (await fleet.api.put(t("/config-templates/base"), { content: template(4317, REFUSED) })).status,
    ).toBe(201);
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 2,
      strategy: STRATEGY,
    });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({
      assignment: "fleet",
      fromRevision: 1,
      toRevision: 2,
      state: "running",
      currentWave: 0,
      population: 50,
      strategy: STRATEGY,
    });
    const id: string = started.body.id;
    const paused = await driveUntil(clock, async () => {
      const r = await rollout(id);
      return r.state === "paused" ? r : undefined;
    });
    expect(paused.reason).toMatch(/more than maxFailures \(0\).*collector refused the config/);
    expect(paused.counts.pending).toBe(48);
    expect(paused.counts.failed).toBeGreaterThanOrEqual(1);
    // Time goes on: nobody else gets the target.
    await driveUntil(clock, async () => undefined, { maxSeconds: 3 }).catch(() => undefined);
    expect(withConfig(REFUSED)).toHaveLength(2);
    const failed = await fleet.api.get(t(`/rollouts/${id}/agents?state=failed`));
    expect(failed.body.items[0]).toMatchObject({ canary: true, reason: expect.stringContaining("FAILED") });
    // The failed canary runs revision 1 while it should run 2: it drifts, and the rollout counts it.
    expect(failed.body.items.every((x: { drift: boolean | null }) => x.drift === true)).toBe(true);
    expect((await rollout(id)).counts.drifted).toBe(failed.body.items.length);
    const stable = await fleet.api.get(t(`/rollouts/${id}/agents?state=pending&limit=5`));
    expect(stable.body.items.map((x: { drift: boolean | null }) => x.drift)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);

    const before = new Map(agents.map((a) => [a, configsSent(a).length]));
    const aborted = await fleet.api.post(t(`/rollouts/${id}/abort`));
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({ state: "aborted", counts: { rolledBack: 2, pending: 48 } });
    // The canary gets revision 1 back as a real push; nobody else is sent anything.
    for (const a of withConfig(REFUSED)) {
      await eventually(async () => (configsSent(a).length > (before.get(a) ?? 0) ? true : undefined));
      expect(configsSent(a).at(-1)).toBe(configsSent(a)[0]);
    }
    for (const a of agents.filter((x) => !withConfig(REFUSED).includes(x)))
      expect(configsSent(a).length).toBe(before.get(a));
    expect((await fleet.api.get(t("/assignments/fleet"))).body.revision).toBe(1);
    // Back on revision 1, which is what they should run: no drift left.
    await eventually(async () => ((await rollout(id)).counts.drifted === 0 ? true : undefined));
    const audit = await fleet.api.get(t("/audit-events?action=rollout.abort"));
    expect(audit.body.items[0]?.target).toEqual({ type: "rollout", id });
  });

  it("a healthy rollout completes canary → 25 % → 100 %, never past a wave, and pins the assignment", async () => {
    events.length = 0;
    expect((await fleet.api.put(t("/config-templates/base"), { content: template(4318) })).status).toBe(201);
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 3,
      strategy: STRATEGY,
    });
    expect(started.status).toBe(201);
    // The revision went to a pinned assignment only: it changed nobody's config, so it asked no
    // replica to re-plan the fleet (events arrive in order: the rollout's came after it).
    await eventually(async () => (events.some((e) => e.kind === "rollout.changed") ? true : undefined));
    const revision = events.filter((e) => e.kind === "config.changed" && e.payload.reason === "revision");
    expect(revision.map((e) => e.kind === "config.changed" && e.payload.instanceUids)).toEqual([[]]);
    expect(started.body.waveTargets).toEqual([2, 13, 50]);
    const seen: number[] = [];
    const done = await driveUntil(clock, async () => {
      const r = await rollout(started.body.id);
      const admitted = r.counts.inProgress + r.counts.succeeded + r.counts.failed;
      expect(admitted).toBeLessThanOrEqual(r.waveTargets[r.currentWave]);
      expect(withConfig("4318").length).toBeLessThanOrEqual(r.waveTargets[r.currentWave]);
      seen.push(admitted);
      return r.state === "completed" ? r : undefined;
    });
    expect(done.counts).toMatchObject({ succeeded: 50, failed: 0, pending: 0 });
    expect(seen).toContain(2);
    expect(seen).toContain(13);
    expect(withConfig("4318")).toHaveLength(50);
    expect((await fleet.api.get(t("/assignments/fleet"))).body.revision).toBe(3);
  });

  it("an assignment's default strategy turns a new revision into a rollout", async () => {
    events.length = 0;
    const put = await fleet.api.put(t("/assignments/fleet"), {
      selector: "env=prod",
      template: "base",
      revision: "latest",
      rollout: { canary: "10%", waves: ["100%"], bakeSeconds: 1 },
    });
    expect(put.status).toBe(200);
    expect(put.body.rollout).toMatchObject({ canary: "10%", waves: ["100%"] });
    // Pinned to 3 by the last completion, `latest` is 3 too: nobody's config changes, so the
    // change asks no replica to re-plan.
    const pinned = await eventually(async () =>
      events.find((e) => e.kind === "config.changed" && e.payload.reason === "assignment"),
    );
    expect(pinned.kind === "config.changed" && pinned.payload.instanceUids).toEqual([]);
    expect((await fleet.api.put(t("/config-templates/base"), { content: template(4319) })).status).toBe(201);
    const list = await fleet.api.get(t("/rollouts?assignment=fleet&state=running"));
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ fromRevision: 3, toRevision: 4, waveTargets: [5, 50] });
    // Without the clock moving, only the canary can have it.
    await new Promise((r) => setTimeout(r, 800));
    expect(withConfig("4319").length).toBeLessThanOrEqual(5);
    await driveUntil(clock, async () =>
      (await rollout(list.body.items[0].id)).state === "completed" ? true : undefined,
    );
    expect(withConfig("4319")).toHaveLength(50);
    // A latest assignment already at the target stays `latest`.
    expect((await fleet.api.get(t("/assignments/fleet"))).body.revision).toBe("latest");
  });

  it("refuses bad rollouts with a clear 4xx and stores nothing", async () => {
    const count = async () => (await fleet.api.get(t("/rollouts?limit=500"))).body.items.length;
    const before = await count();
    const post = (body: Record<string, unknown>) => fleet.api.post(t("/rollouts"), body);
    expect((await post({ assignment: "nope", revision: 1 })).status).toBe(404);
    const noRevision = await post({ assignment: "fleet", revision: 99 });
    expect(noRevision.status).toBe(422);
    expect(noRevision.body.issues[0].path).toBe("revision");
    const waves = await post({ assignment: "fleet", revision: 1, strategy: { waves: ["25%", "50%"] } });
    expect(waves.status).toBe(422);
    expect(waves.body.issues.map((i: { path: string }) => i.path)).toContain("strategy.waves");
    const bake = await post({ assignment: "fleet", revision: 1, strategy: { bakeSeconds: -1 } });
    expect(bake.status).toBe(422);
    expect(bake.body.issues.map((i: { path: string }) => i.path)).toContain("strategy.bakeSeconds");
    const first = await post({ assignment: "fleet", revision: 1, strategy: { bakeSeconds: 3600 } });
    expect(first.status).toBe(201);
    const second = await post({ assignment: "fleet", revision: 2 });
    expect(second.status).toBe(409);
    expect(await count()).toBe(before + 1);
    // Superseding explicitly: the first one ends as superseded, the new one runs.
    const superseding = await post({ assignment: "fleet", revision: 3, supersede: true });
    expect(superseding.status).toBe(201);
    expect(superseding.body).toMatchObject({ state: "running", fromRevision: 4, toRevision: 3 });
    expect(await rollout(first.body.id)).toMatchObject({ state: "superseded" });
    const pause = await fleet.api.post(t(`/rollouts/${superseding.body.id}/pause`));
    expect(pause.body).toMatchObject({ state: "paused", reason: expect.stringContaining("paused by") });
    expect((await fleet.api.post(t(`/rollouts/${superseding.body.id}/pause`))).status).toBe(409);
    expect((await fleet.api.post(t(`/rollouts/${superseding.body.id}/resume`))).body.state).toBe("running");
  });

  it("a canarySelector chooses the canary; viewers read rollouts but cannot start one", async () => {
    const ring = agents.slice(0, 3).map((a) => a.instanceUidString);
    for (const uid of ring)
      expect((await fleet.api.patch(t(`/agents/${uid}`), { labels: { ring: "canary" } })).status).toBe(200);
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 1,
      strategy: { canarySelector: "ring=canary", waves: ["100%"], bakeSeconds: 3600 },
      supersede: true,
    });
    expect(started.status).toBe(201);
    expect(started.body.waveTargets).toEqual([3, 50]);
    const canaries = await fleet.api.get(t(`/rollouts/${started.body.id}/agents?limit=3`));
    expect(canaries.body.items.map((a: { instanceUid: string }) => a.instanceUid).sort()).toEqual(
      [...ring].sort(),
    );
    expect(canaries.body.items.every((a: { canary: boolean }) => a.canary)).toBe(true);

    const key = await fleet.api.post(t("/api-keys"), { name: "watcher", role: "viewer" });
    const viewer = apiClient(srv.url, key.body.key);
    expect((await viewer.get(t(`/rollouts/${started.body.id}`))).status).toBe(200);
    expect((await viewer.post(t("/rollouts"), { assignment: "fleet", revision: 2 })).status).toBe(403);
    expect((await viewer.post(t(`/rollouts/${started.body.id}/abort`))).status).toBe(403);
    expect((await fleet.api.get(t(`/rollouts/${started.body.id}`))).body.state).toBe("running");
  });

  it("GitOps bundles set an assignment's default strategy, checked with the field's path", async () => {
    const bundle = (rollout: unknown) => ({
      source: "git:acme/rollouts",
      assignments: [
        { name: "canaries", selector: "env=none", template: "base", revision: "latest", rollout },
      ],
    });
    const bad = await fleet.api.post(t("/apply"), bundle({ waves: ["50%"] }));
    expect(bad.status).toBe(422);
    expect(bad.body.issues.map((i: { path: string }) => i.path)).toContain("assignments[0].rollout.waves");
    expect((await fleet.api.get(t("/assignments/canaries"))).status).toBe(404);
    const ok = await fleet.api.post(
      t("/apply"),
      bundle({ canary: 1, waves: ["10%", "100%"], bakeSeconds: 30 }),
    );
    expect(ok.status).toBe(200);
    expect((await fleet.api.get(t("/assignments/canaries"))).body.rollout).toEqual({
      canary: 1,
      waves: ["10%", "100%"],
      bakeSeconds: 30,
      maxFailures: 0,
    });
  });

  it("the CLI lists, reads, pauses and aborts rollouts", async () => {
    const cli = async (...args: string[]) => {
      try {
        const r = await promisify(execFile)(
          process.execPath,
          [
            "--import",
            "tsx",
            "src/main.ts",
            "rollouts",
            ...args,
            "--tenant",
            fleet.tenantId,
            "--url",
            srv.url,
          ],
          { env: { PATH: process.env.PATH ?? "", AGENT_API_TOKEN: srv.operatorKey } },
        );
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const running = (await fleet.api.get(t("/rollouts?state=running"))).body.items[0];
    const listed = await cli("list", "--state", "running");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(
      `${running.id}  fleet ${running.fromRevision}→${running.toRevision}  running`,
    );
    const paused = await cli("pause", running.id);
    expect(paused.stdout).toMatch(/paused/);
    const again = await cli("pause", running.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("409");
    expect((await cli("abort", running.id)).stdout).toMatch(/aborted/);
    expect((await cli("get", "rol_nope")).code).toBe(1);
    expect((await cli("frobnicate")).code).toBe(2);
  });

  it("an agent offline when its wave starts is admitted once it is back, within the wave", async () => {
    const away = agents[40] as TestAgent;
    const put = await fleet.api.put(t("/assignments/fleet"), {
      selector: "env=prod",
      template: "base",
      revision: "latest",
      rollout: { canary: 0, waves: ["100%"], bakeSeconds: 30 },
    });
    expect(put.status).toBe(200);
    await away.stop();
    expect((await fleet.api.put(t("/config-templates/base"), { content: template(4320) })).status).toBe(201);
    const list = await fleet.api.get(t("/rollouts?assignment=fleet&state=running"));
    const id: string = list.body.items[0].id;
    // Everyone online is admitted; the agent that is away waits, pending, with the reason.
    await driveUntil(clock, async () => {
      const r = await rollout(id);
      return r.counts.inProgress + r.counts.succeeded === 49 ? true : undefined;
    });
    const waiting = await fleet.api.get(t(`/rollouts/${id}/agents?state=pending`));
    expect(waiting.body.items).toEqual([
      expect.objectContaining({ instanceUid: away.instanceUidString, reason: "offline" }),
    ]);
    expect(configsSent(away).some((c) => c.includes("4320"))).toBe(false);
    // Back before the wave's bake is over: admitted in the same wave, it gets the target then.
    await away.start();
    await away.waitForConnection(2);
    await driveUntil(clock, async () =>
      configsSent(away).some((c) => c.includes("4320")) ? true : undefined,
    );
    expect((await rollout(id)).state).toBe("running");
    const done = await driveUntil(clock, async () => {
      const r = await rollout(id);
      return r.state === "completed" ? r : undefined;
    });
    expect(done.counts).toMatchObject({ succeeded: 50, pending: 0, failed: 0 });
  });
});
