/**
 * The test agent's plain-HTTP transport client, as opamp-go's `httpClient` behaves on the wire:
 * each message is one POST of the bare protobuf with the client's headers and
 * `OpAMP-Instance-UID`, one request at a time and in order; the response body is the reply
 * (gzip inflated, as Go's transport does); a non-200 loses the message; and when nothing has
 * been sent for the polling interval, a poll goes out.
 */

import { type ClientRequest, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { gunzipSync } from "node:zlib";
import type { AgentToServer, ServerToAgent } from "../../../src/gen/opamp/v1/opamp_pb.js";
import { decodeServerToAgentBody, encodeAgentToServerBody } from "./agent-wire.js";
import { deferred, noop } from "./deferred.js";
import { ConnectionRefusedError, type TransportClient, type TransportEvents } from "./transport.js";

export interface HttpClientOptions {
  /** The client object's number, for error messages. */
  id: number;
  endpoint: string;
  headers: Readonly<Record<string, string>>;
  /** The instance UID as text, read for every request (the server may assign a new one). */
  instanceUid: () => string;
  pollIntervalMs: number;
  /** Send `agent_disconnect` in a last POST on a graceful stop (opamp-go v0.23.0 does not). */
  sendsAgentDisconnect: boolean;
  events: TransportEvents;
}

interface HttpResponse {
  status: number;
  body: Uint8Array;
  contentEncoding: string | undefined;
}

export class HttpClient implements TransportClient {
  readonly kind = "http";
  private readonly opts: HttpClientOptions;
  private readonly events: TransportEvents;
  private isActive = true;
  private started = false;
  /** A 200 was seen since the last failure (for the agent's connection count). */
  private ok = false;
  /** Requests run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private request: ClientRequest | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(opts: HttpClientOptions) {
    this.opts = opts;
    this.events = opts.events;
  }

  get active(): boolean {
    return this.isActive;
  }

  get canSend(): boolean {
    return this.started;
  }

  get isConnected(): boolean {
    return this.started && this.ok;
  }

  async start(): Promise<void> {
    this.started = true;
    await this.events.sendNext();
  }

  /** One POST round trip, queued behind earlier ones (opamp-go waits for each response). */
  exchange(msg: AgentToServer): Promise<ServerToAgent> {
    const reply = deferred<ServerToAgent>();
    this.queued++;
    this.queue = this.queue.then(async () => {
      this.queued--;
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
      if (!this.isActive && !msg.agentDisconnect) {
        reply.reject(new Error(`client #${this.opts.id} stopped`));
        return;
      }
      try {
        const res = await this.post(encodeAgentToServerBody(msg));
        this.events.httpResponse(res.status, res.contentEncoding);
        if (res.status !== 200) {
          // opamp-go: "invalid response from server: N"; the message is lost, the next poll retries.
          this.ok = false;
          this.events.refused(res.status);
          reply.reject(new ConnectionRefusedError(res.status, this.opts.endpoint));
          return;
        }
        if (!this.ok) {
          this.ok = true;
          this.events.connected();
        }
        let decoded: ServerToAgent;
        try {
          decoded = decodeServerToAgentBody(res.body);
        } catch (err) {
          this.events.protocolError(`undecodable ServerToAgent: ${(err as Error).message}`);
          reply.reject(err as Error);
          return;
        }
        this.events.received(decoded);
        reply.resolve(decoded);
      } catch (err) {
        this.ok = false;
        this.events.note(`HTTP request failed: ${(err as Error).message}`);
        reply.reject(err as Error);
      } finally {
        this.armPoll();
      }
    });
    return reply.promise;
  }

  /** opamp-go's HTTP client just stops polling, unless `sendsAgentDisconnect`. */
  async stop(goodbye: (() => AgentToServer) | undefined): Promise<void> {
    if (goodbye && this.opts.sendsAgentDisconnect && this.started) {
      await this.exchange(goodbye()).catch(noop);
    }
    this.deactivate();
    this.request?.destroy();
  }

  deactivate(): void {
    this.isActive = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.events.deactivated();
  }

  private armPoll(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    if (!this.isActive || this.queued > 0) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      // A poll is a message with nothing but the header fields (plus anything pending).
      if (this.isActive && this.queued === 0) this.events.sendNext().catch(noop);
    }, this.opts.pollIntervalMs);
  }

  private post(body: Uint8Array): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const url = new URL(this.opts.endpoint);
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: "POST",
          headers: {
            ...this.opts.headers,
            "Content-Type": "application/x-protobuf",
            // Go's http.Transport adds this itself and then inflates the response transparently.
            "Accept-Encoding": "gzip",
            "OpAMP-Instance-UID": this.opts.instanceUid(),
            "Content-Length": String(body.byteLength),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const encoding = res.headers["content-encoding"];
            try {
              const raw = Buffer.concat(chunks);
              const data = encoding === "gzip" ? gunzipSync(raw) : raw;
              resolve({ status: res.statusCode ?? 0, body: new Uint8Array(data), contentEncoding: encoding });
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      this.request = req;
      req.on("error", reject);
      req.end(body);
    });
  }
}
