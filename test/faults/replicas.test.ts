/**
 * Faults 6, 7 and 5 of issue 16, on two replicas sharing one throwaway cluster behind a
 * balancer without stickiness (harness/balancers.ts):
 * 6. the LISTEN connections killed: changes still arrive within the events poll interval, and
 *    the listeners come back;
 * 7. plain-HTTP polling agents whose polls land on alternate replicas get their configs, and
 *    their stored state agrees with what they run;
 * 5. one replica SIGKILLed: its agents reconnect to the other and get their configs, and a
 *    rollout it was driving carries on once its lease expires.
 * In this order: the last one kills a replica.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { Balancer } from "./harness/balancers.js";
import { PgCluster } from "./harness/cluster.js";
import {
  connectedFleet,
  freePort,
  generation,
  generationsSent,
  sleep,
  wentBack,
  within,
} from "./harness/fleet.js";
import { recordFault, runDir } from "./harness/report.js";
import { AgentApiProcess } from "./harness/server-process.js";

const POLL_MS = 1_500;

let cluster: PgCluster;
let lb: Balancer;
let a: AgentApiProcess;
let b: AgentApiProcess;
let fleet: TenantFixture;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

/** ms until every agent's last config is `gen` (checked every 20 ms). */
async function arrival(agents: TestAgent[], gen: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (agents.every((x) => generationsSent(x).at(-1) === gen)) return Date.now() - started;
    await sleep(20);
  }
  throw new Error(`not every agent got generation ${gen} within ${timeoutMs} ms`);
}

/** The replica (by REPLICA_ID) each agent's row says holds it. */
async function holders(agents: TestAgent[]): Promise<Map<string, string>> {
  const rows = await cluster.sql<{ instance_uid: string; replica_id: string | null }>(
    "SELECT instance_uid::text, replica_id FROM agents",
    [],
    "faults_replicas",
  );
  const uids = new Set(agents.map((x) => x.instanceUidString));
  return new Map(
    rows.filter((r) => uids.has(r.instance_uid)).map((r) => [r.instance_uid, r.replica_id ?? ""]),
  );
}

beforeAll(async () => {
  cluster = await PgCluster.create(await freePort());
  const db = await cluster.createDatabase("faults_replicas");
  lb = await Balancer.start();
  const env = {
    PUBLIC_OPAMP_URL: `ws://127.0.0.1:${lb.port}/v1/opamp`,
    FLEET_EVENTS_POLL_MS: String(POLL_MS),
    LIVENESS_FLUSH_MS: "500",
  };
  a = await AgentApiProcess.start({
    name: "replica-a",
    databaseUrl: cluster.url(db),
    dataDir: runDir("replica-a"),
    env,
  });
  b = await AgentApiProcess.start({
    name: "replica-b",
    databaseUrl: cluster.url(db),
    dataDir: runDir("replica-b"),
    env,
    operatorKey: a.operatorKey,
  });
  lb.backends = [a.port, b.port];
  fleet = await createTenant(
    { url: `http://127.0.0.1:${lb.port}`, port: lb.port, operatorKey: a.operatorKey },
    "Replicas",
  );
});

afterAll(async () => {
  await fleet?.stopAgents();
  await a?.terminate();
  await b?.terminate();
  await lb?.stop();
  await cluster?.destroy();
});

describe("two replicas behind a balancer", () => {
  it("fault 6: with the LISTEN connections killed, changes arrive by the poll, and LISTEN comes back", async () => {
    await fleet.api.put(t("/config-templates/listen"), { content: generation(4500) });
    await fleet.api.put(t("/assignments/listen"), { selector: "fault=listen", template: "listen" });
    const agents = await connectedFleet(fleet, 8, { fault: "listen" });
    await arrival(agents, 4500, 10_000);
    const spread = new Set((await holders(agents)).values());

    // A baseline change with NOTIFY working.
    await fleet.api.put(t("/config-templates/listen"), { content: generation(4501) });
    const withNotify = await arrival(agents, 4501, 10_000);

    const killed = await cluster.terminateBackends("agent-api-listen");
    await fleet.api.put(t("/config-templates/listen"), { content: generation(4502) });
    const withoutListen = await arrival(agents, 4502, POLL_MS + 5_000);
    const back = await within(10_000, "both LISTEN connections are back", async () =>
      (await cluster.backends("agent-api-listen")).length >= 2 ? true : undefined,
    );
    await fleet.api.put(t("/config-templates/listen"), { content: generation(4503) });
    const afterReconnect = await arrival(agents, 4503, 10_000);
    const went = wentBack(agents);

    recordFault({
      id: "6",
      fault: "LISTEN connection killed",
      done: `pg_terminate_backend on both replicas' LISTEN connections (${killed} killed), then a template change for 8 WebSocket agents spread over ${spread.size} replicas; FLEET_EVENTS_POLL_MS=${POLL_MS}`,
      criterion: `every agent has the change within the poll interval (+ 1 s); the LISTEN connections come back; no agent sent an older config`,
      seen: `change arrived everywhere in ${withoutListen} ms without LISTEN (${withNotify} ms with it); LISTEN back after ${back.ms} ms, next change in ${afterReconnect} ms; ${went.length} agents went back`,
      figures: {
        "LISTEN backends killed": killed,
        "replicas holding the agents": spread.size,
        "change to every agent, NOTIFY working (ms)": withNotify,
        "change to every agent, LISTEN killed (ms)": withoutListen,
        "LISTEN reconnected after (ms)": back.ms,
        "change to every agent after the reconnect (ms)": afterReconnect,
      },
      pass: killed >= 2 && withoutListen <= POLL_MS + 1_000 && went.length === 0,
    });
    expect(killed).toBeGreaterThanOrEqual(2);
    expect(withoutListen).toBeLessThanOrEqual(POLL_MS + 1_000);
    expect(went).toEqual([]);
    await fleet.stopAgents();
  });

  it("fault 7: plain-HTTP agents polling alternate replicas get their configs, and the state agrees", async () => {
    await fleet.api.put(t("/config-templates/poll"), { content: generation(4600) });
    await fleet.api.put(t("/assignments/poll"), { selector: "fault=poll", template: "poll" });
    const servedBefore = new Map(lb.served);
    const agents = await connectedFleet(
      fleet,
      6,
      { fault: "poll" },
      { url: `http://127.0.0.1:${lb.port}/v1/opamp`, pollIntervalMs: 250 },
    );
    const first = await arrival(agents, 4600, 15_000);
    await fleet.api.put(t("/config-templates/poll"), { content: generation(4601) });
    const change = await arrival(agents, 4601, 15_000);
    await sleep(1_500);
    const views = await Promise.all(
      agents.map(async (x) => (await fleet.api.get(t(`/agents/${x.instanceUidString}`))).body),
    );
    const consistent = views.filter(
      (v) => v.status === "online" && v.drift === false && v.runningConfig,
    ).length;
    const polls = [a.port, b.port].map((p) => (lb.served.get(p) ?? 0) - (servedBefore.get(p) ?? 0));
    const went = wentBack(agents);
    const refused = agents.reduce((s, x) => s + x.refusals.length, 0);

    recordFault({
      id: "7",
      fault: "Plain-HTTP polls on alternate replicas",
      done: "6 plain-HTTP agents polling every 250 ms through a balancer that sends each request to the other replica; a first config, then a change",
      criterion:
        "every agent gets both configs; each shows online, its running config, no drift; no refused poll; no agent sent an older config",
      seen: `first config on every agent ${first} ms after enrollment settled, the change in ${change} ms; ${consistent}/6 online without drift; requests per replica ${polls.join(" / ")}; ${refused} refused; ${went.length} went back`,
      figures: {
        "first config to every agent after enrollment settled (ms)": first,
        "change to every agent (ms)": change,
        "agents online, running their config, no drift": `${consistent}/6`,
        "requests per replica (a / b)": polls.join(" / "),
        "refused polls": refused,
      },
      pass: consistent === 6 && refused === 0 && went.length === 0 && polls.every((p) => p > 0),
    });
    expect(polls.every((p) => p > 0)).toBe(true);
    expect(refused).toBe(0);
    expect(went).toEqual([]);
    expect(consistent).toBe(6);
    await fleet.stopAgents();
  });

  it("fault 5: one replica SIGKILLed: its agents move to the other, and its rollout carries on", async () => {
    await fleet.api.put(t("/config-templates/kill"), { content: generation(4700) });
    await fleet.api.put(t("/assignments/kill"), { selector: "fault=kill", template: "kill", revision: 1 });
    const agents = await connectedFleet(fleet, 12, { fault: "kill" });
    await arrival(agents, 4700, 15_000);
    await fleet.api.put(t("/config-templates/kill"), { content: generation(4701) });
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "kill",
      revision: 2,
      strategy: { canary: 2, waves: ["50%", "100%"], bakeSeconds: 3 },
    });
    expect(started.status).toBe(201);
    const id: string = started.body.id;
    await within(30_000, "the canary succeeded", async () => {
      const r = (await fleet.api.get(t(`/rollouts/${id}`))).body;
      return r.counts?.succeeded >= 2 ? r : undefined;
    });
    const [lease] = await cluster.sql<{ lease_owner: string | null }>(
      "SELECT lease_owner FROM rollouts WHERE id = $1",
      [id],
      "faults_replicas",
    );
    const driver = lease?.lease_owner === "replica-b" ? b : a;
    const survivor = driver === a ? b : a;
    const held = [...(await holders(agents)).values()].filter((r) => r === driver.name).length;

    const killedAt = Date.now();
    await driver.kill();
    lb.backends = [survivor.port, driver.port]; // the dead one refuses; the balancer skips it
    const moved = await within(20_000, "every agent is connected again", () =>
      agents.every((x) => x.isConnected) ? true : undefined,
    );
    const done = await within(60_000, "the rollout completed on the survivor", async () => {
      const r = (await fleet.api.get(t(`/rollouts/${id}`))).body;
      return r.state === "completed" ? r : undefined;
    });
    const completedMs = Date.now() - killedAt;
    const allTarget = await arrival(agents, 4701, 10_000);
    // A change after the kill reaches everyone through the survivor.
    await fleet.api.put(t("/config-templates/kill"), { content: generation(4702) });
    await fleet.api.put(t("/assignments/kill"), { selector: "fault=kill", template: "kill", revision: 3 });
    const afterKill = await arrival(agents, 4702, 10_000);
    const nowHeld = new Set((await holders(agents)).values());
    const went = wentBack(agents);

    recordFault({
      id: "5",
      fault: "SIGKILL of one of two replicas",
      done: `12 WebSocket agents over two replicas (${held} on the killed one), a rollout (canary 2, waves 50/100 %, 3 s bake) driven by the killed one; SIGKILL after the canary`,
      criterion:
        "its agents reconnect to the other replica and get their configs; the rollout completes on the survivor after the lease (15 s) expires; no agent sent an older config",
      seen: `all agents connected again after ${moved.ms} ms; rollout completed ${completedMs} ms after the kill (${JSON.stringify(done.value.counts)}); a later change reached all in ${afterKill} ms; agents now held by ${[...nowHeld].join(", ")}; ${went.length} went back`,
      figures: {
        "agents on the killed replica": held,
        "every agent reconnected after (ms)": moved.ms,
        "rollout completed after the kill (ms)": completedMs,
        "target on every agent (ms after completion)": allTarget,
        "change after the kill to every agent (ms)": afterKill,
        "agents sent an older config after a newer one": went.length,
      },
      pass: done.value.counts.succeeded === 12 && went.length === 0 && !nowHeld.has(driver.name),
    });
    expect(done.value.counts).toMatchObject({ succeeded: 12, failed: 0 });
    expect(went).toEqual([]);
    expect(nowHeld.has(driver.name)).toBe(false);
  });
});
