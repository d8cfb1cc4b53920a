/**
 * What a test agent saw and did (every message both ways, connections, refusals, offers,
 * closes, protocol errors, an event log) and the waits tests put on it. TestAgent
 * (supervisor.ts) extends it and fills it in; nothing here talks to a server.
 */

import type {
  AgentToServer,
  OpAMPConnectionSettings,
  ServerToAgent,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { noop } from "./deferred.js";
import { describeAgentToServer, describeServerToAgent } from "./message-summaries.js";

/** A refused connection attempt: the upgrade answered non-101, or an HTTP poll answered non-200. */
export interface Refusal {
  status: number;
  endpoint: string;
  token: string;
}

/** An offer the agent did not act on, and why. */
export interface IgnoredOffer {
  settings: OpAMPConnectionSettings;
  reason: string;
}

const DEFAULT_WAIT_MS = 5_000;

export class AgentRecord {
  /** Every ServerToAgent received, in order (including ones arriving after a stop). */
  readonly received: ServerToAgent[] = [];
  /** Every AgentToServer sent, in order, across all client objects. */
  readonly sent: AgentToServer[] = [];
  /** Successful connections: WS upgrades, or the first HTTP 200 of a client (or after a failure). */
  connectionCount = 0;
  /** Called on every refused connection attempt (non-101 upgrade, non-200 HTTP). */
  onUpgradeRefused: ((status: number) => void) | undefined;
  /** The most recent refused connection attempt. */
  lastRefusal: Refusal | undefined;
  /** Every refused connection attempt. */
  readonly refusals: Refusal[] = [];
  /** Every OpAMP connection-settings offer received (followed or not). */
  readonly offers: OpAMPConnectionSettings[] = [];
  /** Offers acted on (stop + new client). */
  readonly followedOffers: OpAMPConnectionSettings[] = [];
  /** Offers not acted on, with the reason (no capability, following disabled, empty endpoint). */
  readonly ignoredOffers: IgnoredOffer[] = [];
  /** Closes the agent did not initiate (server close frame, or the connection dropping). */
  readonly serverCloses: { code: number; reason: string }[] = [];
  /** Protocol problems the agent noticed (text frame, undecodable message, …). */
  readonly protocolErrors: string[] = [];
  /** Human-readable log of what the agent did. */
  readonly events: string[] = [];
  /** Status and `Content-Encoding` of the last HTTP response (HTTP transport). */
  lastHttpResponse: { status: number; contentEncoding: string | undefined } | undefined;

  private readonly log: ((line: string) => void) | undefined;
  /** Background work (config applies, following an offer) still running. */
  private readonly background = new Set<Promise<unknown>>();
  private readonly watchers = new Set<() => void>();
  private closeCursor = 0;

  constructor(log: ((line: string) => void) | undefined) {
    this.log = log;
  }

  /** Resolves with the first received message (already received or future) matching `pred`. */
  waitFor(pred: (m: ServerToAgent) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<ServerToAgent> {
    return this.waitUntil(
      () => this.received.find(pred),
      timeoutMs,
      () => `a ServerToAgent matching ${pred.toString()}`,
    );
  }

  /** Like {@link waitFor}, but only messages received after this call count. */
  waitForNext(pred: (m: ServerToAgent) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<ServerToAgent> {
    const from = this.received.length;
    return this.waitUntil(
      () => this.received.slice(from).find(pred),
      timeoutMs,
      () => `a new ServerToAgent matching ${pred.toString()}`,
    );
  }

  /** Resolves with the first sent message (already sent or future) matching `pred`. */
  waitForSent(pred: (m: AgentToServer) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<AgentToServer> {
    return this.waitUntil(
      () => this.sent.find(pred),
      timeoutMs,
      () => `an AgentToServer matching ${pred.toString()}`,
    );
  }

  /** Resolves once {@link connectionCount} >= n. */
  async waitForConnection(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitUntil(
      () => (this.connectionCount >= n ? true : undefined),
      timeoutMs,
      () => `connection #${n} (have ${this.connectionCount})`,
    );
  }

  /**
   * Resolves with the next server-initiated close not yet returned by an earlier call (so a
   * close that happened just before the call is not missed).
   */
  async waitForClose(timeoutMs = DEFAULT_WAIT_MS): Promise<{ code: number; reason: string }> {
    const close = await this.waitUntil(
      () => this.serverCloses[this.closeCursor],
      timeoutMs,
      () => "the server to close the connection",
    );
    this.closeCursor++;
    return close;
  }

  /**
   * Waits until background work (config applies, following an offer) has finished. Rejects
   * after `timeoutMs`, e.g. when the server re-offers connection settings on every new
   * connection and the agent keeps switching (brief §4.3.7).
   */
  async settle(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitUntil(
      () => (this.background.size === 0 ? true : undefined),
      timeoutMs,
      () => `background work to finish (${this.background.size} pending)`,
    );
  }

  /** What the agent saw and did, for timeout messages. */
  summary(): string {
    const received = this.received.map((m, i) => `  #${i} ${describeServerToAgent(m)}`).join("\n");
    const sent = this.sent.map((m, i) => `  #${i} ${describeAgentToServer(m)}`).join("\n");
    const events = this.events
      .slice(-20)
      .map((e) => `  ${e}`)
      .join("\n");
    return [
      `received ${this.received.length}:`,
      received || "  (none)",
      `sent ${this.sent.length}:`,
      sent || "  (none)",
      `connections: ${this.connectionCount}; server closes: ${JSON.stringify(this.serverCloses)}; refusals: ${this.refusals.map((r) => r.status).join(",") || "none"}`,
      "recent events:",
      events || "  (none)",
    ].join("\n");
  }

  /** Counts `promise` as background work until it settles (see {@link settle}). */
  protected track(promise: Promise<unknown>): void {
    const tracked = promise.catch(noop).finally(() => {
      this.background.delete(tracked);
      this.poke();
    });
    this.background.add(tracked);
  }

  protected note(line: string): void {
    this.events.push(line);
    this.log?.(line);
  }

  /** Re-checks every pending wait; call after anything a wait may be waiting for. */
  protected poke(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  private waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
    const found = probe();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const watcher = (): void => {
        const value = probe();
        if (value === undefined) return;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(
          new Error(`TestAgent: timed out after ${timeoutMs} ms waiting for ${what()}\n${this.summary()}`),
        );
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }
}
