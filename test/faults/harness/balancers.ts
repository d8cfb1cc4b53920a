/**
 * The load balancer a platform puts in front of replicas, without stickiness: every HTTP request
 * (a plain-HTTP agent's poll, a REST call) goes to the next backend in turn, and every WebSocket
 * upgrade to the next backend that accepts the connection. A backend that refuses (its process
 * was killed) is skipped, so its agents reconnect to a live replica.
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";

export class Balancer {
  /** Backend ports; set (or changed) by the test once the replicas listen. */
  backends: number[] = [];
  /** Requests and upgrades sent to each backend port. */
  readonly served = new Map<number, number>();
  #next = 0;
  readonly #tunnels = new Set<Duplex>();

  private constructor(readonly server: http.Server) {}

  static async start(): Promise<Balancer> {
    const server = http.createServer();
    const b = new Balancer(server);
    server.on("request", (req, res) => b.#forward(req, res, 0));
    server.on("upgrade", (req, socket, head) => b.#tunnel(req, socket, head, 0));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return b;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  #pick(): number {
    const port = this.backends[this.#next++ % this.backends.length] as number;
    this.served.set(port, (this.served.get(port) ?? 0) + 1);
    return port;
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse, tried: number, body?: Buffer): void {
    // The body is buffered so that a refused backend can be retried with it.
    if (body === undefined) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.#forward(req, res, tried, Buffer.concat(chunks)));
      return;
    }
    if (tried >= this.backends.length) {
      res.writeHead(502).end();
      return;
    }
    const upstream = http.request(
      {
        host: "127.0.0.1",
        port: this.#pick(),
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNREFUSED") this.#forward(req, res, tried + 1, body);
      else if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    upstream.end(body);
  }

  #tunnel(req: http.IncomingMessage, client: Duplex, head: Buffer, tried: number): void {
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.#pick(), "127.0.0.1");
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length) upstream.write(head);
      this.#tunnels.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.#tunnels.delete(client);
        this.#tunnels.delete(upstream);
      };
      client.on("close", close).on("error", close);
      upstream.on("close", close);
    });
    upstream.on("error", () => {
      if (!connected) this.#tunnel(req, client, head, tried + 1);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#tunnels) s.destroy();
    this.server.closeAllConnections();
    this.server.close();
  }
}
