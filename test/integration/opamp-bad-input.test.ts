/**
 * Bad input on the OpAMP endpoint (reliability goal 6): every class gets its defined answer, the
 * server keeps serving, and nothing stored changes. Raw `ws` clients and `node:net` sockets stand
 * in where the supervisor-like TestAgent cannot produce the bad input.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { isDeepStrictEqual } from "node:util";
import { gzipSync } from "node:zlib";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { issueToken } from "../../src/credentials/index.js";
import {
  AgentToServerSchema,
  type ComponentHealthSchema,
  ServerErrorResponseType,
  type ServerToAgent,
  ServerToAgentSchema,
} from "../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability, encodeAgentToServerFrame, instanceUidToString } from "../../src/opamp/codec.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgentOptions } from "../helpers/opamp/agent-options.js";
import { SUPERVISOR_CAPABILITIES, uuidV7 } from "../helpers/opamp/agent-wire.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const MAX_MESSAGE_BYTES = 65_536;
const HANDSHAKE_TIMEOUT_MS = 1_000;
const PING_INTERVAL_MS = 400;
const BAD_REQUEST = ServerErrorResponseType.ServerErrorResponseType_BadRequest;

let srv: TestServer;
let fleet: TenantFixture;
let fleetB: TenantFixture;
const agents: TestAgent[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  srv = await startTestServer({
    env: {
      OPAMP_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      OPAMP_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
      OPAMP_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      LIVENESS_FLUSH_MS: "200",
      FLEET_EVENTS_POLL_MS: "500",
    },
  });
  fleet = await createTenant(srv, "Tenant A");
  fleetB = await createTenant(srv, "Tenant B");
});
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
});
afterAll(() => srv?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function agent(opts: Partial<TestAgentOptions> & { token: string }): TestAgent {
  const a = new TestAgent({ url: fleet.opampUrl, ...opts });
  agents.push(a);
  return a;
}

/** An agent that went through both enrollment phases and now runs on its own xag_ key. */
async function enrolledAgent(opts: Partial<TestAgentOptions> & { token: string }): Promise<TestAgent> {
  const a = agent(opts);
  await a.start();
  await a.waitForConnection(2);
  await a.settle();
  expect(a.currentToken).toMatch(/^xag_/);
  return a;
}

// ---- what is stored ------------------------------------------------------------------------------

/** Every row of the tables an OpAMP connection can write. */
async function storedState() {
  // Write what the server batches (heartbeats, token use counts) so that it is not mistaken for
  // a change made by the bad input.
  await srv.ctx.services.agentSessions.flushLiveness();
  const { db } = srv.ctx.database;
  return {
    agents: await db.selectFrom("agents").selectAll().orderBy("tenant_id").orderBy("instance_uid").execute(),
    agentKeys: await db.selectFrom("agent_keys").selectAll().orderBy("id").execute(),
    enrollmentTokens: await db.selectFrom("agent_enrollment_tokens").selectAll().orderBy("id").execute(),
  };
}

/**
 * The stored state once it has stopped changing (the closes of earlier connections are written
 * asynchronously), so that a before/after comparison sees only what the bad input did.
 */
async function settledState(): Promise<Awaited<ReturnType<typeof storedState>>> {
  let last = await storedState();
  for (let i = 0; i < 20; i++) {
    await sleep(100);
    const next = await storedState();
    if (isDeepStrictEqual(next, last)) return next;
    last = next;
  }
  throw new Error("the stored state kept changing");
}

/** WebSocket connects and disconnects the server has counted (its /metrics). */
async function webSocketCounters(): Promise<{ connects: number; disconnects: number }> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const sum = (name: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(`${name}{`) && l.includes('transport="websocket"'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  return {
    connects: sum("agentapi_opamp_connects_total"),
    disconnects: sum("agentapi_opamp_disconnects_total"),
  };
}

/** WebSockets the server holds open now. */
async function openWebSockets(): Promise<number> {
  const { connects, disconnects } = await webSocketCounters();
  return connects - disconnects;
}

/** Waits until the server holds exactly `n` WebSockets. */
async function expectOpenWebSockets(n: number): Promise<void> {
  await eventually(
    async () => ((await openWebSockets()) === n ? true : undefined),
    5_000,
    `${n} open sockets`,
  );
}

/** The server still answers: liveness, and a brand-new agent enrolls and switches to its key. */
async function expectStillServing(): Promise<void> {
  expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  const { token } = await fleet.enrollmentToken();
  const fresh = await enrolledAgent({ token });
  expect(fresh.received.every((m) => m.errorResponse === undefined)).toBe(true);
  await fresh.stop();
}

// ---- raw clients ---------------------------------------------------------------------------------

interface RawConnection {
  ws: WebSocket;
  /** The next ServerToAgent, already received or still to come. */
  reply(timeoutMs?: number): Promise<ServerToAgent>;
  /** The close, with the code and reason the server sent. */
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a WebSocket to /v1/opamp with a bearer token and nothing else (no first message). */
async function openRaw(token: string, url = fleet.opampUrl): Promise<RawConnection> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
  sockets.push(ws);
  const inbox: ServerToAgent[] = [];
  const waiters: ((m: ServerToAgent) => void)[] = [];
  ws.on("message", (data: WebSocket.RawData) => {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
    // Replies are framed as 0x00 + protobuf (opamp-go's WriteWSMessage).
    const msg =
      bytes[0] === 0x00
        ? fromBinary(ServerToAgentSchema, bytes.subarray(1))
        : create(ServerToAgentSchema, { errorResponse: { errorMessage: "reply without 0x00 header" } });
    const waiter = waiters.shift();
    if (waiter) waiter(msg);
    else inbox.push(msg);
  });
  // Write errors after the server closed show up as the close code; nothing to do here.
  ws.on("error", () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once("close", () => reject(new Error("closed before opening")));
  });
  return {
    ws,
    closed,
    reply(timeoutMs = 5_000) {
      const ready = inbox.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no ServerToAgent arrived")), timeoutMs);
        waiters.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
    },
  };
}

/** The answer to a WebSocket upgrade the server refuses (the test fails if it accepts). */
function refusedUpgrade(
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const ws = new WebSocket(fleet.opampUrl, { headers, perMessageDeflate: false });
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
    ws.on("open", () => reject(new Error("the upgrade was accepted")));
    ws.on("error", (err) => reject(err));
  });
}

/** A full first message, as a supervisor sends it, with the given instance_uid. */
function firstMessage(
  instanceUid: Uint8Array,
  extra: { capabilities?: bigint; health?: MessageInitShape<typeof ComponentHealthSchema> } = {},
): MessageInitShape<typeof AgentToServerSchema> {
  return {
    instanceUid,
    sequenceNum: 0n,
    capabilities: SUPERVISOR_CAPABILITIES,
    agentDescription: {
      identifyingAttributes: [
        { key: "service.name", value: { value: { case: "stringValue", value: "otelcol" } } },
      ],
    },
    health: { healthy: true },
    ...extra,
  };
}

function frame(msg: MessageInitShape<typeof AgentToServerSchema>): Uint8Array {
  return encodeAgentToServerFrame(create(AgentToServerSchema, msg));
}

function body(msg: MessageInitShape<typeof AgentToServerSchema>): Uint8Array {
  return toBinary(AgentToServerSchema, create(AgentToServerSchema, msg));
}

/** A ComponentHealth tree `depth` levels deep (real agents nest fewer than ten). */
function nestedHealth(depth: number): MessageInitShape<typeof ComponentHealthSchema> {
  let health: MessageInitShape<typeof ComponentHealthSchema> = { healthy: true };
  for (let i = 0; i < depth; i++) health = { healthy: true, componentHealthMap: { child: health } };
  return health;
}

/** POSTs a plain-HTTP OpAMP request. */
function postOpamp(payload: Uint8Array | string, headers: Record<string, string>): Promise<Response> {
  return fetch(fleet.opampHttpUrl, { method: "POST", headers, body: payload });
}

// ---- tests ---------------------------------------------------------------------------------------

describe("undecodable WebSocket frames", () => {
  const valid = frame(firstMessage(uuidV7()));
  const payload = valid.subarray(1);
  const cases: [string, Uint8Array][] = [
    ["garbage bytes after the header", Buffer.from("00deadbeefcafebabe", "hex")],
    ["garbage bytes without a header", Buffer.alloc(12, 0xff)],
    ["a truncated protobuf", valid.subarray(0, valid.length - 5)],
    ["a non-zero header varint", Buffer.concat([Buffer.from([0x01]), payload])],
    ["a header varint longer than 10 bytes", Buffer.concat([Buffer.alloc(11, 0x80), payload])],
    ["a ComponentHealth tree nested 150 deep", frame(firstMessage(uuidV7(), { health: nestedHealth(150) }))],
    [
      "20,000 nested start-group tags (a group bomb)",
      Buffer.concat([Buffer.of(0x00), Buffer.alloc(20_000, 0x7b)]),
    ],
  ];

  it.each(cases)(
    "answers %s with a BadRequest error_response and keeps the connection open",
    async (_, bad) => {
      const { token } = await fleet.enrollmentToken();
      const baseline = await openWebSockets();
      const before = await settledState();
      const conn = await openRaw(token);

      const started = performance.now();
      conn.ws.send(bad, { binary: true });
      const reply = await conn.reply();
      expect(performance.now() - started).toBeLessThan(500);
      expect(reply.errorResponse?.type).toBe(BAD_REQUEST);
      expect(reply.errorResponse?.errorMessage).toMatch(/^undecodable AgentToServer: /);
      expect(reply.connectionSettings).toBeUndefined();
      expect(reply.remoteConfig).toBeUndefined();
      // The connection keeps answering: the same frame again gets the same answer.
      conn.ws.send(bad, { binary: true });
      expect((await conn.reply()).errorResponse?.type).toBe(BAD_REQUEST);
      expect(conn.ws.readyState).toBe(WebSocket.OPEN);
      conn.ws.close(1000);
      expect((await conn.closed).code).toBe(1000);

      expect(await settledState()).toEqual(before);
      await expectOpenWebSockets(baseline);
      await expectStillServing();
    },
  );
});

describe("WebSocket frames the transport refuses", () => {
  it("closes the connection with 1003 on a text frame", async () => {
    const { token } = await fleet.enrollmentToken();
    const baseline = await openWebSockets();
    const before = await settledState();
    const conn = await openRaw(token);
    conn.ws.send(Buffer.from(frame(firstMessage(uuidV7()))).toString("latin1"), { binary: false });
    expect(await conn.closed).toEqual({ code: 1003, reason: "OpAMP messages must be binary frames" });
    expect(await settledState()).toEqual(before);
    await expectOpenWebSockets(baseline);
    await expectStillServing();
  });

  it("closes the connection with 1009 on a frame over OPAMP_MAX_MESSAGE_BYTES", async () => {
    const { token } = await fleet.enrollmentToken();
    const baseline = await openWebSockets();
    const before = await settledState();
    const conn = await openRaw(token);
    conn.ws.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1), { binary: true });
    expect((await conn.closed).code).toBe(1009);
    expect(await settledState()).toEqual(before);
    await expectOpenWebSockets(baseline);
    await expectStillServing();
  });

  it("closes the connection with 1008 when a client streams 100,000 one-byte fragments", async () => {
    const { token } = await fleet.enrollmentToken();
    const baseline = await openWebSockets();
    const before = await settledState();
    const conn = await openRaw(token);
    // One message in 100,000 continuation frames; the server allows 16,384 per message.
    const tiny = Buffer.of(0x00);
    for (let i = 0; i < 100_000; i++) conn.ws.send(tiny, { binary: true, fin: false });
    conn.ws.send(tiny, { binary: true, fin: true });
    expect((await conn.closed).code).toBe(1008);
    expect(await settledState()).toEqual(before);
    await expectOpenWebSockets(baseline);
    await expectStillServing();
  });

  it("closes a WebSocket that sends no AgentToServer within OPAMP_HANDSHAKE_TIMEOUT_MS with 1008", async () => {
    const { token } = await fleet.enrollmentToken();
    const baseline = await openWebSockets();
    const before = await settledState();
    const started = performance.now();
    const conn = await openRaw(token);
    const closed = await conn.closed;
    const elapsed = performance.now() - started;
    expect(closed).toEqual({ code: 1008, reason: "no AgentToServer received in time" });
    expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 2_000);
    expect(await settledState()).toEqual(before);
    await expectOpenWebSockets(baseline);
    await expectStillServing();
  });
});

describe("instance_uid", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  it.each([
    ["missing", new Uint8Array()],
    ["8 bytes", new Uint8Array(8).fill(1)],
    ["17 bytes", new Uint8Array(17).fill(1)],
    ["26 characters outside the ULID alphabet", text("01ARZ3NDEKTSV4RRFFQ69G5FAU")],
    ["26 ULID characters over 128 bits", text("81ARZ3NDEKTSV4RRFFQ69G5FAV")],
  ])("answers an instance_uid that is %s with BadRequest and stores nothing", async (_, uid) => {
    const { token, id } = await fleet.enrollmentToken();
    const before = await settledState();
    const conn = await openRaw(token);
    conn.ws.send(frame(firstMessage(uid)), { binary: true });
    const reply = await conn.reply();
    expect(reply.errorResponse?.type).toBe(BAD_REQUEST);
    expect(reply.errorResponse?.errorMessage).toMatch(/instance_uid must be 16 bytes/);
    expect(reply.connectionSettings).toBeUndefined();
    expect(reply.capabilities).toBe(0n);
    conn.ws.close(1000);
    await conn.closed;
    const after = await settledState();
    expect(after).toEqual(before);
    // The enrollment token was not spent.
    expect(after.enrollmentTokens.find((t) => t.id === id)?.use_count).toBe(0);
    await expectStillServing();
  });

  it("accepts a 26-character ULID instance_uid from an old client and stores it as the UUID of its 16 bytes", async () => {
    // ULID 01ARZ3NDEKTSV4RRFFQ69G5FAV is the 128-bit value 0x01563e3ab5d3d6764c61efb99302bd5b.
    const ulid = text("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    const uuid = "01563e3a-b5d3-d676-4c61-efb99302bd5b";
    const { token, id } = await fleet.enrollmentToken();
    const conn = await openRaw(token);
    conn.ws.send(frame(firstMessage(ulid, { capabilities: AgentCapability.ReportsStatus })), {
      binary: true,
    });
    const reply = await conn.reply();
    expect(reply.errorResponse).toBeUndefined();
    expect(new Uint8Array(reply.instanceUid)).toEqual(ulid);
    expect(reply.capabilities).toBe(0x27n);
    const got = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${uuid}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ instanceUid: uuid, status: "online" });
    const rows = await srv.ctx.database.db
      .selectFrom("agents")
      .select(["instance_uid", "enrollment_token_id"])
      .where("tenant_id", "=", fleet.tenantId)
      .where("instance_uid", "=", uuid)
      .execute();
    expect(rows).toEqual([{ instance_uid: uuid, enrollment_token_id: id }]);
    conn.ws.send(frame({ instanceUid: ulid, sequenceNum: 1n, agentDisconnect: {} }), { binary: true });
    expect((await conn.reply()).errorResponse).toBeUndefined();
    conn.ws.close(1000);
    await eventually(async () => {
      const r = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${uuid}`);
      return r.body.status === "offline" ? true : undefined;
    });
  });
});

describe("credentials and identity", () => {
  it("rejects an xag_ key presented with another agent's instance_uid, and stores nothing for either agent", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = await enrolledAgent({ token });
    const b = await enrolledAgent({ token });
    const keyOfA = a.currentToken;
    await a.stop();
    await b.stop();
    const before = await settledState();

    const impostor = agent({ token: keyOfA, instanceUid: b.instanceUid });
    await impostor.start();
    const first = impostor.received[0];
    expect(first?.errorResponse?.type).toBe(BAD_REQUEST);
    expect(first?.errorResponse?.errorMessage).toMatch(/belongs to another instance_uid/);
    expect(first?.connectionSettings).toBeUndefined();
    expect(first?.remoteConfig).toBeUndefined();
    // The connection stays refused: later messages get the same answer.
    expect((await impostor.heartbeat()).errorResponse?.errorMessage).toMatch(
      /belongs to another instance_uid/,
    );
    await impostor.stop();
    expect(await settledState()).toEqual(before);

    // A's key still works for A.
    const back = agent({ token: keyOfA, instanceUid: a.instanceUid });
    await back.start();
    expect(back.received[0]?.errorResponse).toBeUndefined();
    await expectStillServing();
  });

  it("enrolls a separate agent in tenant B when B's token presents tenant A's instance_uid, leaving A's agent untouched", async () => {
    const a = await enrolledAgent({ token: (await fleet.enrollmentToken()).token });
    const uid = a.instanceUidString;
    const tenantRows = async (tenantId: string) => {
      const { db } = srv.ctx.database;
      return {
        agents: await db
          .selectFrom("agents")
          .selectAll()
          .where("tenant_id", "=", tenantId)
          .orderBy("instance_uid")
          .execute(),
        agentKeys: await db
          .selectFrom("agent_keys")
          .selectAll()
          .where("tenant_id", "=", tenantId)
          .orderBy("id")
          .execute(),
        tokens: await db
          .selectFrom("agent_enrollment_tokens")
          .selectAll()
          .where("tenant_id", "=", tenantId)
          .orderBy("id")
          .execute(),
      };
    };
    await settledState();
    const beforeA = await tenantRows(fleet.tenantId);

    const b = await enrolledAgent({
      url: fleetB.opampUrl,
      token: (await fleetB.enrollmentToken()).token,
      instanceUid: a.instanceUid,
    });
    expect(b.received.every((m) => m.errorResponse === undefined)).toBe(true);

    expect(await tenantRows(fleet.tenantId)).toEqual(beforeA);
    const owners = await srv.ctx.database.db
      .selectFrom("agents")
      .select("tenant_id")
      .where("instance_uid", "=", uid)
      .execute();
    expect(owners.map((r) => r.tenant_id).sort()).toEqual([fleet.tenantId, fleetB.tenantId].sort());
    const inB = await fleetB.api.get(`/api/v1/tenants/${fleetB.tenantId}/agents/${uid}`);
    expect(inB.status).toBe(200);
    expect(inB.body.keys).toHaveLength(1);
    // A's connection was neither replaced nor closed, and A's own view is its own.
    expect(a.serverCloses).toEqual([]);
    expect((await a.heartbeat()).errorResponse).toBeUndefined();
    const inA = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${uid}`);
    expect(inA.body.keys.map((k: { id: string }) => k.id).sort()).toEqual(
      beforeA.agentKeys.filter((k) => k.instance_uid === uid).map((k) => k.id),
    );
    expect(inA.body.status).toBe("online");
  });

  const refusedTokens: [string, () => Promise<string>][] = [
    [
      "revoked",
      async () => {
        const t = await fleet.enrollmentToken();
        expect(
          (await fleet.api.delete(`/api/v1/tenants/${fleet.tenantId}/enrollment-tokens/${t.id}`)).status,
        ).toBe(200);
        return t.token;
      },
    ],
    [
      "expired",
      async () => {
        const expiresAt = Date.now() + 1_000;
        const t = await fleet.enrollmentToken({ expiresAt: new Date(expiresAt).toISOString() });
        await sleep(expiresAt - Date.now() + 50);
        return t.token;
      },
    ],
    [
      "exhausted",
      async () => {
        const t = await fleet.enrollmentToken({ maxUses: 1 });
        const first = await enrolledAgent({ token: t.token });
        await first.stop();
        return t.token;
      },
    ],
  ];

  it.each(refusedTokens)(
    "answers an upgrade with an enrollment token that is %s with 401, before any WebSocket exists",
    async (_, tokenFor) => {
      const token = await tokenFor();
      const counters = await webSocketCounters();
      const before = await settledState();
      const answer = await refusedUpgrade({ Authorization: `Bearer ${token}` });
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="agent-api"');
      // What the supervisor sees: a refused connection, not an accepted-then-closed one.
      await expect(agent({ token }).start()).rejects.toMatchObject({ status: 401 });
      expect(await webSocketCounters()).toEqual(counters);
      expect(await settledState()).toEqual(before);
      await expectStillServing();
    },
  );

  const badAuthorization: [string, () => Record<string, string>][] = [
    ["no Authorization header", () => ({})],
    ["a Basic Authorization header", () => ({ Authorization: "Basic dXNlcjpwYXNzd29yZA==" })],
    ["a bare token without Bearer", () => ({ Authorization: issueToken("enrollment").plaintext })],
    ["Bearer with nothing after it", () => ({ Authorization: "Bearer" })],
    ["an xse_ token with a wrong checksum", () => ({ Authorization: `Bearer xse_${"A".repeat(38)}` })],
    [
      "a well-formed xse_ token nobody issued",
      () => ({ Authorization: `Bearer ${issueToken("enrollment").plaintext}` }),
    ],
    [
      "a well-formed xag_ key nobody issued",
      () => ({ Authorization: `Bearer ${issueToken("agent").plaintext}` }),
    ],
    ["the operator's admin key", () => ({ Authorization: `Bearer ${srv.operatorKey}` })],
  ];

  it.each(badAuthorization)("answers an upgrade with %s with 401", async (_, headers) => {
    const counters = await webSocketCounters();
    const before = await settledState();
    const answer = await refusedUpgrade(headers());
    expect(answer.status).toBe(401);
    expect(answer.headers["www-authenticate"]).toBe('Bearer realm="agent-api"');
    expect(await webSocketCounters()).toEqual(counters);
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });

  it("answers an upgrade to something other than WebSocket with 400", async () => {
    const { token } = await fleet.enrollmentToken();
    const before = await settledState();
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(fleet.opampHttpUrl, {
        headers: { Connection: "Upgrade", Upgrade: "h2c", Authorization: `Bearer ${token}` },
      });
      req.on("response", resolve);
      req.on("upgrade", () => reject(new Error("the server switched protocols")));
      req.on("error", reject);
      req.end();
    });
    res.resume();
    expect(res.statusCode).toBe(400);
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });
});

describe("plain-HTTP transport", () => {
  const protobuf = (token: string) => ({
    "Content-Type": "application/x-protobuf",
    Authorization: `Bearer ${token}`,
  });

  it("answers an undecodable body with 400", async () => {
    const { token } = await fleet.enrollmentToken();
    const before = await settledState();
    const garbage = await postOpamp(Buffer.from("deadbeefcafebabe", "hex"), protobuf(token));
    expect(garbage.status).toBe(400);
    expect(await garbage.text()).toMatch(/^undecodable AgentToServer/);
    // A WebSocket frame (0x00 header) is not a plain-HTTP body.
    const framed = await postOpamp(frame(firstMessage(uuidV7())), protobuf(token));
    expect(framed.status).toBe(400);
    await framed.text();
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });

  it("answers a body over OPAMP_MAX_MESSAGE_BYTES with 413, also when it only gets there after gunzip", async () => {
    const { token } = await fleet.enrollmentToken();
    const before = await settledState();
    const big = await postOpamp(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x0a), protobuf(token));
    expect(big.status).toBe(413);
    await big.text();
    const bomb = gzipSync(Buffer.alloc(1024 * 1024));
    expect(bomb.length).toBeLessThan(MAX_MESSAGE_BYTES);
    const zipped = await postOpamp(bomb, { ...protobuf(token), "Content-Encoding": "gzip" });
    expect(zipped.status).toBe(413);
    await zipped.text();
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });

  it("decodes a gzip body, then answers a bad instance_uid with 200 and a BadRequest error_response", async () => {
    const { token } = await fleet.enrollmentToken();
    const before = await settledState();
    const res = await postOpamp(gzipSync(body(firstMessage(new Uint8Array(8)))), {
      ...protobuf(token),
      "Content-Encoding": "gzip",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    const reply = fromBinary(ServerToAgentSchema, new Uint8Array(await res.arrayBuffer()));
    expect(reply.errorResponse?.type).toBe(BAD_REQUEST);
    expect(reply.errorResponse?.errorMessage).toMatch(/instance_uid must be 16 bytes/);
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });

  it("answers a POST with another content type with 415, and a GET without upgrade with 426", async () => {
    const { token } = await fleet.enrollmentToken();
    const before = await settledState();
    const json = await postOpamp("{}", {
      "Content-Type": "application/json",
      Authorization: `Bearer ${token}`,
    });
    expect(json.status).toBe(415);
    await json.text();
    const get = await fetch(fleet.opampHttpUrl, { headers: { Authorization: `Bearer ${token}` } });
    expect(get.status).toBe(426);
    expect(get.headers.get("upgrade")).toBe("websocket");
    await get.text();
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });

  it("answers a POST without a valid credential with 401", async () => {
    const before = await settledState();
    const payload = body(firstMessage(uuidV7()));
    const none = await postOpamp(payload, { "Content-Type": "application/x-protobuf" });
    expect(none.status).toBe(401);
    await none.text();
    const basic = await postOpamp(payload, {
      "Content-Type": "application/x-protobuf",
      Authorization: "Basic dXNlcjpwYXNzd29yZA==",
    });
    expect(basic.status).toBe(401);
    await basic.text();
    expect(await settledState()).toEqual(before);
    await expectStillServing();
  });
});

describe("slow and incomplete requests", () => {
  it("pings only a silent WebSocket, and drops one whose peer stopped answering", async () => {
    const { token } = await fleet.enrollmentToken();
    // Without AcceptsOpAMPConnectionSettings the agents stay on this connection (no key switch).
    const capabilities = SUPERVISOR_CAPABILITIES & ~AgentCapability.AcceptsOpAMPConnectionSettings;
    const [chatty, silent, dead] = await Promise.all([openRaw(token), openRaw(token), openRaw(token)]);
    const uids = [uuidV7(), uuidV7(), uuidV7()];
    const conns = [chatty, silent, dead] as RawConnection[];
    conns.forEach((c, i) => {
      c.ws.send(frame(firstMessage(uids[i] as Uint8Array, { capabilities })));
    });
    await Promise.all(conns.map((c) => c.reply()));
    const pings = [0, 0, 0];
    conns.forEach((c, i) => {
      c.ws.on("ping", () => {
        pings[i] = (pings[i] ?? 0) + 1;
      });
    });
    // One heartbeats every 100 ms; one says nothing (its client still answers pings); one stops
    // reading its socket, so a ping can never be answered.
    let seq = 1n;
    const heartbeats = setInterval(() => {
      chatty.ws.send(frame({ instanceUid: uids[0], sequenceNum: seq++, capabilities }));
    }, 100);
    (dead.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    try {
      const offline = await eventually(
        async () => {
          const r = await fleet.api.get(
            `/api/v1/tenants/${fleet.tenantId}/agents/${instanceUidToString(uids[2] as Uint8Array)}`,
          );
          return r.body.status === "offline" ? r : undefined;
        },
        5_000,
        "the unresponsive agent dropped",
      );
      expect(offline.body.connection.disconnectedAt).not.toBeNull();
    } finally {
      clearInterval(heartbeats);
    }
    expect(pings[0]).toBe(0);
    expect(pings[1]).toBeGreaterThan(0);
    expect(chatty.ws.readyState).toBe(WebSocket.OPEN);
    expect(silent.ws.readyState).toBe(WebSocket.OPEN);
    for (const uid of uids.slice(0, 2)) {
      const r = await fleet.api.get(
        `/api/v1/tenants/${fleet.tenantId}/agents/${instanceUidToString(uid as Uint8Array)}`,
      );
      expect(r.body.status).toBe("online");
    }
  });

  it("cuts off slow and incomplete upgrade requests after about 10 s, and serves others meanwhile", async () => {
    const { token } = await fleet.enrollmentToken();
    const before = await settledState();
    /** Opens a raw TCP connection, writes `start`, then one more header line every `dribbleMs` (if set). */
    const hang = (start: string, dribbleMs?: number) =>
      new Promise<{ elapsedMs: number; answer: string }>((resolve) => {
        const started = performance.now();
        const socket = connect(srv.port, "127.0.0.1");
        let answer = "";
        let n = 0;
        const timer = dribbleMs
          ? setInterval(() => socket.write(`X-Slow-${n++}: still typing\r\n`), dribbleMs)
          : undefined;
        socket.setEncoding("latin1");
        socket.on("data", (chunk: string) => {
          answer += chunk;
        });
        socket.on("error", () => undefined);
        socket.on("close", () => {
          clearInterval(timer);
          resolve({ elapsedMs: performance.now() - started, answer });
        });
        socket.write(start);
      });
    const upgradeHead = [
      "GET /v1/opamp HTTP/1.1",
      `Host: 127.0.0.1:${srv.port}`,
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      `Authorization: Bearer ${token}`,
      "",
    ].join("\r\n");
    const incomplete = hang(upgradeHead);
    const slow = hang("GET /v1/opamp HTTP/1.1\r\n", 500);

    // Meanwhile, everyone else is served.
    await sleep(500);
    await expectStillServing();

    for (const cut of await Promise.all([incomplete, slow])) {
      expect(cut.elapsedMs).toBeGreaterThanOrEqual(9_500);
      expect(cut.elapsedMs).toBeLessThan(12_000);
      // Refused at the transport like every other malformed request: problem+json, then closed.
      const [head, body] = cut.answer.split("\r\n\r\n");
      expect(head?.split("\r\n")[0]).toBe("HTTP/1.1 408 Request Timeout");
      expect(head).toContain("Connection: close");
      expect(head).toContain("Content-Type: application/problem+json");
      expect(JSON.parse(body ?? "")).toMatchObject({ status: 408 });
    }
    const after = await settledState();
    // Only the probe agent from expectStillServing (and its token) was added.
    expect(after.agents.length).toBe(before.agents.length + 1);
    expect(after.enrollmentTokens.length).toBe(before.enrollmentTokens.length + 1);
    await expectOpenWebSockets(0);
  }, 20_000);
});
