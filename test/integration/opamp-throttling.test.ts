/**
 * Overload and shutdown answers at the upgrade: 429 / 503 with Retry-After, written before any
 * WebSocket exists (opamp-go honours Retry-After only for these two codes).
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
let token: string;

/** A WebSocket upgrade request; resolves with the HTTP status and headers of the answer. */
function upgrade(
  bearer: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port: srv.port,
      path: "/v1/opamp",
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": Buffer.from("0123456789abcdef").toString("base64"),
        Authorization: `Bearer ${bearer}`,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  // One database connection, so a test can hold it and make handshakes pile up.
  srv = await startTestServer({ env: { OPAMP_MAX_CONCURRENT_HANDSHAKES: "2", DB_POOL_MAX: "1" } });
  fleet = await createTenant(srv, "Throttling");
  token = (await fleet.enrollmentToken()).token;
});
afterAll(() => srv?.stop());

describe("upgrade throttling", () => {
  it("answers 429 with Retry-After when too many handshakes are in flight, and 101 to the rest", async () => {
    // Hold the only database connection for a moment: credential lookups wait, handshakes pile up.
    let release: () => void = () => undefined;
    const held = srv.ctx.database.db.transaction().execute(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    await new Promise((r) => setTimeout(r, 50));
    const pending = Array.from({ length: 40 }, () => upgrade(token));
    await new Promise((r) => setTimeout(r, 300));
    release();
    await held;
    const answers = await Promise.all(pending);
    const statuses = answers.map((a) => a.status);
    expect(statuses).toContain(101);
    expect(statuses).toContain(429);
    expect(statuses.every((s) => s === 101 || s === 429)).toBe(true);
    for (const a of answers.filter((x) => x.status === 429)) expect(a.headers["retry-after"]).toBe("2");
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/agentapi_auth_failures_total\{transport="opamp",reason="throttled"\} [1-9]/);
  });

  it("answers 503 with Retry-After while draining, then accepts again", async () => {
    srv.ctx.state.draining = true;
    try {
      const answer = await upgrade(token);
      expect(answer.status).toBe(503);
      expect(answer.headers["retry-after"]).toBe("5");
    } finally {
      srv.ctx.state.draining = false;
    }
    expect((await upgrade(token)).status).toBe(101);
  });
});
