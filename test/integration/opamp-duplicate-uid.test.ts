/**
 * Duplicate instance uids (OpAMP spec, "Duplicate instance_uid Detection"): a connection whose uid
 * is live on another connection with another identity is given a new uid through
 * agent_identification and continues as a new agent, and the original keeps its connection, key
 * and config; a supervisor that restarts with its own uid and identity is the same agent; an agent
 * that asks for a uid (RequestInstanceUid) gets one before anything is stored.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgentOptions } from "../helpers/opamp/agent-options.js";
import { instanceUidText } from "../helpers/opamp/agent-wire.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Duplicates");
});
afterEach(async () => fleet.stopAgents());
afterAll(async () => srv?.stop());

const agentPath = (uid: string) => `/api/v1/tenants/${fleet.tenantId}/agents/${uid}`;

/** What the original looks like to an admin: its status, host and keys. */
async function adminView(agent: TestAgent) {
  const res = await fleet.api.get(agentPath(agent.instanceUidString));
  expect(res.status).toBe(200);
  return res.body as {
    status: string;
    description: { nonIdentifying: Record<string, string> };
    keys: { id: string; revokedAt: string | null }[];
  };
}

/** A clone of `original`: same uid (shared persistent state), `token`, another host. */
function cloneOf(
  original: TestAgent,
  token: string,
  host: string,
  options: Partial<TestAgentOptions> = {},
): TestAgent {
  return fleet.agent({
    ...options,
    token,
    instanceUid: original.instanceUid,
    description: {
      identifying: original.descriptionAttributes.identifying,
      nonIdentifying: { ...original.descriptionAttributes.nonIdentifying, "host.name": host },
    },
  });
}

describe("duplicate instance uids", () => {
  it("gives a clone with another host a new uid; it enrolls anew and the original keeps everything", async () => {
    const { token } = await fleet.enrollmentToken();
    const original = fleet.agent({ token });
    await original.start();
    await original.waitForConnection(2);
    await original.settle();
    const before = await adminView(original);
    const sharedUid = original.instanceUidString;

    const clone = cloneOf(original, token, "cloned-vm");
    await clone.start();
    const assigned = await clone.waitFor((m) => m.agentIdentification !== undefined);
    const newUid = instanceUidText(assigned.agentIdentification?.newInstanceUid ?? new Uint8Array());
    expect(newUid).not.toBe(sharedUid);
    expect(newUid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Nothing else comes with the assignment: the clone is nobody yet.
    expect(assigned.connectionSettings).toBeUndefined();
    expect(assigned.remoteConfig).toBeUndefined();
    // It continues under the new uid: enrolled, offered its own key, switched to it.
    await clone.waitForConnection(2);
    await clone.settle();
    expect(clone.instanceUidString).toBe(newUid);
    expect(clone.currentToken).toMatch(/^xag_/);

    const cloneView = await fleet.api.get(agentPath(newUid));
    expect(cloneView.status).toBe(200);
    expect(cloneView.body.description.nonIdentifying["host.name"]).toBe("cloned-vm");
    expect(cloneView.body.description.identifying["service.instance.id"]).toBe(newUid);

    const after = await adminView(original);
    expect(after.status).toBe("online");
    expect(after.description.nonIdentifying["host.name"]).toBe("test-host");
    expect(after.keys).toEqual(before.keys);
    expect(original.serverCloses).toEqual([]);
    expect(original.isConnected).toBe(true);
    // The original still talks under its key, answered as itself.
    const reply = await original.heartbeat();
    expect(reply.errorResponse).toBeUndefined();
  });

  it("treats a supervisor restart with the same uid and identity as the same agent", async () => {
    const agent = await fleet.enrolledAgent();
    const uid = agent.instanceUidString;
    await agent.restart();
    await agent.waitForConnection(4);
    await agent.settle();
    expect(agent.received.some((m) => m.agentIdentification !== undefined)).toBe(false);
    expect(agent.instanceUidString).toBe(uid);
    expect((await adminView(agent)).status).toBe("online");
  });

  it("gives an agent that sets RequestInstanceUid a uid before anything is stored under its own", async () => {
    const { token } = await fleet.enrollmentToken();
    const agent = fleet.agent({ token, requestInstanceUid: true });
    const temporary = agent.instanceUidString;
    await agent.start();
    await agent.waitFor((m) => m.agentIdentification !== undefined);
    await agent.waitForConnection(2);
    await agent.settle();
    expect(agent.instanceUidString).not.toBe(temporary);
    expect((await fleet.api.get(agentPath(temporary))).status).toBe(404);
    expect((await adminView(agent)).status).toBe("online");
    // The flag is cleared once a uid is assigned: no second assignment.
    expect(agent.assignedUids).toHaveLength(1);
  });

  it("refuses the agent key of a live agent presented by another identity", async () => {
    const original = await fleet.enrolledAgent();
    const copy = cloneOf(original, original.currentToken, "copied-memory");
    await copy.start();
    const refusal = await copy.waitFor((m) => m.errorResponse !== undefined);
    expect(refusal.errorResponse?.errorMessage).toMatch(/another agent/);
    expect(refusal.agentIdentification).toBeUndefined();
    const view = await adminView(original);
    expect(view.status).toBe("online");
    expect(view.description.nonIdentifying["host.name"]).toBe("test-host");
    expect(original.serverCloses).toEqual([]);
  });

  it("lets a clone of an agent that is offline take the uid over (nothing is live to protect)", async () => {
    const { token } = await fleet.enrollmentToken();
    const original = fleet.agent({ token });
    await original.start();
    await original.waitForConnection(2);
    await original.settle();
    await original.stop();
    await eventually(async () => ((await adminView(original)).status === "offline" ? true : undefined));
    const clone = cloneOf(original, token, "restored-backup");
    await clone.start();
    await clone.waitForConnection(2);
    await clone.settle();
    expect(clone.received.some((m) => m.agentIdentification !== undefined)).toBe(false);
    expect(clone.instanceUidString).toBe(original.instanceUidString);
  });

  it("gives a plain-HTTP clone a new uid without ending the original's session", async () => {
    const { token } = await fleet.enrollmentToken();
    const original = fleet.agent({ token, url: fleet.opampHttpUrl });
    await original.start();
    await original.waitForConnection(2);
    await original.settle();
    const clone = cloneOf(original, token, "cloned-http", { url: fleet.opampHttpUrl });
    await clone.start();
    await clone.waitFor((m) => m.agentIdentification !== undefined);
    await clone.waitForConnection(2);
    await clone.settle();
    expect(clone.instanceUidString).not.toBe(original.instanceUidString);
    const reply = await original.heartbeat();
    expect(reply.errorResponse).toBeUndefined();
    expect((await adminView(original)).status).toBe("online");
    expect((await fleet.api.get(agentPath(clone.instanceUidString))).status).toBe(200);
  });
});
