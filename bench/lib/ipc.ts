/**
 * Messages between the bench parent (bench/run.ts) and its load-generator workers
 * (bench/agent-worker.ts) over the child_process IPC channel. Timestamps that cross processes
 * are wall-clock epoch milliseconds (`Date.now()`, the same clock in every process on this
 * machine); durations measured inside one process use `performance.now()`. Per-agent figures
 * travel as plain number arrays, one message per worker, never one message per agent.
 */

/** Options a worker gets once, at start. */
export interface WorkerInit {
  type: "init";
  workerId: number;
  /** Source address of every socket this worker opens (127.0.0.0/8). */
  localAddress: string;
  /** The worker exits by itself this long after start, whatever happens. */
  hardDeadlineMs: number;
}

export interface EnrollCommand {
  type: "enroll";
  id: number;
  /** ws://host:port/v1/opamp */
  url: string;
  /** The xse_ enrollment token. */
  token: string;
  count: number;
  /** Agents enrolling at once in this worker. */
  concurrency: number;
  /** Also send APPLYING before APPLIED (what the supervisor does); default APPLIED only. */
  sendApplying: boolean;
  /** An agent that has not finished after this long counts as failed. */
  timeoutMs: number;
  /** Epoch ms: no agent starts after this, and every agent still running then counts as failed. */
  deadlineAt: number;
  /**
   * Scale-out: the replicas' origins (ws://127.0.0.1:<port>); from now on every connection of this
   * worker (first, after an offer, reconnects) goes to the next one round-robin, like behind a
   * load balancer. Absent: connect to `url` and to whatever the offer names.
   */
  backends?: string[];
}

export interface HeartbeatCommand {
  type: "heartbeat";
  id: number;
  /** 0 stops heartbeats. Otherwise each agent starts at a random phase in [0, intervalMs). */
  intervalMs: number;
}

/** Resets a per-agent mark; the worker answers at once, and sends `done` once every agent has it. */
export interface ArmCommand {
  type: "arm";
  id: number;
  what: Mark;
}

/** Returns the per-agent times of a mark (0 = not reached). */
export interface CollectCommand {
  type: "collect";
  id: number;
  what: Mark;
}

export interface StatsCommand {
  type: "stats";
  id: number;
}

/** Every agent sends agent_disconnect and closes (no reconnect). */
export interface CloseAllCommand {
  type: "close-all";
  id: number;
}

/** Opens `count` bare WebSockets to the baseline server (same source address). */
export interface BaselineConnectCommand {
  type: "baseline-connect";
  id: number;
  url: string;
  count: number;
  concurrency: number;
}

/** Bare sockets: send a heartbeat-sized message every intervalMs (0 stops). */
export interface BaselineHeartbeatCommand {
  type: "baseline-heartbeat";
  id: number;
  intervalMs: number;
  bytes: number;
}

export interface BaselineCloseCommand {
  type: "baseline-close";
  id: number;
}

export interface ExitCommand {
  type: "exit";
}

export type ParentToWorker =
  | WorkerInit
  | EnrollCommand
  | HeartbeatCommand
  | ArmCommand
  | CollectCommand
  | StatsCommand
  | CloseAllCommand
  | BaselineConnectCommand
  | BaselineHeartbeatCommand
  | BaselineCloseCommand
  | ExitCommand;

/**
 * Per-agent marks:
 * - `config`: receipt of a remote config with a new hash (epoch ms), and `configAck`: the reply
 *   to the APPLIED report for it;
 * - `back`: first reply on a new connection after the server closed the previous one;
 * - `broadcast`: (bare sockets) receipt of the next server message.
 */
export type Mark = "config" | "back" | "broadcast";

export interface EnrollResult {
  /** Epoch ms when each agent started its first connect. */
  startAt: number[];
  /** ms from start until the connection-settings offer arrived (-1 = never). */
  offerMs: number[];
  /** ms from start until the first remote config arrived on the xag_ connection (-1 = never). */
  configMs: number[];
  /** ms from start until the server answered the APPLIED report (-1 = never). */
  appliedMs: number[];
  failures: number;
  /** A few distinct error texts, for the report. */
  errors: string[];
  /** Bytes of the first remote-config frame received (to size the baseline broadcast). */
  configFrameBytes: number;
}

export interface MarkResult {
  what: Mark;
  /** Epoch ms per agent (0 = not reached). */
  at: number[];
  /** For `config`: epoch ms of the reply to APPLIED per agent (0 = not reached). */
  ackAt?: number[];
  /** For `back`: connection attempts per agent since arming. */
  attempts?: number[];
}

export interface WorkerStats {
  agents: number;
  /** Agents whose WebSocket is open now. */
  connected: number;
  heartbeatsSent: number;
  repliesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Upgrades answered 429/503 (Retry-After honoured). */
  throttled: number;
  /** Other failed connection attempts (refused, reset, 401, …). */
  connectFailures: number;
  /** Closes the agents did not initiate. */
  serverCloses: number;
  /** Replies carrying ReportFullState. */
  fullStateRequests: number;
  errorResponses: number;
  /** Bare sockets (baseline). */
  bare: { connected: number; sent: number; received: number };
  rssBytes: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  lastErrors: string[];
}

export interface BaselineConnectResult {
  startAt: number[];
  openMs: number[];
  failures: number;
  errors: string[];
}

export type WorkerToParent =
  | { type: "ready"; workerId: number }
  | { type: "reply"; id: number; ok: true; data: unknown }
  | { type: "reply"; id: number; ok: false; error: string }
  | { type: "done"; what: Mark; at: number }
  | { type: "log"; line: string };

/** Commands the baseline server (bench/baseline-server.ts) takes from the parent. */
export type ParentToBaseline =
  | { type: "broadcast"; id: number; bytes: number }
  | { type: "stats"; id: number }
  | { type: "gc"; id: number }
  | { type: "exit" };

export interface BaselineStats {
  connections: number;
  received: number;
  eventLoopLag: { p50Ms: number; p99Ms: number; maxMs: number };
}

export type BaselineToParent =
  | { type: "listening"; port: number }
  | { type: "reply"; id: number; data: unknown };
