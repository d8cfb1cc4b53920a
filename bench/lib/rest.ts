/**
 * A small keep-alive HTTP client for the REST API (node:http with a keep-alive Agent: one TCP
 * connection per concurrent lane, no per-request handshake), timing every request.
 */
import { Agent, request } from "node:http";

export interface RestResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field by the scenarios.
  body: any;
  ms: number;
  bytes: number;
}

export class RestClient {
  readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    maxSockets = 16,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  call(method: string, path: string, body?: unknown): Promise<RestResponse> {
    const url = new URL(path, this.baseUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<RestResponse>((resolve, reject) => {
      const started = performance.now();
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            Authorization: `Bearer ${this.token}`,
            Accept: "application/json",
            ...(payload
              ? { "Content-Type": "application/json", "Content-Length": String(payload.length) }
              : {}),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const ms = performance.now() - started;
            const raw = Buffer.concat(chunks);
            let parsed: unknown = null;
            if (raw.length > 0) {
              try {
                parsed = JSON.parse(raw.toString("utf8"));
              } catch {
                parsed = raw.toString("utf8");
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, ms, bytes: raw.length });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Like call(), but throws unless the status is one of `ok`. */
  async expect(method: string, path: string, body: unknown, ok: number[]): Promise<RestResponse> {
    const res = await this.call(method, path, body);
    if (!ok.includes(res.status)) {
      throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
    }
    return res;
  }

  close(): void {
    this.agent.destroy();
  }
}
