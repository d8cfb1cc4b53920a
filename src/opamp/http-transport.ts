/**
 * OpAMP over plain HTTP: each POST carries one AgentToServer (no header byte) and gets one
 * ServerToAgent back, always with 200 (closing without an answer shows up as EOF errors in
 * clients). A run of polls with the same uid and credential forms one session; pushes wait for
 * the next poll. A poll with another credential starts another session, which replaces the older
 * one only once it holds the agent (ConnectionRegistry): a clone polling with the enrollment token
 * under a uid in use does not end the session of the agent that uses it. Request bodies may be gzip-compressed; answers are gzipped when the client accepts it.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import type { Clock, ClockTimer } from "../clock.js";
import type { Liveness } from "../fleet/agents/liveness.js";
import type { AgentRef } from "../fleet/agents/sessions.js";
import type { ConnectionAuth } from "../fleet/agents/types.js";
import type { ServerToAgent } from "../gen/opamp/v1/opamp_pb.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import {
  decodeAgentToServerBody,
  encodeServerToAgentBody,
  instanceUidToString,
  isPlainAck,
} from "./codec.js";
import { badRequest, unavailable } from "./errors.js";
import type { AgentEndpoint, ConnectionRegistry } from "./registry.js";
import { AgentSession, type SessionDeps } from "./session.js";

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

export interface HttpTransportOptions {
  maxMessageBytes: number;
  heartbeatIntervalSeconds: number;
}

/** How often HTTP sessions are checked for agents that stopped polling. */
const SWEEP_EVERY_MS = 5_000;

interface HttpSession {
  /** Its key in the session map: tenant, uid and credential. */
  key: string;
  session: AgentSession;
  endpoint: AgentEndpoint;
  credential: string;
  lastPollAt: number;
  pending: ServerToAgent[];
  queue: Promise<unknown>;
}

function credentialOf(auth: ConnectionAuth): string {
  return auth.kind === "agent" ? `agent:${auth.keyId}` : `enrollment:${auth.tokenId}`;
}

/** Copies every set field of `from` into `into` (a later push wins over an earlier one). */
function mergeInto(into: ServerToAgent, from: ServerToAgent): void {
  if (from.remoteConfig) into.remoteConfig = from.remoteConfig;
  if (from.connectionSettings) into.connectionSettings = from.connectionSettings;
  if (from.agentIdentification) into.agentIdentification = from.agentIdentification;
  into.flags |= from.flags;
}

/**
 * The answer to a poll: the reply with the pushes waiting for it. A command cannot share a
 * message (the agent would drop everything else): it is the answer only when the reply carries
 * nothing of its own, and otherwise waits for the next poll (`pending` keeps it).
 */
function answerWith(reply: ServerToAgent, pending: ServerToAgent[]): ServerToAgent {
  const pushes = pending.splice(0);
  const command = pushes.find((m) => m.command);
  for (const pushed of pushes) if (!pushed.command) mergeInto(reply, pushed);
  if (!command) return reply;
  if (isPlainAck(reply) && !reply.errorResponse) return command;
  pending.push(command);
  return reply;
}

export class HttpTransport {
  readonly #sessions = new Map<string, HttpSession>();
  readonly #sweeper: ClockTimer;

  constructor(
    private readonly sessionDeps: SessionDeps,
    private readonly registry: ConnectionRegistry,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    private readonly options: HttpTransportOptions,
  ) {
    this.#sweeper = clock.setInterval(() => this.#sweep(), SWEEP_EVERY_MS);
  }

  /** Serves one authenticated POST /v1/opamp. */
  async serve(req: IncomingMessage, res: ServerResponse, auth: ConnectionAuth): Promise<void> {
    let body: Buffer;
    try {
      body = await this.#readBody(req);
    } catch (err) {
      const tooLarge = err instanceof Error && err.message === "too large";
      res
        .writeHead(tooLarge ? 413 : 400, { "Content-Type": "text/plain" })
        .end(tooLarge ? "message too large" : "bad body");
      return;
    }
    const decoded = decodeAgentToServerBody(body, { maxBytes: this.options.maxMessageBytes });
    if (!decoded.ok) {
      this.metrics.opampRejected(decoded.reason);
      res.writeHead(decoded.reason === "too_large" ? 413 : 400, { "Content-Type": "text/plain" });
      res.end(`undecodable AgentToServer: ${decoded.detail}`);
      return;
    }
    const msg = decoded.message;
    const uid = instanceUidToString(msg.instanceUid);
    let reply: ServerToAgent;
    if (uid === null) {
      this.metrics.opampRejected("bad_instance_uid");
      reply = badRequest(
        new Uint8Array(msg.instanceUid),
        "instance_uid must be 16 bytes (UUID), or a 26-character ULID",
      );
    } else {
      const entry = this.#sessionFor({ tenantId: auth.tenantId, instanceUid: uid }, auth);
      entry.lastPollAt = this.clock.now();
      const run = entry.queue.then(async () => {
        const result = await this.registry.handle(entry.endpoint, msg);
        const answer = answerWith(result.reply, entry.pending);
        if (result.disconnected) this.#drop(entry, "agent_disconnect");
        return answer;
      });
      entry.queue = run.catch(() => undefined);
      try {
        reply = await run;
      } catch (err) {
        // As on the WebSocket transport: a transient failure (the database pool timing out under a
        // storm) is an Unavailable answer with a retry hint, always with HTTP 200 (an HTTP error
        // shows up as a failed poll in clients, and they retry at once).
        this.logger.error(
          { err, tenantId: auth.tenantId, instanceUid: uid },
          "OpAMP message handling failed",
        );
        reply = unavailable(
          new Uint8Array(msg.instanceUid),
          "the server could not process this message; try later",
        );
      }
    }
    const payload = Buffer.from(encodeServerToAgentBody(reply));
    const acceptsGzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const headers: Record<string, string> = { "Content-Type": "application/x-protobuf" };
    let out = payload;
    if (acceptsGzip) {
      out = await gzipAsync(payload);
      headers["Content-Encoding"] = "gzip";
    }
    headers["Content-Length"] = String(out.length);
    res.writeHead(200, headers).end(out);
  }

  #sessionFor(ref: AgentRef, auth: ConnectionAuth): HttpSession {
    const credential = credentialOf(auth);
    const key = `${ref.tenantId}/${ref.instanceUid}/${credential}`;
    const existing = this.#sessions.get(key);
    if (existing && existing.session.state !== "closed") return existing;
    const session = new AgentSession(auth, randomUUID(), "http", this.sessionDeps);
    const entry: HttpSession = {
      key,
      session,
      credential,
      lastPollAt: this.clock.now(),
      pending: [],
      queue: Promise.resolve(),
      endpoint: {
        session,
        push: (msg) => {
          entry.pending.push(msg);
        },
        close: () => this.#drop(entry, "closed_by_server"),
      },
    };
    this.#sessions.set(key, entry);
    this.metrics.opampConnect("http", auth.kind);
    return entry;
  }

  #drop(entry: HttpSession, reason: string): void {
    if (this.#sessions.get(entry.key) === entry) this.#sessions.delete(entry.key);
    const ref = entry.session.ref;
    if (ref) this.registry.release(ref, entry.endpoint);
    this.metrics.opampDisconnect("http", reason);
    entry.queue = entry.queue
      .then(() => entry.session.end(reason))
      .catch((err: unknown) => this.logger.warn({ err }, "ending HTTP session failed"));
  }

  /**
   * HTTP agents have no socket to lose: a session ends when its agent has been silent for longer
   * than the liveness rule allows (the agent shows offline from then on either way).
   */
  #sweep(): void {
    const limit = this.liveness.silenceAllowedMs(this.options.heartbeatIntervalSeconds);
    const now = this.clock.now();
    for (const entry of [...this.#sessions.values()]) {
      if (now - entry.lastPollAt > limit) this.#drop(entry, "poll_timeout");
    }
  }

  async #readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.options.maxMessageBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) throw new Error("too large");
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    if (String(req.headers["content-encoding"] ?? "").toLowerCase() === "gzip") {
      // The limit applies after decompression too (spec), so a gzip bomb is refused.
      return gunzipAsync(raw, { maxOutputLength: max }).catch((err: unknown) => {
        throw new Error(
          (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" ? "too large" : "bad gzip",
        );
      });
    }
    return raw;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  async stop(): Promise<void> {
    this.#sweeper.cancel();
    const entries = [...this.#sessions.values()];
    for (const entry of entries) this.#drop(entry, "server_stopping");
    await Promise.all(entries.map((e) => e.queue));
  }
}
