/**
 * A fan-out in many chunks (OPAMP_PUSH_CHUNK=2, so 7 agents make 4 chunks, two planned ahead of
 * the push): every agent gets the new revision exactly once, its rows are written behind the push
 * in order (the old delivery superseded, the new one applied), and nobody is skipped or sent twice.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { configsSent as bodies, collectorConfig } from "../helpers/rollouts.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const agents: TestAgent[] = [];
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

beforeAll(async () => {
  srv = await startTestServer({
    env: { OPAMP_PUSH_CHUNK: "2", LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" },
  });
  fleet = await createTenant(srv, "Chunked fan-out");
  expect(
    (await fleet.api.put(t("/config-templates/chunked"), { content: collectorConfig(4317) })).status,
  ).toBe(201);
  expect(
    (await fleet.api.put(t("/assignments/chunked"), { selector: "env=chunked", template: "chunked" })).status,
  ).toBe(201);
  const { token } = await fleet.enrollmentToken({ labels: { env: "chunked" } });
  for (let i = 0; i < 7; i++) agents.push(new TestAgent({ url: fleet.opampUrl, token }));
  await Promise.all(
    agents.map(async (a) => {
      await a.start();
      await a.waitForConnection(2);
      await a.settle();
    }),
  );
  await eventually(async () => (agents.every((a) => bodies(a).length === 1) ? true : undefined));
}, 60_000);
afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await srv?.stop();
});

describe("a fan-out planned in chunks", () => {
  it("reaches every agent once, with the old delivery superseded and the new one applied", async () => {
    expect(
      (await fleet.api.put(t("/config-templates/chunked"), { content: collectorConfig(4399) })).status,
    ).toBe(201);
    await eventually(async () => (agents.every((a) => bodies(a).length === 2) ? true : undefined));
    for (const a of agents) {
      expect(bodies(a)[1]).toContain("0.0.0.0:4399");
      const history = await eventually(async () => {
        const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
        return r.body.items[0]?.status === "applied" ? r.body.items : undefined;
      });
      expect(
        history.map((d: { revision: { version: number }; status: string }) => [d.revision.version, d.status]),
      ).toEqual([
        [2, "applied"],
        [1, "superseded"],
      ]);
    }
    // Nothing more arrives: each agent was planned in exactly one chunk.
    await new Promise((r) => setTimeout(r, 500));
    expect(agents.map((a) => bodies(a).length)).toEqual(agents.map(() => 2));
  });
});
