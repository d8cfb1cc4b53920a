/**
 * Fault 1 of issue 16: PostgreSQL killed (`pg_ctl -m immediate`) while a rollout runs, then
 * started again. The server must say it is not ready, stay alive, keep its agents, answer writes
 * with 503 + Retry-After, and once the database is back: ready again, the rollout carries on
 * from its stored state, no acknowledged write is lost, no agent is sent an older config after
 * a newer one. Then fault 4: SIGTERM with the agents connected.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
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

const AGENTS = 12;
const DOWN_MS = 6_000;

let cluster: PgCluster;
let server: AgentApiProcess;
let fleet: TenantFixture;
let agents: TestAgent[];
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

/** The HTTP answer to a WebSocket upgrade on /v1/opamp with `token`: status and Retry-After. */
function upgradeAnswer(token: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/opamp`, {
      headers: { authorization: `Bearer ${token}` },
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined });
      ws.terminate();
    });
    ws.on("open", () => {
      resolve({ status: 101, retryAfter: undefined });
      ws.close();
    });
    ws.on("error", (err) => reject(err));
  });
}

beforeAll(async () => {
  cluster = await PgCluster.create(await freePort());
  const db = await cluster.createDatabase("faults_outage");
  server = await AgentApiProcess.start({
    name: "solo",
    databaseUrl: cluster.url(db),
    dataDir: runDir("outage-solo"),
    env: { FLEET_EVENTS_POLL_MS: "500", LIVENESS_FLUSH_MS: "500" },
  });
  fleet = await createTenant(server, "Outage");
  await fleet.api.put(t("/config-templates/base"), { content: generation(4317) });
  await fleet.api.put(t("/assignments/fleet"), { selector: "env=prod", template: "base", revision: 1 });
  agents = await connectedFleet(fleet, AGENTS, { env: "prod" });
  await within(15_000, "every agent has generation 4317", () =>
    agents.every((a) => generationsSent(a).includes(4317)) ? true : undefined,
  );
  await fleet.api.put(t("/config-templates/base"), { content: generation(4318) });
});

afterAll(async () => {
  await fleet?.stopAgents();
  await server?.terminate();
  await cluster?.destroy();
});

describe("one server: its database killed mid-rollout, then SIGTERM", () => {
  it("fault 1: stays alive and truthful while the database is down, and finishes the rollout once it is back", async () => {
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "fleet",
      revision: 2,
      strategy: { canary: 2, waves: ["50%", "100%"], bakeSeconds: 2 },
    });
    expect(started.status).toBe(201);
    const id: string = started.body.id;
    await within(30_000, "the canary succeeded", async () => {
      const r = (await fleet.api.get(t(`/rollouts/${id}`))).body;
      return r.counts?.succeeded >= 2 ? r : undefined;
    });

    // Writes keep coming while the database dies and comes back; every acknowledged one must stay.
    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        const name = `w-${n++}`;
        const res = await fleet.api.put(t(`/config-templates/${name}`), { content: generation(5000 + n) });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200 || res.status === 201) acknowledged.push(name);
        await sleep(100);
      }
    })();
    const late = await fleet.enrollmentToken({ labels: { env: "late" } });
    await sleep(1_000);

    const killedAt = Date.now();
    await cluster.killImmediate();
    const notReady = await server.waitReadyz(503, 10_000);
    const healthz = await server.status("/healthz");
    const write = await fleet.api.put(t("/config-templates/during"), { content: generation(6000) });
    const read = await fleet.api.get(t("/rollouts"));
    const upgrade = await upgradeAnswer(late.token);
    await sleep(Math.max(0, DOWN_MS - (Date.now() - killedAt)));
    const connectedWhileDown = agents.filter((a) => a.isConnected).length;
    const connectionsBefore = agents.reduce((s, a) => s + a.connectionCount, 0);

    await cluster.start();
    const restartedAt = Date.now();
    const readyAgain = await server.waitReadyz(200, 30_000);
    await sleep(1_000);
    writing = false;
    await writer;

    const done = await within(60_000, "the rollout completed", async () => {
      const r = (await fleet.api.get(t(`/rollouts/${id}`))).body;
      return r.state === "completed" ? r : undefined;
    });
    const completedAfterRestartMs = Date.now() - restartedAt;
    await within(10_000, "every agent has generation 4318", () =>
      agents.every((a) => generationsSent(a).at(-1) === 4318) ? true : undefined,
    );
    const lost: string[] = [];
    for (const name of acknowledged)
      if ((await fleet.api.get(t(`/config-templates/${name}`))).status !== 200) lost.push(name);
    const back = wentBack(agents);
    const reconnects = agents.reduce((s, a) => s + a.connectionCount, 0) - connectionsBefore;
    const server5xx = [...statuses].filter(([s]) => s >= 500 && s !== 503).reduce((s, [, c]) => s + c, 0);

    recordFault({
      id: "1",
      fault: "PostgreSQL killed mid-rollout",
      done: `pg_ctl -m immediate during a rollout over ${AGENTS} WebSocket agents (canary 2, waves 50/100 %, 2 s bake), down ${DOWN_MS / 1000} s, a write every 100 ms throughout`,
      criterion:
        "/readyz 503 ≤ 10 s, /healthz 200, agents connected, writes, reads and new OpAMP connections 503 + Retry-After; back: /readyz 200 ≤ 30 s, rollout completes, no acknowledged write lost, no agent sent an older config after a newer one",
      seen: `/readyz 503 after ${notReady} ms, 200 ${readyAgain} ms after restart; ${connectedWhileDown}/${AGENTS} agents connected while down; write ${write.status} (Retry-After ${write.headers.get("retry-after")}), read ${read.status}, new OpAMP connection ${upgrade.status} (Retry-After ${upgrade.retryAfter}); rollout completed ${completedAfterRestartMs} ms after restart; ${acknowledged.length} writes acknowledged, ${lost.length} lost; ${back.length} agents went back; ${server5xx} answers 5xx other than 503`,
      figures: {
        "readyz 503 after kill (ms)": notReady,
        "readyz 200 after restart (ms)": readyAgain,
        "healthz while down": healthz,
        "agents connected while down": `${connectedWhileDown}/${AGENTS}`,
        "write while down": `${write.status}, Retry-After ${write.headers.get("retry-after")}, ${write.headers.get("content-type")}`,
        "read while down": read.status,
        "new OpAMP connection while down": `${upgrade.status}, Retry-After ${upgrade.retryAfter}`,
        "write answers by status": [...statuses].map(([s, c]) => `${s}×${c}`).join(", "),
        "acknowledged writes / lost": `${acknowledged.length} / ${lost.length}`,
        "rollout completed after restart (ms)": completedAfterRestartMs,
        "rollout counts": JSON.stringify(done.value.counts),
        "agent reconnects": reconnects,
        "agents sent an older config after a newer one": back.length,
      },
      pass:
        healthz === 200 &&
        connectedWhileDown === AGENTS &&
        write.status === 503 &&
        read.status === 503 &&
        upgrade.status === 503 &&
        lost.length === 0 &&
        back.length === 0 &&
        server5xx === 0,
    });

    expect(healthz).toBe(200);
    expect(connectedWhileDown).toBe(AGENTS);
    expect(write.status).toBe(503);
    expect(write.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(write.headers.get("content-type")).toContain("application/problem+json");
    expect(write.body).toMatchObject({ code: "unavailable", status: 503 });
    expect(read.status).toBe(503);
    expect(upgrade).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
    expect(server5xx).toBe(0);
    expect(lost).toEqual([]);
    expect(back).toEqual([]);
    expect(done.value.counts).toMatchObject({ succeeded: AGENTS, failed: 0, pending: 0 });
    expect((await fleet.api.get(t("/config-templates/during"))).status).toBe(404);
  });

  it("fault 4: drains on SIGTERM with its agents connected, and exits 0 within the grace period", async () => {
    const connected = agents.filter((x) => x.isConnected).length;
    const closesBefore = agents.reduce((s, x) => s + x.serverCloses.length, 0);
    const exit = await server.terminate();
    const closed = agents.reduce((s, x) => s + x.serverCloses.length, 0) - closesBefore;
    const stopped = server.log().includes('"msg":"stopped"');
    recordFault({
      id: "4",
      fault: "SIGTERM drain",
      done: `SIGTERM to the server with ${connected} WebSocket agents connected (SHUTDOWN_GRACE_MS=3000); also test/integration/process.test.ts, platform.test.ts, opamp-throttling.test.ts in npm test`,
      criterion:
        "exit code 0 well within the 25 s deadline, every agent's connection closed by the server, 'stopped' logged",
      seen: `exit ${exit.code} after ${exit.ms} ms; ${closed}/${connected} connections closed by the server; stopped logged: ${stopped}`,
      figures: {
        "exit code": String(exit.code),
        "SIGTERM to exit (ms)": exit.ms,
        "connections closed by the server": `${closed}/${connected}`,
      },
      pass: exit.code === 0 && exit.ms < 25_000 && stopped,
    });
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeLessThan(25_000);
    expect(stopped).toBe(true);
    expect(closed).toBeGreaterThanOrEqual(connected);
  });
});
