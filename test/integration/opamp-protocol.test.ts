import { create } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentToServerSchema } from "../../src/gen/opamp/v1/opamp_pb.js";
import { encodeAgentToServerFrame } from "../../src/opamp/codec.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { SUPERVISOR_CAPABILITIES, uuidV7 } from "../helpers/opamp/agent-wire.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const agent = (opts: Parameters<TenantFixture["agent"]>[0]) => fleet.agent(opts);
const enrolled = (opts?: Parameters<TenantFixture["enrolledAgent"]>[0]) => fleet.enrolledAgent(opts);

async function getAgent(uid: string) {
  return (await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${uid}`)).body;
}

beforeAll(async () => {
  srv = await startTestServer({
    env: { LIVENESS_FLUSH_MS: "100", FLEET_EVENTS_POLL_MS: "500", HEARTBEAT_INTERVAL_SECONDS: "1" },
  });
  fleet = await createTenant(srv, "Protocol");
});
afterEach(() => fleet.stopAgents());
afterAll(() => srv?.stop());

describe("OpAMP message handling", () => {
  it("answers every message, with capabilities in the first reply of each connection only", async () => {
    const a = await enrolled();
    const sentBefore = a.sent.length;
    const receivedBefore = a.received.length;
    for (let i = 0; i < 5; i++) await a.heartbeat();
    await a.settle();
    expect(a.sent.length - sentBefore).toBe(5);
    const replies = a.received.slice(receivedBefore);
    expect(replies).toHaveLength(5);
    for (const r of replies) {
      expect(r.capabilities).toBe(0n);
      expect(Buffer.from(r.instanceUid).equals(Buffer.from(a.instanceUid))).toBe(true);
    }
    // Capabilities once per connection (enrollment, then the agent key).
    expect(a.received.filter((r) => r.capabilities === 0x27n)).toHaveLength(2);
  });

  it("merges status: an omitted facet keeps its stored value, a reported one replaces it", async () => {
    const a = await enrolled();
    await a.reportHealth({
      healthy: true,
      status: "StatusOK",
      startTimeUnixNano: 1_700_000_000_000_000_000n,
    });
    await a.heartbeat();
    let view = await getAgent(a.instanceUidString);
    expect(view.health).toMatchObject({
      healthy: true,
      status: "StatusOK",
      startTimeUnixNano: "1700000000000000000",
    });
    expect(view.description.identifying["service.name"]).toBe("otelcol-contrib");
    await a.reportEffectiveConfig("receivers:\n  otlp: {}\n");
    view = await getAgent(a.instanceUidString);
    expect(view.health.status).toBe("StatusOK");
    const detail = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${a.instanceUidString}`);
    expect(detail.body.effectiveConfig.files[""].body).toBe("receivers:\n  otlp: {}\n");
  });

  it("does not ask for the full state after a sequence gap when it holds every facet", async () => {
    const a = await enrolled({ effectiveConfig: "receivers:\n  otlp: {}\n" });
    const next = a.nextSequenceNum ?? 0n;
    const skipped = await a.send({ sequenceNum: next + 5n });
    expect(skipped.flags & 1n).toBe(0n);
  });

  it("asks for the full state after a sequence gap when it lacks a facet the agent reports", async () => {
    // No effective config was ever reported although the agent has ReportsEffectiveConfig.
    const a = await enrolled();
    const next = a.nextSequenceNum ?? 0n;
    const reply = await a.send({ sequenceNum: next + 5n });
    expect(reply.flags & 1n).toBe(1n);
    // And in order, with nothing missing after the full report: no further request.
    await a.reportEffectiveConfig("receivers: {}\n");
    const inOrder = await a.heartbeat();
    expect(inOrder.flags & 1n).toBe(0n);
  });

  it("requests ReportFullState when a reconnecting agent's first message omits state the server lacks", async () => {
    const { token } = await fleet.enrollmentToken();
    const uid = uuidV7();
    const ws = await import("ws");
    const socket = new ws.WebSocket(fleet.opampUrl, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const reply = new Promise<Buffer>((resolve) => socket.once("message", (d) => resolve(d as Buffer)));
    // A delta with seq 7, capabilities with ReportsHealth/ReportsEffectiveConfig, no facets.
    socket.send(
      encodeAgentToServerFrame(
        create(AgentToServerSchema, {
          instanceUid: uid,
          sequenceNum: 7n,
          capabilities: SUPERVISOR_CAPABILITIES,
        }),
      ),
    );
    const { decodeServerToAgent } = await import("../helpers/decode.js");
    const msg = decodeServerToAgent(await reply);
    expect(msg.flags & 1n).toBe(1n);
    socket.close();
  });

  it("keeps an agent without AcceptsOpAMPConnectionSettings connected, without an offer, flagged in the API", async () => {
    const { token } = await fleet.enrollmentToken();
    const caps = SUPERVISOR_CAPABILITIES & ~0x100n;
    const a = agent({ token, capabilities: caps });
    await a.start();
    for (let i = 0; i < 3; i++) await a.heartbeat();
    expect(a.offers).toHaveLength(0);
    expect(a.clientCount).toBe(1);
    const view = await getAgent(a.instanceUidString);
    expect(view).toMatchObject({ status: "online", attention: "needs_accepts_opamp_connection_settings" });
  });

  it("lets a new connection for the same agent replace the old one without marking it offline", async () => {
    const a = await enrolled();
    const key = a.currentToken;
    const second = agent({ token: key, instanceUid: a.instanceUid });
    await second.start();
    const closed = await a.waitForClose(3_000);
    expect(closed.code).toBe(1000);
    await new Promise((r) => setTimeout(r, 300));
    const view = await getAgent(a.instanceUidString);
    expect(view.status).toBe("online");
    await second.heartbeat();
  });

  it("marks an agent offline after about three missed heartbeat intervals", async () => {
    const a = await enrolled();
    await a.heartbeat();
    expect((await getAgent(a.instanceUidString)).status).toBe("online");
    // Stop heartbeating but keep the socket: offline after ~3 × 1 s.
    const view = await eventually(
      async () => {
        const v = await getAgent(a.instanceUidString);
        return v.status === "offline" ? v : undefined;
      },
      8_000,
      "offline",
    );
    expect(view.connection.transport).toBe("websocket");
    await a.heartbeat();
    await eventually(
      async () => ((await getAgent(a.instanceUidString)).status === "online" ? true : undefined),
      3_000,
    );
  });

  it("counts connections, enrollments and messages in /metrics without instance UIDs", async () => {
    const a = await enrolled();
    await a.heartbeat();
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    expect(text).toMatch(
      /agentapi_opamp_connects_total\{transport="websocket",credential="enrollment"\} [1-9]/,
    );
    expect(text).toMatch(/agentapi_opamp_connects_total\{transport="websocket",credential="agent"\} [1-9]/);
    expect(text).toMatch(/agentapi_enrollments_total\{kind="new"\} [1-9]/);
    expect(text).toMatch(/agentapi_opamp_messages_total\{facet="heartbeat"\} [1-9]/);
    expect(text).toMatch(/agentapi_opamp_connected_agents [1-9]/);
    expect(text).toMatch(/agentapi_opamp_message_duration_seconds_count [1-9]/);
    expect(text).not.toContain(a.instanceUidString);
  });
});

describe("plain-HTTP transport", () => {
  it("enrolls, switches to its key and polls, with gzip answers", async () => {
    const { token } = await fleet.enrollmentToken({ labels: { transport: "http" } });
    const a = agent({ token, url: fleet.opampHttpUrl, pollIntervalMs: 100 });
    await a.start();
    await a.waitForConnection(2, 5_000);
    await a.settle();
    expect(a.followedOffers[0]?.destinationEndpoint).toBe(`http://localhost:${srv.port}/v1/opamp`);
    expect(a.currentToken).toMatch(/^xag_/);
    await a.heartbeat();
    expect(a.lastHttpResponse).toEqual({ status: 200, contentEncoding: "gzip" });
    const view = await eventually(async () => {
      const v = await getAgent(a.instanceUidString);
      return v.keyConfirmedAt ? v : undefined;
    });
    expect(view).toMatchObject({
      status: "online",
      labels: { transport: "http" },
      connection: { transport: "http" },
    });
  });
});
