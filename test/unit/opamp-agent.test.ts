// The supervisor-like TestAgent against a tiny scripted OpAMP server (ws + node:http), so that
// integration tests can trust what the agent puts on the wire: framing, sequence numbers,
// status compression, remote config reports, following a connection-settings offer, refusals,
// the plain-HTTP transport and restarts.

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { gzipSync } from "node:zlib";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterEach, describe, expect, test } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import {
  type AgentToServer,
  AgentToServerSchema,
  type ServerToAgent,
  ServerToAgentSchema,
} from "../../src/gen/opamp/v1/opamp_pb.js";
import {
  AgentCapability,
  decodeAgentToServerBody,
  decodeAgentToServerFrame,
  encodeServerToAgentBody,
  encodeServerToAgentFrame,
  instanceUidToString,
  ServerToAgentFlag,
  uuidStringToBytes,
} from "../../src/opamp/codec.js";
import {
  ConfigStatus,
  decodeServerToAgentBody,
  decodeServerToAgentFrame,
  encodeAgentToServerBody,
  instanceUidText,
  SUPERVISOR_CAPABILITIES,
  uuidV7,
} from "../helpers/opamp/agent-wire.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { ConnectionRefusedError } from "../helpers/opamp/transport.js";

const LIMIT = { maxBytes: 64 * 1024 * 1024 };
const ENROLL = "xse_enrollment_token";
const AGENT_KEY = "xag_agent_key";
const HASH_A = new Uint8Array(32).fill(0xa1);
const HASH_B = new Uint8Array(32).fill(0xb2);

type Reply = MessageInitShape<typeof ServerToAgentSchema> | undefined;

interface Upgrade {
  headers: IncomingHttpHeaders;
}
interface Frame {
  conn: number;
  raw: Uint8Array;
  isBinary: boolean;
  msg: AgentToServer | undefined;
}
interface HttpPost {
  headers: IncomingHttpHeaders;
  body: Uint8Array;
  msg: AgentToServer;
}

/** An OpAMP server whose behaviour each test scripts: who may connect, and what to answer. */
class ScriptedServer {
  readonly upgrades: Upgrade[] = [];
  readonly frames: Frame[] = [];
  readonly posts: HttpPost[] = [];
  readonly closes: { conn: number; code: number; reason: string }[] = [];
  readonly sockets: WebSocket[] = [];
  /** Status to answer a connection attempt with (101/200 = accept). */
  authorize: (headers: IncomingHttpHeaders) => number = () => 200;
  /** The reply to each AgentToServer; undefined = an empty acknowledgement. */
  reply: (msg: AgentToServer, conn: number) => Reply = () => undefined;
  gzipResponses = false;
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true });

  constructor() {
    this.http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const status = this.authorize(req.headers);
        if (status !== 200) {
          res.writeHead(status).end();
          return;
        }
        const body = new Uint8Array(Buffer.concat(chunks));
        const decoded = decodeAgentToServerBody(body, LIMIT);
        if (!decoded.ok) {
          res.writeHead(400).end();
          return;
        }
        this.posts.push({ headers: req.headers, body, msg: decoded.message });
        const out = encodeServerToAgentBody(this.answer(decoded.message, 0));
        const headers: Record<string, string> = { "content-type": "application/x-protobuf" };
        if (this.gzipResponses) headers["content-encoding"] = "gzip";
        res.writeHead(200, headers).end(this.gzipResponses ? gzipSync(out) : out);
      });
    });
    this.http.on("upgrade", (req, socket: Duplex, head: Buffer) => {
      const status = this.authorize(req.headers);
      if (status !== 200) {
        socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      this.upgrades.push({ headers: req.headers });
      const conn = this.upgrades.length;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.sockets.push(ws);
        ws.on("message", (data: Buffer, isBinary: boolean) => {
          const raw = new Uint8Array(data);
          const decoded = isBinary ? decodeAgentToServerFrame(raw, LIMIT) : undefined;
          const msg = decoded?.ok ? decoded.message : undefined;
          this.frames.push({ conn, raw, isBinary, msg });
          // Like opamp-go's client, the agent closes right after agent_disconnect: no answer.
          if (msg && !msg.agentDisconnect) ws.send(encodeServerToAgentFrame(this.answer(msg, conn)));
        });
        ws.on("close", (code: number, reason: Buffer) =>
          this.closes.push({ conn, code, reason: String(reason) }),
        );
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(0, "127.0.0.1", resolve));
  }

  url(scheme: "ws" | "http"): string {
    const { port } = this.http.address() as AddressInfo;
    return `${scheme}://127.0.0.1:${port}/v1/opamp`;
  }

  /** Messages received over WebSocket, optionally on one connection only. */
  messages(conn?: number): AgentToServer[] {
    return this.frames
      .filter((f) => conn === undefined || f.conn === conn)
      .flatMap((f) => (f.msg ? [f.msg] : []));
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private answer(msg: AgentToServer, conn: number): ServerToAgent {
    return create(ServerToAgentSchema, { instanceUid: msg.instanceUid, ...this.reply(msg, conn) });
  }
}

function bearer(headers: IncomingHttpHeaders): string | undefined {
  return /^Bearer (.+)$/.exec(headers.authorization ?? "")?.[1];
}

function offer(endpoint: string, headers: Record<string, string>, heartbeatSeconds = 30n): Reply {
  return {
    connectionSettings: {
      hash: new Uint8Array([1, 2, 3]),
      opamp: {
        destinationEndpoint: endpoint,
        headers: { headers: Object.entries(headers).map(([key, value]) => ({ key, value })) },
        heartbeatIntervalSeconds: heartbeatSeconds,
      },
    },
  };
}

function remoteConfig(hash: Uint8Array, body: string): Reply {
  return {
    remoteConfig: {
      configHash: hash,
      config: { configMap: { "": { body: new TextEncoder().encode(body), contentType: "text/yaml" } } },
    },
  };
}

function effectiveBody(msg: AgentToServer): string | undefined {
  const file = msg.effectiveConfig?.configMap?.configMap[""];
  return file ? new TextDecoder().decode(file.body) : undefined;
}

async function eventually(check: () => void, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

let server: ScriptedServer;
const agents: TestAgent[] = [];

async function startServer(): Promise<ScriptedServer> {
  server = new ScriptedServer();
  await server.listen();
  return server;
}

function newAgent(opts: Partial<ConstructorParameters<typeof TestAgent>[0]> & { url: string }): TestAgent {
  const agent = new TestAgent({ token: ENROLL, ...opts });
  agents.push(agent);
  return agent;
}

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.kill();
  await server?.close();
});

describe("TestAgent over WebSocket", () => {
  test("frames every message as binary 0x00 + protobuf and numbers them from 0", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    await agent.heartbeat();
    await agent.heartbeat();

    expect(server.upgrades[0]?.headers.authorization).toBe(`Bearer ${ENROLL}`);
    expect(server.frames).toHaveLength(3);
    for (const frame of server.frames) {
      expect(frame.isBinary).toBe(true);
      expect(frame.raw[0]).toBe(0x00);
      expect(frame.msg?.instanceUid).toEqual(agent.instanceUid);
      expect(frame.msg?.capabilities).toBe(SUPERVISOR_CAPABILITIES);
    }
    expect(server.messages().map((m) => m.sequenceNum)).toEqual([0n, 1n, 2n]);
    expect(SUPERVISOR_CAPABILITIES).toBe(0x3907n);
    expect(agent.connectionCount).toBe(1);
    expect(agent.received).toHaveLength(3);
    expect(instanceUidToString(agent.instanceUid)).toBe(agent.instanceUidString);
    // UUIDv7: version nibble 7, RFC 9562 variant.
    expect(agent.instanceUidString).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  test("sends a full report first and only changed facets afterwards", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    await agent.heartbeat();
    await agent.reportHealth({ healthy: true, status: "StatusOK" });

    const [first, heartbeat, health] = server.messages();
    expect(first?.agentDescription?.identifyingAttributes.map((kv) => kv.key)).toEqual([
      "service.name",
      "service.version",
      "service.instance.id",
    ]);
    expect(agent.descriptionAttributes.identifying["service.instance.id"]).toBe(agent.instanceUidString);
    expect(first?.health?.healthy).toBe(false);
    // opamp-go puts an (empty, UNSET) remote config status into the first message.
    expect(first?.remoteConfigStatus?.status).toBe(ConfigStatus.UNSET);
    expect(first?.effectiveConfig).toBeUndefined();

    expect(heartbeat?.agentDescription).toBeUndefined();
    expect(heartbeat?.health).toBeUndefined();
    expect(heartbeat?.remoteConfigStatus).toBeUndefined();

    expect(health?.health?.healthy).toBe(true);
    expect(health?.agentDescription).toBeUndefined();
    expect(health?.sequenceNum).toBe(2n);
  });

  test("re-sends every facet after ReportFullState", async () => {
    await startServer();
    server.reply = (msg) =>
      msg.sequenceNum === 1n ? { flags: ServerToAgentFlag.ReportFullState } : undefined;
    const agent = newAgent({ url: server.url("ws"), effectiveConfig: "receivers: {}\n" });
    await agent.start();
    await agent.heartbeat();
    const full = await agent.waitForSent((m) => m.sequenceNum === 2n);

    expect(full.agentDescription).toBeDefined();
    expect(full.health).toBeDefined();
    expect(full.remoteConfigStatus).toBeDefined();
    expect(effectiveBody(full)).toBe("receivers: {}\n");
    await agent.heartbeat();
    expect(server.messages()[3]?.sequenceNum).toBe(3n);
    expect(server.messages()[3]?.agentDescription).toBeUndefined();
  });

  test("reports APPLYING then APPLIED with the effective config, and ignores a hash already applied", async () => {
    await startServer();
    server.reply = (msg) => (msg.sequenceNum === 0n ? remoteConfig(HASH_A, "exporters: {}\n") : undefined);
    const seen: string[] = [];
    const agent = newAgent({
      url: server.url("ws"),
      applyConfig: (config, hash) => {
        seen.push(`${config.get("")?.body}|${hash[0]}`);
        return { ok: true };
      },
    });
    await agent.start();
    const applied = await agent.waitForSent((m) => m.remoteConfigStatus?.status === ConfigStatus.APPLIED);
    await eventually(() => expect(server.messages()).toHaveLength(3));
    const applying = server.messages().find((m) => m.remoteConfigStatus?.status === ConfigStatus.APPLYING);

    expect(seen).toEqual(["exporters: {}\n|161"]);
    expect(applying?.sequenceNum).toBe(1n);
    expect(applying?.remoteConfigStatus?.lastRemoteConfigHash).toEqual(HASH_A);
    expect(applying?.effectiveConfig).toBeUndefined();
    expect(applied.sequenceNum).toBe(2n);
    expect(applied.remoteConfigStatus?.lastRemoteConfigHash).toEqual(HASH_A);
    expect(effectiveBody(applied)).toBe("exporters: {}\n");
    expect(applied.health?.healthy).toBe(true);
    expect(agent.remoteConfigStatus).toEqual({ hash: HASH_A, status: ConfigStatus.APPLIED, error: "" });

    // The same config again: nothing new to report.
    server.reply = () => remoteConfig(HASH_A, "exporters: {}\n");
    await agent.heartbeat();
    await agent.settle();
    await agent.heartbeat();
    expect(seen).toHaveLength(1);
    expect(
      server
        .messages()
        .slice(3)
        .every((m) => m.remoteConfigStatus === undefined),
    ).toBe(true);
  });

  test("reports FAILED with the error and leaves the effective config alone", async () => {
    await startServer();
    server.reply = (msg) => (msg.sequenceNum === 0n ? remoteConfig(HASH_B, "not: [yaml") : undefined);
    const agent = newAgent({
      url: server.url("ws"),
      effectiveConfig: "old: config\n",
      applyConfig: () => ({ ok: false, error: "cannot parse config" }),
    });
    await agent.start();
    const failed = await agent.waitForSent((m) => m.remoteConfigStatus?.status === ConfigStatus.FAILED);

    expect(failed.remoteConfigStatus?.errorMessage).toBe("cannot parse config");
    expect(failed.remoteConfigStatus?.lastRemoteConfigHash).toEqual(HASH_B);
    expect(failed.effectiveConfig).toBeUndefined();
    expect(agent.effectiveConfig).toBe("old: config\n");
    expect(agent.remoteConfigStatus?.status).toBe(ConfigStatus.FAILED);
  });

  test("follows an offer: agent_disconnect, close 1000, then a new client with only the offered headers", async () => {
    await startServer();
    server.reply = (msg, conn) =>
      conn === 1 && msg.sequenceNum === 0n
        ? offer(server.url("ws"), { Authorization: `Bearer ${AGENT_KEY}`, "X-Extra": "kept" })
        : undefined;
    const agent = newAgent({ url: server.url("ws"), headers: { "X-Tenant": "from-file" } });
    await agent.start();
    await agent.waitForConnection(2);
    await agent.settle();

    const first = server.messages(1);
    expect(first.at(-1)?.agentDisconnect).toBeDefined();
    expect(first.at(-1)?.sequenceNum).toBe(1n);
    await eventually(() => expect(server.closes.find((c) => c.conn === 1)?.code).toBe(1000));

    const second = server.upgrades[1]?.headers;
    expect(server.upgrades[0]?.headers["x-tenant"]).toBe("from-file");
    expect(second?.authorization).toBe(`Bearer ${AGENT_KEY}`);
    expect(second?.["x-extra"]).toBe("kept");
    expect(second?.["x-tenant"]).toBeUndefined();
    const next = server.messages(2)[0];
    expect(next?.sequenceNum).toBe(0n);
    expect(next?.agentDescription).toBeDefined();
    expect(next?.health?.healthy).toBe(false);
    expect(next?.instanceUid).toEqual(agent.instanceUid);

    expect(agent.currentToken).toBe(AGENT_KEY);
    expect(agent.connectionCount).toBe(2);
    expect(agent.clientCount).toBe(2);
    expect(agent.heartbeatIntervalSeconds).toBe(30);
    expect(agent.followedOffers).toHaveLength(1);
    expect(agent.serverCloses).toEqual([]);
  });

  test("ignores an offer without destination_endpoint", async () => {
    await startServer();
    server.reply = (msg) =>
      msg.sequenceNum === 0n ? offer("", { Authorization: `Bearer ${AGENT_KEY}` }) : undefined;
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    await agent.settle();
    await agent.heartbeat();

    expect(agent.ignoredOffers.map((o) => o.reason)).toEqual(["server::endpoint must be specified"]);
    expect(agent.currentToken).toBe(ENROLL);
    expect(server.upgrades).toHaveLength(1);
    expect(server.messages().some((m) => m.agentDisconnect)).toBe(false);
  });

  test("start() rejects with the status when the upgrade is refused", async () => {
    await startServer();
    server.authorize = () => 401;
    const agent = newAgent({ url: server.url("ws") });
    const refused: number[] = [];
    agent.onUpgradeRefused = (status) => refused.push(status);

    const err = await agent.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionRefusedError);
    expect((err as ConnectionRefusedError).status).toBe(401);
    expect(refused).toEqual([401]);
    expect(agent.lastRefusal).toMatchObject({ status: 401, token: ENROLL });
    expect(agent.connectionCount).toBe(0);
  });

  test("records a refused agent key after following an offer and stays disconnected", async () => {
    await startServer();
    server.authorize = (headers) => (bearer(headers) === ENROLL ? 200 : 401);
    server.reply = (msg) =>
      msg.sequenceNum === 0n ? offer(server.url("ws"), { Authorization: `Bearer ${AGENT_KEY}` }) : undefined;
    const agent = newAgent({ url: server.url("ws") });
    const refused: number[] = [];
    agent.onUpgradeRefused = (status) => refused.push(status);
    await agent.start();
    await agent.settle();

    expect(refused).toEqual([401]);
    expect(agent.lastRefusal).toMatchObject({ status: 401, token: AGENT_KEY });
    expect(agent.isConnected).toBe(false);
    expect(agent.connectionCount).toBe(1);
    await expect(agent.heartbeat()).rejects.toThrow(/not (started|connected)/);
  });

  test("stop() sends agent_disconnect and closes with 1000; kill() just drops the socket", async () => {
    await startServer();
    const graceful = newAgent({ url: server.url("ws") });
    await graceful.start();
    await graceful.stop();
    await eventually(() => expect(server.closes[0]?.code).toBe(1000));
    expect(server.messages(1).at(-1)?.agentDisconnect).toBeDefined();

    const crashed = newAgent({ url: server.url("ws") });
    await crashed.start();
    crashed.kill();
    await eventually(() => expect(server.closes[1]?.code).toBe(1006));
    expect(server.messages(2).some((m) => m.agentDisconnect)).toBe(false);
  });

  test("closes the connection on a text frame and reports server closes", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    server.sockets[0]?.send("not binary");
    await eventually(() => expect(agent.protocolErrors).toHaveLength(1));
    await eventually(() => expect(server.closes).toHaveLength(1));
    expect(agent.serverCloses).toEqual([]);
    expect(agent.isConnected).toBe(false);

    const other = newAgent({ url: server.url("ws") });
    await other.start();
    server.sockets[1]?.close(4001, "go away");
    expect(await other.waitForClose()).toEqual({ code: 4001, reason: "go away" });
  });

  test("sendRaw() puts the bytes on the wire untouched", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    agent.sendRaw("hello");
    agent.sendRaw(new Uint8Array([0x01, 0x02]));
    await eventually(() => expect(server.frames).toHaveLength(3));
    expect(server.frames[1]).toMatchObject({ isBinary: false, msg: undefined });
    expect(server.frames[2]?.raw).toEqual(new Uint8Array([0x01, 0x02]));
  });

  test("carries a persisted remote config hash in the first message", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws"), lastRemoteConfigHash: HASH_A });
    await agent.start();
    expect(server.messages()[0]?.remoteConfigStatus).toMatchObject({
      lastRemoteConfigHash: HASH_A,
      status: ConfigStatus.APPLIED,
    });
  });

  test("restart() comes back with the enrollment token, the same uid, seq 0 and the last hash", async () => {
    await startServer();
    server.reply = (msg, conn) => {
      if (conn === 1 && msg.sequenceNum === 0n)
        return offer(server.url("ws"), { Authorization: `Bearer ${AGENT_KEY}` });
      if (conn === 2 && msg.sequenceNum === 0n) return remoteConfig(HASH_B, "processors: {}\n");
      return undefined;
    };
    const agent = newAgent({ url: server.url("ws"), headers: { "X-Tenant": "from-file" } });
    await agent.start();
    await agent.waitForConnection(2);
    await agent.waitForSent((m) => m.remoteConfigStatus?.status === ConfigStatus.APPLIED);
    await agent.heartbeat();

    await agent.restart();
    const third = server.upgrades[2]?.headers;
    expect(third?.authorization).toBe(`Bearer ${ENROLL}`);
    expect(third?.["x-tenant"]).toBe("from-file");
    expect(agent.currentToken).toBe(ENROLL);
    const first = server.messages(3)[0];
    expect(first?.sequenceNum).toBe(0n);
    expect(first?.instanceUid).toEqual(agent.instanceUid);
    expect(first?.remoteConfigStatus).toMatchObject({
      lastRemoteConfigHash: HASH_B,
      status: ConfigStatus.APPLIED,
    });
    expect(effectiveBody(first as AgentToServer)).toBe("processors: {}\n");
    expect(first?.health?.healthy).toBe(false);
    await agent.stop();
  });

  test("reconnects after a server close within the same client: seq continues, delta first", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws"), reconnectDelayMs: 10 });
    await agent.start();
    await agent.heartbeat();
    server.sockets[0]?.close(1001, "restarting");
    expect(await agent.waitForClose()).toEqual({ code: 1001, reason: "restarting" });
    await agent.waitForConnection(2);

    await eventually(() => expect(server.messages(2)).toHaveLength(1));
    const first = server.messages(2)[0];
    expect(first?.sequenceNum).toBe(2n);
    expect(first?.agentDescription).toBeUndefined();
    expect(agent.clientCount).toBe(1);
    // The server asks for the full state, as it must after a server restart.
    server.reply = () => ({ flags: ServerToAgentFlag.ReportFullState });
    await agent.heartbeat();
    const full = await agent.waitForSent((m) => m.sequenceNum === 4n);
    expect(full.agentDescription).toBeDefined();
    await agent.stop();
  });

  test("sends heartbeats on its own when autoHeartbeatMs is set", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws"), autoHeartbeatMs: 20 });
    await agent.start();
    await eventually(() => expect(server.messages().length).toBeGreaterThanOrEqual(3));
    await agent.stop();
    const count = server.frames.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(server.frames).toHaveLength(count);
    const heartbeat = server.messages()[1];
    expect(heartbeat?.sequenceNum).toBe(1n);
    expect(heartbeat?.agentDescription).toBeUndefined();
  });

  test("send() fills in the header fields, merges pending facets, and a given sequence_num moves the counter", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    await agent.send({ sequenceNum: 10n, flags: 1n });
    await agent.heartbeat();
    const [, custom, next] = server.messages();
    expect(custom).toMatchObject({ sequenceNum: 10n, flags: 1n, capabilities: SUPERVISOR_CAPABILITIES });
    expect(custom?.instanceUid).toEqual(agent.instanceUid);
    expect(next?.sequenceNum).toBe(11n);
  });

  test("waitFor() rejects on timeout with what was received", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("ws") });
    await agent.start();
    await expect(agent.waitFor((m) => m.remoteConfig !== undefined, 50)).rejects.toThrow(
      /timed out after 50 ms[\s\S]*received 1:[\s\S]*#0 \{ack\}/,
    );
  });
});

describe("TestAgent over plain HTTP", () => {
  test("POSTs bare protobuf with the instance UID header and polls with growing seq", async () => {
    await startServer();
    const agent = newAgent({ url: server.url("http"), pollIntervalMs: 20 });
    await agent.start();
    await eventually(() => expect(server.posts.length).toBeGreaterThanOrEqual(3));
    await agent.stop();

    const [first, poll] = server.posts;
    expect(first?.headers["content-type"]).toBe("application/x-protobuf");
    expect(first?.headers["opamp-instance-uid"]).toBe(agent.instanceUidString);
    expect(first?.headers.authorization).toBe(`Bearer ${ENROLL}`);
    expect(first?.headers["accept-encoding"]).toBe("gzip");
    expect(first?.body[0]).not.toBe(0x00);
    expect(first?.msg.agentDescription).toBeDefined();
    expect(poll?.msg.agentDescription).toBeUndefined();
    expect(poll?.msg.capabilities).toBe(SUPERVISOR_CAPABILITIES);
    const seqs = server.posts.map((p) => p.msg.sequenceNum);
    expect(seqs).toEqual(seqs.map((_, i) => BigInt(i)));
    expect(agent.connectionCount).toBe(1);
  });

  test("decodes gzip responses and reports a remote config through the next POSTs", async () => {
    await startServer();
    server.gzipResponses = true;
    server.reply = (msg) => (msg.sequenceNum === 0n ? remoteConfig(HASH_A, "service: {}\n") : undefined);
    const agent = newAgent({ url: server.url("http"), pollIntervalMs: 20 });
    await agent.start();
    await eventually(() =>
      expect(server.posts.some((p) => p.msg.remoteConfigStatus?.status === ConfigStatus.APPLIED)).toBe(true),
    );
    await agent.stop();

    expect(agent.lastHttpResponse?.contentEncoding).toBe("gzip");
    expect(agent.received[0]?.remoteConfig?.configHash).toEqual(HASH_A);
    const statuses = server.posts.flatMap((p) =>
      p.msg.remoteConfigStatus ? [p.msg.remoteConfigStatus.status] : [],
    );
    expect(statuses).toEqual([ConfigStatus.UNSET, ConfigStatus.APPLYING, ConfigStatus.APPLIED]);
  });

  test("start() rejects with 401 when the POST is refused", async () => {
    await startServer();
    server.authorize = () => 401;
    const agent = newAgent({ url: server.url("http"), pollIntervalMs: 20 });
    await expect(agent.start()).rejects.toMatchObject({ status: 401 });
    expect(agent.lastRefusal?.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(agent.sent).toHaveLength(1);
  });

  test("follows an offer to a ws:// endpoint with the new key", async () => {
    await startServer();
    // conn 0 = plain HTTP. Offering again on the new connection would loop (brief §4.3.7).
    server.reply = (msg, conn) =>
      conn === 0 && msg.sequenceNum === 0n
        ? offer(server.url("ws"), { Authorization: `Bearer ${AGENT_KEY}` })
        : undefined;
    const agent = newAgent({ url: server.url("http"), pollIntervalMs: 20 });
    await agent.start();
    await agent.waitForConnection(2);
    await agent.settle();

    expect(server.upgrades[0]?.headers.authorization).toBe(`Bearer ${AGENT_KEY}`);
    expect(server.messages(1)[0]?.sequenceNum).toBe(0n);
    expect(agent.endpoint).toBe(server.url("ws"));
    // opamp-go v0.23.0's HTTP client sends no agent_disconnect when it stops.
    expect(server.posts.some((p) => p.msg.agentDisconnect)).toBe(false);
    await agent.stop();
  });
});

test("the default capabilities are what a supervisor with remote config and connection settings sends", () => {
  expect(SUPERVISOR_CAPABILITIES & AgentCapability.AcceptsOpAMPConnectionSettings).not.toBe(0n);
  expect(SUPERVISOR_CAPABILITIES & AgentCapability.AcceptsRestartCommand).toBe(0n);
});

describe("agent-wire, shared with the bench's lean agent", () => {
  test("uuidV7 holds the current millisecond in its first 48 bits, version 7 and the RFC 9562 variant", () => {
    const before = Date.now();
    const uid = uuidV7();
    const after = Date.now();
    expect(uid.byteLength).toBe(16);
    const ms = Buffer.from(uid).readUIntBE(0, 6);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
    expect((uid[6] ?? 0) >> 4).toBe(7);
    expect((uid[8] ?? 0) >> 6).toBe(0b10);
    expect(instanceUidText(uid)).toBe(instanceUidToString(uid));
    expect(uuidStringToBytes(instanceUidText(uid))).toEqual(uid);
  });

  test("decodes a ServerToAgent with or without the 0x00 WebSocket header", () => {
    const msg = create(ServerToAgentSchema, {
      instanceUid: uuidV7(),
      flags: ServerToAgentFlag.ReportFullState,
    });
    expect(decodeServerToAgentFrame(encodeServerToAgentFrame(msg))).toEqual(msg);
    expect(decodeServerToAgentFrame(encodeServerToAgentBody(msg))).toEqual(msg);
    expect(decodeServerToAgentBody(encodeServerToAgentBody(msg))).toEqual(msg);
  });

  test("encodes an AgentToServer HTTP body that the server's codec reads back", () => {
    const msg = create(AgentToServerSchema, {
      instanceUid: uuidV7(),
      sequenceNum: 3n,
      capabilities: SUPERVISOR_CAPABILITIES,
    });
    const body = encodeAgentToServerBody(msg);
    expect(body[0]).not.toBe(0x00);
    expect(decodeAgentToServerBody(body, LIMIT)).toEqual({ ok: true, message: msg });
  });
});
