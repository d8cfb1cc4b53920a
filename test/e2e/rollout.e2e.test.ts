/**
 * A safe rollout end to end (issue 12) with three real OpAMP supervisors (templates/supervisor/
 * supervisor.yaml as shipped), each running a real collector on its own port (from its labels).
 * All three run revision 1; a rollout to a revision the collector's validation refuses, canary 1,
 * maxFailures 0: the canary reports FAILED, the rollout pauses by itself with the reason, and the
 * other two are left alone: their delivery is still revision 1 applied, nothing new was sent to
 * them, the same collector process serves as before. Abort then pushes revision 1 to the canary
 * again (its revision-1 delivery is offered once more and applied) and its collector serves it.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { e2eBinaryPaths, pinnedVersion } from "./e2e-toolchain.js";
import { collectorServes, freePort, Supervisor, stopAllSupervisors, tempDir } from "./supervisor-process.js";

const HEARTBEAT_SECONDS = 3;
// The supervisor reports APPLIED only when config_apply_timeout (5 s in the template) elapses.
const APPLY_TIMEOUT_MS = 60_000;
const STRATEGY = { canary: 1, waves: ["100%"], bakeSeconds: 2, maxFailures: 0 };

let srv: TestServer;
let version: string;
let fleet: TenantFixture;
let dir: string;
const cleanups: Array<() => Promise<void>> = [];
const t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;

/** OTLP/HTTP in on the agent's `port` label, traces to a file named by its `slot` label. */
const template = (extra = "") => `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{{default agent.labels.port "4318"}}
exporters:
  file:
    path: ${dir}/traces-{{default agent.labels.slot "x"}}.json
    flush_interval: 100ms
${extra}service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`;

interface Host {
  slot: string;
  port: number;
  sup: Supervisor;
  uid: string;
  collectorPid: number;
}

type Delivery = {
  id: string;
  configHash: string;
  status: string;
  errorMessage: string | null;
  attempts: number;
  revision: { version: number } | null;
};

async function deliveries(uid: string): Promise<Delivery[]> {
  const r = await fleet.api.get(t(`/agents/${uid}/deliveries`));
  expect(r.status).toBe(200);
  return r.body.items;
}

async function rollout(id: string) {
  const r = await fleet.api.get(t(`/rollouts/${id}`));
  expect(r.status).toBe(200);
  return r.body;
}

const traces = (h: Host) => join(dir, `traces-${h.slot}.json`);

beforeAll(async () => {
  version = await pinnedVersion();
  srv = await startTestServer({
    env: {
      LIVENESS_FLUSH_MS: "200",
      FLEET_EVENTS_POLL_MS: "500",
      HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_SECONDS),
    },
  });
  fleet = await createTenant(srv, "E2E rollout");
  const s = await tempDir("agent-api-e2e-rollout-");
  cleanups.push(s.remove);
  dir = s.dir;
});
afterAll(async () => {
  await stopAllSupervisors();
  await srv?.stop();
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

/**
 * Starts a supervisor and waits until it is the `agents`-th agent of the tenant. A supervisor
 * whose bootstrap collector found localhost:8888 taken (by another collector on this machine)
 * exits; it is started again, up to three times.
 */
async function startEnrolled(slot: string, token: string, agents: number): Promise<Supervisor> {
  for (let attempt = 1; ; attempt++) {
    const sup = new Supervisor({
      binaries: e2eBinaryPaths(version),
      endpoint: fleet.opampUrl,
      token,
      storageDir: join(dir, `supervisor-${slot}`),
    }).start();
    const enrolled = await eventually(
      async () => {
        if (!sup.running) return false;
        const r = await fleet.api.get(t("/agents?limit=10"));
        return r.body.items.length === agents ? true : undefined;
      },
      30_000,
      `agent ${slot} enrolled`,
    );
    if (enrolled) return sup;
    if (attempt === 3) throw new Error(`supervisor ${slot} did not start:\n${await sup.transcript()}`);
    await sup.stop();
  }
}

describe("a rollout with opampsupervisor + collector", () => {
  const hosts: Host[] = [];
  let hashV1: Map<string, string>;

  it("three collectors run revision 1 of a pinned assignment", async () => {
    expect((await fleet.api.put(t("/config-templates/collector"), { content: template() })).status).toBe(201);
    expect(
      (
        await fleet.api.put(t("/assignments/fleet"), {
          selector: "e2e=rollout",
          template: "collector",
          revision: 1,
        })
      ).status,
    ).toBe(201);
    // One after another: while it bootstraps, the supervisor runs the collector with its default
    // own-metrics endpoint (localhost:8888), so two starting at once collide there.
    const ports = new Set<number>();
    for (const slot of ["a", "b", "c"]) {
      let port = await freePort();
      while (ports.has(port)) port = await freePort();
      ports.add(port);
      const { token } = await fleet.enrollmentToken({ labels: { e2e: "rollout", slot, port: String(port) } });
      hosts.push({
        slot,
        port,
        sup: await startEnrolled(slot, token, hosts.length + 1),
        uid: "",
        collectorPid: 0,
      });
    }
    const bySlot = new Map<string, string>(
      (await fleet.api.get(t("/agents?limit=10"))).body.items.map(
        (a: { instanceUid: string; labels: Record<string, string> }) => [a.labels.slot, a.instanceUid],
      ),
    );
    for (const h of hosts) h.uid = bySlot.get(h.slot) ?? "";
    hashV1 = new Map();
    for (const h of hosts) {
      const applied = await eventually(
        async () =>
          (await deliveries(h.uid)).find((d) => d.revision?.version === 1 && d.status === "applied"),
        APPLY_TIMEOUT_MS,
        `revision 1 applied on ${h.slot}`,
      );
      hashV1.set(h.uid, applied.configHash);
      await collectorServes(h.port, traces(h), `before-${h.slot}`);
      h.collectorPid = await eventually(
        async () => (await h.sup.collectorPids())[0],
        10_000,
        "the collector",
      );
    }
  });

  it("a refused canary pauses the rollout by itself; the other collectors keep the old config", async () => {
    const put = await fleet.api.put(t("/config-templates/collector"), {
      content: template("    no_such_setting: true\n"),
    });
    expect(put.status).toBe(201);
    const before = new Map(
      await Promise.all(hosts.map(async (h) => [h.uid, await deliveries(h.uid)] as const)),
    );
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 2,
      strategy: STRATEGY,
    });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({
      fromRevision: 1,
      toRevision: 2,
      population: 3,
      waveTargets: [1, 3],
    });
    const id: string = started.body.id;

    const paused = await eventually(
      async () => {
        const r = await rollout(id);
        return r.state === "paused" ? r : undefined;
      },
      APPLY_TIMEOUT_MS,
      "the rollout to pause itself",
    );
    expect(paused.reason).toMatch(/more than maxFailures \(0\)/);
    expect(paused.reason).toMatch(/FAILED/);
    expect(paused.reason).toMatch(/no_such_setting/);
    expect(paused.counts).toMatchObject({ failed: 1, pending: 2, inProgress: 0, succeeded: 0 });
    const failed = (await fleet.api.get(t(`/rollouts/${id}/agents?state=failed`))).body.items;
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ canary: true, reason: expect.stringMatching(/no_such_setting/) });
    const canary = hosts.find((h) => h.uid === failed[0].instanceUid) as Host;
    const others = hosts.filter((h) => h !== canary);
    const canaryDelivery = (await deliveries(canary.uid)).find((d) => d.revision?.version === 2);
    expect(canaryDelivery).toMatchObject({
      status: "failed",
      errorMessage: expect.stringMatching(/validation/),
    });

    // Longer than the bake and several driver ticks: the rollout stays paused, nobody else moves.
    await new Promise((r) => setTimeout(r, (STRATEGY.bakeSeconds + HEARTBEAT_SECONDS) * 1000));
    expect((await rollout(id)).state).toBe("paused");
    for (const h of others) {
      const now = await deliveries(h.uid);
      const was = before.get(h.uid)?.map((d) => [d.id, d.status, d.attempts]);
      expect(now.map((d) => [d.id, d.status, d.attempts])).toEqual(was);
      expect(now.map((d) => d.revision?.version)).toEqual([1]);
      const view = (await fleet.api.get(t(`/agents/${h.uid}`))).body;
      expect(view.remoteConfigStatus).toMatchObject({
        status: "APPLIED",
        lastRemoteConfigHash: hashV1.get(h.uid),
      });
      // The supervisor never heard of the new config: nothing about it in its log.
      expect(h.sup.matching(/no_such_setting/)).toHaveLength(0);
      expect(await h.sup.collectorPids()).toEqual([h.collectorPid]);
      await collectorServes(h.port, traces(h), `paused-${h.slot}`);
    }
    // The canary's collector was left alone by the supervisor's validation.
    expect(await canary.sup.collectorPids()).toEqual([canary.collectorPid]);
    await collectorServes(canary.port, traces(canary), `paused-${canary.slot}`);

    // Abort: the canary gets revision 1 back as a real push, and runs it. Deliveries are one row
    // per (agent, config hash) (DESIGN.md §7), so the push shows on revision 1's row: offered
    // again (one more attempt), then applied; revision 2's row is superseded.
    const v1Before = (await deliveries(canary.uid)).find((d) => d.revision?.version === 1) as Delivery;
    const aborted = await fleet.api.post(t(`/rollouts/${id}/abort`));
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({ state: "aborted", counts: { rolledBack: 1, pending: 2 } });
    const back = await eventually(
      async () =>
        (await deliveries(canary.uid)).find(
          (d) => d.revision?.version === 1 && d.status === "applied" && d.attempts > v1Before.attempts,
        ),
      APPLY_TIMEOUT_MS,
      "revision 1 pushed back to the canary and applied",
    ).catch(async (err) => {
      const view = (await fleet.api.get(t(`/agents/${canary.uid}`))).body;
      throw new Error(
        `${err}\n${JSON.stringify(await deliveries(canary.uid))}\n${JSON.stringify(view.remoteConfigStatus)}\n${await canary.sup.transcript(30)}`,
      );
    });
    expect((await deliveries(canary.uid)).find((d) => d.revision?.version === 2)?.status).toBe("superseded");
    expect(back.configHash).toBe(hashV1.get(canary.uid));
    const view = await eventually(
      async () => {
        const a = (await fleet.api.get(t(`/agents/${canary.uid}`))).body;
        return a.remoteConfigStatus?.lastRemoteConfigHash === hashV1.get(canary.uid) ? a : undefined;
      },
      20_000,
      "the canary reporting revision 1",
    );
    expect(view.remoteConfigStatus.status).toBe("APPLIED");
    await collectorServes(canary.port, traces(canary), `aborted-${canary.slot}`);
    // The others still were sent nothing; the assignment stays at revision 1.
    for (const h of others)
      expect((await deliveries(h.uid)).map((d) => [d.id, d.status, d.attempts])).toEqual(
        before.get(h.uid)?.map((d) => [d.id, d.status, d.attempts]),
      );
    expect((await fleet.api.get(t("/assignments/fleet"))).body.revision).toBe(1);
  });
});
