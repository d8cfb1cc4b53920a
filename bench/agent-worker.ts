/**
 * Load-generator worker: a child process (fork) holding up to a few thousand lean OpAMP agents,
 * every socket bound to one source address of 127.0.0.0/8. Driven by the bench parent over IPC
 * (bench/lib/ipc.ts); run as `node --import tsx bench/agent-worker.ts`.
 *
 * A lean agent does on the wire what the OpAMP supervisor does, and nothing more:
 * - phase 1: WebSocket with `Authorization: Bearer xse_…`, a full first report (seq 0,
 *   capabilities 0x3907, description, health);
 * - on the connection-settings offer: `agent_disconnect`, close 1000, and a new client (seq 0)
 *   with exactly the offered endpoint and headers (`xag_…`);
 * - on a remote config with a new hash: remote_config_status APPLIED with the effective config
 *   and health (APPLYING first only with `sendApplying`);
 * - heartbeats (capabilities only) on an interval, at a random phase per agent;
 * - after a close it did not ask for: reconnect like opamp-go (first retry at once, then 0.5 s
 *   ±50 % jitter, ×1.5, capped at 60 s; Retry-After of a 429/503 wins), with a full report
 *   whose sequence number continues.
 * It keeps no history: a few numbers per agent, and the last config body (its effective config).
 * Instance UIDs, the capabilities and description it reports, and ServerToAgent decoding come
 * from test/helpers/opamp/agent-wire.ts, as for the test agent, so both speak the same OpAMP.
 */
import { create } from "@bufbuild/protobuf";
import WebSocket from "ws";
import {
  type AgentToServer,
  AgentToServerSchema,
  EffectiveConfigSchema,
  RemoteConfigStatusSchema,
  type ServerToAgent,
} from "../src/gen/opamp/v1/opamp_pb.js";
import { encodeAgentToServerFrame, ServerToAgentFlag } from "../src/opamp/codec.js";
import {
  bytesEqual,
  ConfigStatus,
  decodeServerToAgentFrame,
  effectiveConfigOf,
  instanceUidText,
  offeredHeaders,
  runningHealth,
  SUPERVISOR_CAPABILITIES,
  supervisorIdentifyingAttributes,
  supervisorNonIdentifyingAttributes,
  unixNanos,
  uuidV7,
} from "../test/helpers/opamp/agent-wire.js";
import type {
  BaselineConnectResult,
  EnrollCommand,
  EnrollResult,
  Mark,
  MarkResult,
  ParentToWorker,
  WorkerStats,
  WorkerToParent,
} from "./lib/ipc.js";

const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MULTIPLIER = 1.5;
const BACKOFF_JITTER = 0.5;
const BACKOFF_MAX_MS = 60_000;

let workerId = 0;
let localAddress = "127.0.0.1";

const stats = {
  heartbeatsSent: 0,
  repliesReceived: 0,
  messagesSent: 0,
  messagesReceived: 0,
  throttled: 0,
  connectFailures: 0,
  serverCloses: 0,
  fullStateRequests: 0,
  errorResponses: 0,
  bareSent: 0,
  bareReceived: 0,
};
const lastErrors: string[] = [];

function noteError(text: string): void {
  if (lastErrors.length >= 20 || lastErrors.includes(text)) return;
  lastErrors.push(text);
}

function send(msg: WorkerToParent): void {
  process.send?.(msg);
}

function backoffDelay(attempt: number): number {
  // attempt 0 = the first retry: at once (opamp-go reconnects immediately after a drop).
  if (attempt <= 0) return 0;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * BACKOFF_MULTIPLIER ** (attempt - 1));
  return base * (1 - BACKOFF_JITTER + Math.random() * 2 * BACKOFF_JITTER);
}

/** Marks armed by the parent: per-agent epoch ms, `done` sent once every agent has one. */
const armed: Record<Mark, boolean> = { config: false, back: false, broadcast: false };
const doneSent: Record<Mark, boolean> = { config: false, back: false, broadcast: false };
let markCount: Record<Mark, number> = { config: 0, back: 0, broadcast: 0 };

function reached(what: Mark): void {
  markCount[what]++;
  const total = what === "broadcast" ? bare.length : agents.length;
  if (armed[what] && !doneSent[what] && markCount[what] >= total) {
    doneSent[what] = true;
    send({ type: "done", what, at: Date.now() });
  }
}

/**
 * With several replicas (scale-out): the backends' origins (ws://127.0.0.1:<port>), and every new
 * connection goes to the next one, round-robin, whatever host the offered endpoint names (what a
 * load balancer in front of the replicas does). Each worker starts at its own offset.
 */
let backends: string[] = [];
let nextBackend = 0;

function routed(endpoint: string): string {
  if (backends.length === 0) return endpoint;
  const url = new URL(endpoint);
  const backend = backends[nextBackend++ % backends.length] ?? url.origin;
  return `${backend}${url.pathname}${url.search}`;
}

class LeanAgent {
  readonly uid: Uint8Array;
  readonly uidText: string;
  endpoint = "";
  headers: Record<string, string> = {};
  ws: WebSocket | undefined;
  seq = 0n;
  /** Still on the enrollment token (an offer is expected). */
  enrolling = true;
  /** The agent closes the socket itself (offer, close-all): no reconnect. */
  closingOnPurpose = false;
  stopped = false;
  open = false;
  awaitingFirstReply = false;
  fullStateNext = false;
  configHash: Uint8Array | undefined;
  configBody: Uint8Array | undefined;
  /** Non-config messages still to come before the APPLIED report counts as answered. */
  ackCountdown = 0;
  attempt = 0;
  reconnectTimer: NodeJS.Timeout | undefined;
  heartbeatTimer: NodeJS.Timeout | undefined;
  retryAfterMs = 0;
  // Enrollment timings (performance.now()), and the start as epoch ms.
  t0 = 0;
  startedAt = 0;
  offerAt = -1;
  configAt = -1;
  appliedAt = -1;
  // Marks (epoch ms).
  markConfig = 0;
  markConfigAck = 0;
  markBack = 0;
  attemptsSinceArm = 0;
  onChange: (() => void) | undefined;

  constructor(
    readonly index: number,
    readonly sendApplying: boolean,
  ) {
    this.uid = uuidV7();
    this.uidText = instanceUidText(this.uid);
  }

  start(url: string, token: string): void {
    this.endpoint = url;
    this.headers = { Authorization: `Bearer ${token}` };
    this.t0 = performance.now();
    this.startedAt = Date.now();
    this.connect();
  }

  connect(): void {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    this.attemptsSinceArm++;
    this.retryAfterMs = 0;
    let refused = 0;
    const ws = new WebSocket(routed(this.endpoint), {
      headers: this.headers,
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      skipUTF8Validation: true,
    });
    this.ws = ws;
    ws.on("unexpected-response", (_req, res) => {
      refused = res.statusCode ?? 0;
      const retryAfter = Number(res.headers["retry-after"]);
      if (Number.isFinite(retryAfter) && retryAfter > 0) this.retryAfterMs = retryAfter * 1000;
      res.resume();
      ws.terminate();
    });
    ws.on("open", () => {
      if (this.stopped) {
        ws.terminate();
        return;
      }
      this.open = true;
      this.awaitingFirstReply = true;
      this.transmit(this.fullReport());
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (ws !== this.ws || !isBinary) return;
      this.receive(data);
    });
    ws.on("error", (err) => {
      if (refused === 429 || refused === 503) stats.throttled++;
      else if (!this.open) stats.connectFailures++;
      noteError(refused ? `upgrade refused: HTTP ${refused}` : err.message);
    });
    ws.on("close", () => {
      const wasOpen = this.open;
      this.open = false;
      if (ws !== this.ws) return;
      this.ws = undefined;
      if (this.stopped) return;
      if (this.closingOnPurpose) {
        // Following the offer: a new client, with exactly the offered headers.
        this.closingOnPurpose = false;
        this.seq = 0n;
        this.connect();
        return;
      }
      if (wasOpen) stats.serverCloses++;
      const delay = this.retryAfterMs || backoffDelay(this.attempt);
      this.attempt++;
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  /** The first message of a connection: everything the agent has (opamp-go PrepareFirstMessage). */
  fullReport(): AgentToServer {
    const now = unixNanos();
    const msg = create(AgentToServerSchema, {
      instanceUid: this.uid,
      sequenceNum: this.seq,
      capabilities: SUPERVISOR_CAPABILITIES,
      agentDescription: {
        identifyingAttributes: supervisorIdentifyingAttributes(this.uidText),
        nonIdentifyingAttributes: supervisorNonIdentifyingAttributes(`bench-${workerId}-${this.index}`),
      },
      health: this.configHash
        ? runningHealth(now)
        : { healthy: false, status: "StatusStarting", startTimeUnixNano: now, statusTimeUnixNano: now },
    });
    if (this.configHash) {
      msg.remoteConfigStatus = create(RemoteConfigStatusSchema, {
        lastRemoteConfigHash: this.configHash,
        status: ConfigStatus.APPLIED,
      });
      msg.effectiveConfig = this.effectiveConfig();
    }
    return msg;
  }

  effectiveConfig(): AgentToServer["effectiveConfig"] {
    if (!this.configBody) return undefined;
    return create(EffectiveConfigSchema, effectiveConfigOf(this.configBody));
  }

  transmit(msg: AgentToServer): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    msg.sequenceNum = this.seq;
    this.seq++;
    stats.messagesSent++;
    ws.send(encodeAgentToServerFrame(msg));
  }

  receive(frame: Buffer): void {
    stats.messagesReceived++;
    let msg: ServerToAgent;
    try {
      msg = decodeServerToAgentFrame(frame);
    } catch (err) {
      noteError(`undecodable ServerToAgent: ${(err as Error).message}`);
      return;
    }
    if (this.awaitingFirstReply) {
      this.awaitingFirstReply = false;
      this.attempt = 0;
      if (!this.enrolling && armed.back && this.markBack === 0) {
        this.markBack = Date.now();
        reached("back");
      }
    }
    if (msg.errorResponse) {
      stats.errorResponses++;
      noteError(`error response: ${msg.errorResponse.errorMessage}`);
    }
    if (msg.flags & ServerToAgentFlag.ReportFullState) {
      stats.fullStateRequests++;
      this.fullStateNext = true;
    }
    const offer = msg.connectionSettings?.opamp;
    if (offer?.destinationEndpoint) {
      this.followOffer(offer.destinationEndpoint, offeredHeaders(offer));
      return;
    }
    const rc = msg.remoteConfig;
    if (rc && rc.configHash.byteLength > 0) {
      if (!this.configHash || !bytesEqual(this.configHash, rc.configHash)) {
        this.applyConfig(rc.configHash, rc, frame.byteLength);
      }
    } else {
      stats.repliesReceived++;
      if (this.ackCountdown > 0 && --this.ackCountdown === 0) this.configAnswered();
    }
    if (this.fullStateNext && this.open && !this.awaitingFirstReply) {
      this.fullStateNext = false;
      this.transmit(this.fullReport());
    }
  }

  followOffer(endpoint: string, headers: Record<string, string>): void {
    if (this.offerAt < 0) this.offerAt = performance.now() - this.t0;
    this.enrolling = false;
    this.endpoint = endpoint;
    this.headers = headers;
    const bye = create(AgentToServerSchema, {
      instanceUid: this.uid,
      capabilities: SUPERVISOR_CAPABILITIES,
      agentDisconnect: {},
    });
    this.transmit(bye);
    this.closingOnPurpose = true;
    this.ws?.close(1000);
    this.onChange?.();
  }

  applyConfig(hash: Uint8Array, rc: NonNullable<ServerToAgent["remoteConfig"]>, frameBytes: number): void {
    this.configHash = new Uint8Array(hash);
    const body = rc.config?.configMap[""]?.body;
    this.configBody = body ? new Uint8Array(body) : new Uint8Array();
    if (this.configAt < 0) {
      this.configAt = performance.now() - this.t0;
      if (firstConfigFrameBytes === 0) firstConfigFrameBytes = frameBytes;
    }
    if (armed.config && this.markConfig === 0) this.markConfig = Date.now();
    if (this.sendApplying) {
      this.transmit(
        create(AgentToServerSchema, {
          instanceUid: this.uid,
          capabilities: SUPERVISOR_CAPABILITIES,
          remoteConfigStatus: {
            lastRemoteConfigHash: this.configHash,
            status: ConfigStatus.APPLYING,
          },
        }),
      );
    }
    this.transmit(
      create(AgentToServerSchema, {
        instanceUid: this.uid,
        capabilities: SUPERVISOR_CAPABILITIES,
        remoteConfigStatus: {
          lastRemoteConfigHash: this.configHash,
          status: ConfigStatus.APPLIED,
        },
        health: runningHealth(unixNanos()),
        effectiveConfig: this.effectiveConfig(),
      }),
    );
    this.ackCountdown = this.sendApplying ? 2 : 1;
  }

  configAnswered(): void {
    if (this.appliedAt < 0) this.appliedAt = performance.now() - this.t0;
    if (armed.config && this.markConfigAck === 0) {
      this.markConfigAck = Date.now();
      reached("config");
    }
    this.onChange?.();
  }

  heartbeat(): void {
    if (!this.open || this.awaitingFirstReply) return;
    if (this.fullStateNext) {
      this.fullStateNext = false;
      this.transmit(this.fullReport());
      return;
    }
    stats.heartbeatsSent++;
    this.transmit(
      create(AgentToServerSchema, { instanceUid: this.uid, capabilities: SUPERVISOR_CAPABILITIES }),
    );
  }

  startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeat();
      this.heartbeatTimer = setInterval(() => this.heartbeat(), intervalMs);
    }, Math.random() * intervalMs);
  }

  stopHeartbeat(): void {
    if (this.heartbeatTimer) {
      clearTimeout(this.heartbeatTimer);
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    }
  }

  /** Goodbye (agent_disconnect + close 1000), no reconnect. */
  stop(): Promise<void> {
    this.stopped = true;
    this.stopHeartbeat();
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    if (!ws) return Promise.resolve();
    return closeSocket(ws, () =>
      this.transmit(
        create(AgentToServerSchema, {
          instanceUid: this.uid,
          capabilities: SUPERVISOR_CAPABILITIES,
          agentDisconnect: {},
        }),
      ),
    );
  }
}

/**
 * Closes a socket with 1000 (after `goodbye`, when it is open) and resolves once it is closed;
 * a socket that is not open, or does not close within 5 s, is terminated.
 */
function closeSocket(ws: WebSocket, goodbye?: () => void): Promise<void> {
  if (ws.readyState !== WebSocket.OPEN) {
    ws.terminate();
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 5_000);
    ws.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    goodbye?.();
    ws.close(1000);
  });
}

/** Agents that finished enrollment (the population every later command works on). */
const agents: LeanAgent[] = [];
let heartbeatMs = 0;
let firstConfigFrameBytes = 0;

async function enroll(cmd: EnrollCommand): Promise<EnrollResult> {
  if (cmd.backends?.length) {
    backends = cmd.backends;
    nextBackend = workerId;
  }
  const result: EnrollResult = {
    startAt: [],
    offerMs: [],
    configMs: [],
    appliedMs: [],
    failures: 0,
    errors: [],
    configFrameBytes: 0,
  };
  const batch: LeanAgent[] = [];
  for (let i = 0; i < cmd.count; i++) batch.push(new LeanAgent(agents.length + i, cmd.sendApplying));
  let next = 0;
  const runOne = (agent: LeanAgent): Promise<void> =>
    new Promise<void>((resolve) => {
      const budget = Math.max(0, Math.min(cmd.timeoutMs, cmd.deadlineAt - Date.now()));
      const timer = setTimeout(() => {
        agent.onChange = undefined;
        result.failures++;
        void agent.stop();
        resolve();
      }, budget);
      agent.onChange = () => {
        if (agent.appliedAt < 0) return;
        clearTimeout(timer);
        agent.onChange = undefined;
        agents.push(agent);
        if (heartbeatMs > 0) agent.startHeartbeat(heartbeatMs);
        resolve();
      };
      agent.start(cmd.url, cmd.token);
    });
  const lane = async () => {
    while (next < batch.length) {
      const agent = batch[next++];
      if (!agent) continue;
      if (Date.now() >= cmd.deadlineAt) {
        result.failures++;
        continue;
      }
      await runOne(agent);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(cmd.concurrency, batch.length)) }, lane));
  for (const a of batch) {
    result.startAt.push(a.startedAt);
    result.offerMs.push(a.offerAt);
    result.configMs.push(a.configAt);
    result.appliedMs.push(a.appliedAt);
  }
  result.errors = [...lastErrors];
  result.configFrameBytes = firstConfigFrameBytes;
  return result;
}

function arm(what: Mark): void {
  armed[what] = true;
  doneSent[what] = false;
  markCount = { ...markCount, [what]: 0 };
  if (what === "broadcast") {
    bareAt.fill(0);
    return;
  }
  for (const a of agents) {
    if (what === "config") {
      a.markConfig = 0;
      a.markConfigAck = 0;
    } else {
      a.markBack = 0;
      a.attemptsSinceArm = 0;
    }
  }
}

function collect(what: Mark): MarkResult {
  if (what === "broadcast") return { what, at: [...bareAt] };
  if (what === "config") {
    return { what, at: agents.map((a) => a.markConfig), ackAt: agents.map((a) => a.markConfigAck) };
  }
  return { what, at: agents.map((a) => a.markBack), attempts: agents.map((a) => a.attemptsSinceArm) };
}

// --- bare sockets for the baseline ------------------------------------------------------------

const bare: WebSocket[] = [];
let bareAt: number[] = [];
const bareTimers: NodeJS.Timeout[] = [];

async function bareConnect(url: string, count: number, concurrency: number): Promise<BaselineConnectResult> {
  const result: BaselineConnectResult = { startAt: [], openMs: [], failures: 0, errors: [] };
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      result.startAt.push(Date.now());
      const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, handshakeTimeout: 30_000 });
      ws.on("open", () => {
        result.openMs.push(performance.now() - t0);
        const index = bare.length;
        bare.push(ws);
        bareAt.push(0);
        ws.on("message", () => {
          stats.bareReceived++;
          if (armed.broadcast && bareAt[index] === 0) {
            bareAt[index] = Date.now();
            reached("broadcast");
          }
        });
        resolve();
      });
      ws.on("error", (err) => {
        result.failures++;
        if (result.errors.length < 5) result.errors.push(err.message);
        resolve();
      });
    });
  const lane = async () => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
  return result;
}

function bareHeartbeat(intervalMs: number, bytes: number): void {
  for (const t of bareTimers.splice(0)) {
    clearTimeout(t);
    clearInterval(t);
  }
  if (intervalMs <= 0) return;
  const payload = Buffer.alloc(bytes, 1);
  for (const ws of bare) {
    const beat = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      stats.bareSent++;
      ws.send(payload);
    };
    bareTimers.push(
      setTimeout(() => {
        beat();
        bareTimers.push(setInterval(beat, intervalMs));
      }, Math.random() * intervalMs),
    );
  }
}

async function bareClose(): Promise<void> {
  bareHeartbeat(0, 0);
  await Promise.all(bare.splice(0).map((ws) => closeSocket(ws)));
  bareAt = [];
}

function workerStats(): WorkerStats {
  const cpu = process.cpuUsage();
  return {
    agents: agents.length,
    connected: agents.reduce((n, a) => n + (a.open ? 1 : 0), 0),
    heartbeatsSent: stats.heartbeatsSent,
    repliesReceived: stats.repliesReceived,
    messagesSent: stats.messagesSent,
    messagesReceived: stats.messagesReceived,
    throttled: stats.throttled,
    connectFailures: stats.connectFailures,
    serverCloses: stats.serverCloses,
    fullStateRequests: stats.fullStateRequests,
    errorResponses: stats.errorResponses,
    bare: {
      connected: bare.reduce((n, ws) => n + (ws.readyState === WebSocket.OPEN ? 1 : 0), 0),
      sent: stats.bareSent,
      received: stats.bareReceived,
    },
    rssBytes: process.memoryUsage.rss(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    lastErrors: [...lastErrors],
  };
}

async function handle(cmd: ParentToWorker): Promise<unknown> {
  switch (cmd.type) {
    case "enroll":
      return enroll(cmd);
    case "heartbeat":
      heartbeatMs = cmd.intervalMs;
      for (const a of agents) {
        if (heartbeatMs > 0) a.startHeartbeat(heartbeatMs);
        else a.stopHeartbeat();
      }
      return null;
    case "arm":
      arm(cmd.what);
      return null;
    case "collect":
      return collect(cmd.what);
    case "stats":
      return workerStats();
    case "close-all":
      heartbeatMs = 0;
      await Promise.all(agents.map((a) => a.stop()));
      return null;
    case "baseline-connect":
      return bareConnect(cmd.url, cmd.count, cmd.concurrency);
    case "baseline-heartbeat":
      bareHeartbeat(cmd.intervalMs, cmd.bytes);
      return null;
    case "baseline-close":
      await bareClose();
      return null;
    default:
      return null;
  }
}

process.on("message", (raw: ParentToWorker) => {
  if (raw.type === "init") {
    workerId = raw.workerId;
    localAddress = raw.localAddress;
    // A hard stop whatever the parent does; ref'd on purpose.
    setTimeout(() => process.exit(3), raw.hardDeadlineMs);
    send({ type: "ready", workerId });
    return;
  }
  if (raw.type === "exit") {
    process.exit(0);
  }
  handle(raw).then(
    (data) => send({ type: "reply", id: raw.id, ok: true, data }),
    (err: unknown) =>
      send({ type: "reply", id: raw.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});

// The parent is gone: nothing left to do.
process.on("disconnect", () => process.exit(0));
