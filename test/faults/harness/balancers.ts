/**
 * The load balancers in front of two replicas, as a platform would put them:
 * - `TcpBalancer`: each new TCP connection (a WebSocket) goes to the next backend that accepts
 *   it, so agents whose replica died reconnect to a live one;
 * - `HttpBalancer`: each HTTP request goes to the next backend in turn, no stickiness, so a
 *   plain-HTTP polling agent's polls land on alternate replicas.
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";

export class TcpBalancer {
  #next = 0;
  readonly #sockets = new Set<net.Socket>();

  private constructor(
    readonly server: net.Server,
    readonly backends: number[],
  ) {}

  static async start(backends: number[]): Promise<TcpBalancer> {
    const server = net.createServer();
    const b = new TcpBalancer(server, backends);
    server.on("connection", (client) => b.#route(client, 0));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return b;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  #route(client: net.Socket, tried: number): void {
    this.#sockets.add(client);
    client.once("close", () => this.#sockets.delete(client));
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const port = this.backends[this.#next++ % this.backends.length] as number;
    const upstream = net.connect(port, "127.0.0.1");
    let connected = false;
    client.pause();
    upstream.once("connect", () => {
      connected = true;
      this.#sockets.add(upstream);
      upstream.once("close", () => this.#sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.resume();
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.on("close", () => upstream.destroy());
    });
    upstream.once("error", () => {
      // A backend that refuses the connection is down: try the next one.
      if (!connected) this.#route(client, tried + 1);
      else client.destroy();
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.server.close();
  }
}

export class HttpBalancer {
  #next = 0;
  /** Requests sent to each backend port. */
  readonly served = new Map<number, number>();

  private constructor(
    readonly server: http.Server,
    readonly backends: number[],
  ) {}

  static async start(backends: number[]): Promise<HttpBalancer> {
    const server = http.createServer();
    const b = new HttpBalancer(server, backends);
    server.on("request", (req, res) => b.#forward(req, res));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return b;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const port = this.backends[this.#next++ % this.backends.length] as number;
    this.served.set(port, (this.served.get(port) ?? 0) + 1);
    const upstream = http.request(
      { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}
