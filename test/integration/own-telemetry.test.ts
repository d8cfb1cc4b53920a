/**
 * Own telemetry (issue 13): a tenant sets where its collectors send their own metrics, logs and
 * traces; agents that report the matching capability are offered it in
 * `connection_settings.own_*`, with secret headers resolved, live on a change and again on their
 * next connection, never in a loop and never beside the OpAMP key offer.
 */
import fc from "fast-check";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerToAgent } from "../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability } from "../../src/opamp/codec.js";
import { testDatabaseKind } from "../helpers/database.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import { SUPERVISOR_CAPABILITIES } from "../helpers/opamp/agent-wire.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { SwitchableKms } from "../helpers/switchable-kms.js";
import { explicitKms } from "../helpers/test-kms.js";

const OWN_METRICS = SUPERVISOR_CAPABILITIES | AgentCapability.ReportsOwnMetrics;
const OWN_ALL = OWN_METRICS | AgentCapability.ReportsOwnLogs | AgentCapability.ReportsOwnTraces;
const API_KEY = "xs-own-telemetry-key-7c1d9e04b2";
const METRICS_URL = "https://otlp.example.com/v1/metrics";
const LOGS_URL = "https://otlp.example.com/v1/logs";
/** A collector config expansion, `$` + `{env:HOME}` (the collector would replace it). */
const EXPANSION = ["$", "{env:HOME}"].join("");

let srv: TestServer;
let kms: SwitchableKms;
const tenants: TenantFixture[] = [];

beforeAll(async () => {
  kms = new SwitchableKms(await explicitKms());
  srv = await startTestServer({ kms, env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
});
afterEach(async () => {
  kms.down = false;
  for (const f of tenants) await f.stopAgents();
});
afterAll(() => srv?.stop());

async function tenant(name: string) {
  const fleet = await createTenant(srv, name);
  tenants.push(fleet);
  const t = (path: string) => `/api/v1/tenants/${fleet.tenantId}${path}`;
  return { fleet, t, api: fleet.api };
}

/** A tenant with the API key as a secret and metrics (+ logs) going to the platform. */
async function configured(name: string, withLogs = false) {
  const c = await tenant(name);
  expect((await c.api.put(c.t("/secrets/xscaler_api_key"), { value: API_KEY })).status).toBe(201);
  const metrics = {
    endpoint: METRICS_URL,
    headers: { "x-scope-orgid": "acme", authorization: { secret: "xscaler_api_key", prefix: "Bearer " } },
  };
  const body = withLogs ? { metrics, logs: { ...metrics, endpoint: LOGS_URL } } : { metrics };
  expect((await c.api.put(c.t("/own-telemetry"), body)).status).toBe(201);
  return c;
}

function ownOffers(agent: TestAgent): ServerToAgent[] {
  return agent.received.filter(
    (m) =>
      m.connectionSettings?.ownMetrics || m.connectionSettings?.ownLogs || m.connectionSettings?.ownTraces,
  );
}

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString("hex");

async function rowsOf(tenantId: string): Promise<{ own: number; audit: number }> {
  const { db } = srv.ctx.database;
  const own = await sql<{ n: number }>`select count(*)::int as n from tenant_own_telemetry
    where tenant_id = ${tenantId}`.execute(db);
  const audit = await sql<{ n: number }>`select count(*)::int as n from audit_events
    where tenant_id = ${tenantId} and action like 'own_telemetry.%'`.execute(db);
  return { own: own.rows[0]?.n ?? -1, audit: audit.rows[0]?.n ?? -1 };
}

describe("the own-telemetry resource", () => {
  it("stores endpoints, plain headers and secret references, and answers them with an ETag", async () => {
    const c = await configured("Own CRUD");
    const got = await c.api.get(c.t("/own-telemetry"));
    expect(got.status).toBe(200);
    expect(got.body).toEqual({
      metrics: {
        endpoint: METRICS_URL,
        headers: { authorization: { secret: "xscaler_api_key", prefix: "Bearer " }, "x-scope-orgid": "acme" },
      },
      logs: null,
      traces: null,
      updatedAt: expect.any(String),
      updatedBy: expect.any(String),
    });
    const etag = got.headers.get("etag") ?? "";
    expect(etag).toMatch(/^W\/".+"$/);

    // The same settings again: 200, unchanged, no audit row.
    const same = await c.api.put(c.t("/own-telemetry"), { metrics: got.body.metrics });
    expect(same.status).toBe(200);
    expect(same.headers.get("etag")).toBe(etag);
    expect((await rowsOf(c.fleet.tenantId)).audit).toBe(1);

    const traces = { endpoint: "http://127.0.0.1:4318/v1/traces", headers: {} };
    const stale = await c.api.put(
      c.t("/own-telemetry"),
      { traces },
      { headers: { "if-match": 'W/"stale"' } },
    );
    expect(stale.status).toBe(412);
    expect((await c.api.get(c.t("/own-telemetry"))).body.traces).toBeNull();
    const replaced = await c.api.put(c.t("/own-telemetry"), { traces }, { headers: { "if-match": etag } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ metrics: null, logs: null, traces });

    const now = replaced.headers.get("etag") ?? "";
    expect((await c.api.delete(c.t("/own-telemetry"), { headers: { "if-match": etag } })).status).toBe(412);
    expect((await c.api.delete(c.t("/own-telemetry"), { headers: { "if-match": now } })).status).toBe(204);
    expect((await c.api.get(c.t("/own-telemetry"))).status).toBe(404);
    expect((await c.api.delete(c.t("/own-telemetry"))).status).toBe(404);
    // Created again after a delete.
    expect((await c.api.put(c.t("/own-telemetry"), { traces })).status).toBe(201);

    const audit = await c.api.get(c.t("/audit-events?limit=50"));
    const actions = audit.body.items
      .map((e: { action: string }) => e.action)
      .filter((a: string) => a.startsWith("own_telemetry."));
    expect(actions).toEqual([
      "own_telemetry.create",
      "own_telemetry.delete",
      "own_telemetry.update",
      "own_telemetry.create",
    ]);
    const created = audit.body.items.find((e: { action: string }) => e.action === "own_telemetry.create");
    expect(created.target).toEqual({ type: "own_telemetry", id: c.fleet.tenantId });
    const text = JSON.stringify(audit.body);
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain("acme");
  });

  it("lets viewers read, editors write, and hides the settings from other tenants", async () => {
    const c = await configured("Own Roles");
    const key = async (role: string) =>
      (await c.api.post(c.t("/api-keys"), { name: `${role}-key`, role })).body.key as string;
    const viewer = apiClient(srv.url, await key("viewer"));
    const editor = apiClient(srv.url, await key("editor"));
    expect((await viewer.get(c.t("/own-telemetry"))).status).toBe(200);
    const before = await rowsOf(c.fleet.tenantId);
    const denied = await viewer.put(c.t("/own-telemetry"), { logs: { endpoint: LOGS_URL } });
    expect(denied.status).toBe(403);
    expect((await viewer.delete(c.t("/own-telemetry"))).status).toBe(403);
    expect(await rowsOf(c.fleet.tenantId)).toEqual(before);
    expect((await editor.put(c.t("/own-telemetry"), { logs: { endpoint: LOGS_URL } })).status).toBe(200);

    const other = await tenant("Own Roles Other");
    const otherAdmin = apiClient(
      srv.url,
      (await other.api.post(other.t("/api-keys"), { name: "admin", role: "admin" })).body.key,
    );
    expect((await otherAdmin.get(c.t("/own-telemetry"))).status).toBe(404);
    expect((await otherAdmin.put(c.t("/own-telemetry"), { logs: { endpoint: LOGS_URL } })).status).toBe(404);
  });

  it("refuses bad settings with the field path and stores nothing", async () => {
    const c = await tenant("Own Refusals");
    await c.api.put(c.t("/secrets/known"), { value: "known-value" });
    const m = (endpoint: string, headers: Record<string, unknown> = {}) => ({
      metrics: { endpoint, headers },
    });
    const cases: Array<[string, unknown, number, string | undefined]> = [
      [
        "an unknown secret",
        m(METRICS_URL, { authorization: { secret: "nope" } }),
        422,
        "metrics.headers.authorization.secret",
      ],
      ["a relative endpoint", m("/v1/metrics"), 422, "metrics.endpoint"],
      ["an endpoint without a scheme", m("otlp.example.com:4318/v1/metrics"), 422, "metrics.endpoint"],
      ["an ftp endpoint", { logs: { endpoint: "ftp://example.com/v1/logs" } }, 422, "logs.endpoint"],
      ["credentials in the URL", m("https://user:pw@example.com/v1/metrics"), 422, "metrics.endpoint"],
      [
        "an expansion in the URL",
        m(`https://example.com/v1/metrics?x=${EXPANSION}`),
        422,
        "metrics.endpoint",
      ],
      ["a bad header name", m(METRICS_URL, { "bad name": "x" }), 422, "metrics.headers.bad name"],
      [
        "a plain credential",
        m(METRICS_URL, { Authorization: "Bearer plain" }),
        422,
        "metrics.headers.Authorization",
      ],
      ["a quote in a value", m(METRICS_URL, { "x-org": 'a"b' }), 422, "metrics.headers.x-org"],
      ["a line break in a value", m(METRICS_URL, { "x-org": "a\nb" }), 422, "metrics.headers.x-org"],
      ["an expansion in a value", m(METRICS_URL, { "x-org": EXPANSION }), 422, "metrics.headers.x-org"],
      [
        "a bad prefix",
        m(METRICS_URL, { authorization: { secret: "known", prefix: "a\\b" } }),
        422,
        "metrics.headers.authorization.prefix",
      ],
      ["one header twice", m(METRICS_URL, { "X-Org": "a", "x-org": "b" }), 422, "metrics.headers.x-org"],
      [
        "too many headers",
        m(METRICS_URL, Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`h${i}`, "v"]))),
        422,
        "metrics.headers",
      ],
      ["no signal", {}, 422, ""],
      ["an unknown field", { ...m(METRICS_URL), profiles: {} }, 400, undefined],
      ["a number as a header", m(METRICS_URL, { "x-org": 7 }), 400, undefined],
    ];
    for (const [what, body, status, path] of cases) {
      const res = await c.api.put(c.t("/own-telemetry"), body);
      expect(res.status, what).toBe(status);
      if (path !== undefined)
        expect(
          res.body.issues.map((i: { path: string }) => i.path),
          what,
        ).toContain(path);
    }
    expect(await rowsOf(c.fleet.tenantId)).toEqual({ own: 0, audit: 0 });
  });

  it("keeps a referenced secret from being deleted unless forced; forced, nothing is offered", async () => {
    const c = await configured("Own Secret Delete");
    const refused = await c.api.delete(c.t("/secrets/xscaler_api_key"));
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/own-telemetry settings/);
    expect((await c.api.get(c.t("/secrets/xscaler_api_key"))).status).toBe(200);
    expect((await c.api.delete(c.t("/secrets/xscaler_api_key?force=true"))).status).toBe(204);
    const agent = await c.fleet.enrolledAgent({ capabilities: OWN_METRICS });
    await agent.heartbeat();
    expect(ownOffers(agent)).toEqual([]);
    expect(srv.logs()).toContain("own telemetry not offered: the secret it references no longer exists");
  });

  it("accepts an endpoint or header value only when the supervisor can carry it safely", async () => {
    const c = await tenant("Own Property");
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), fc.string({ maxLength: 20 }), async (path, value) => {
        const res = await c.api.put(c.t("/own-telemetry"), {
          traces: { endpoint: `https://example.com/${path}`, headers: { "x-v": value } },
        });
        expect([200, 201, 422]).toContain(res.status);
        if (res.status === 422) return;
        const stored = res.body.traces;
        expect(new URL(stored.endpoint).protocol).toBe("https:");
        expect(stored.endpoint).not.toMatch(/[\s"\\$#]/);
        expect(stored.headers["x-v"]).toMatch(/^[\x20-\x7e]*$/);
        expect(stored.headers["x-v"]).not.toMatch(/["\\$]/);
      }),
      { numRuns: 60 },
    );
  });
});

describe("offering own telemetry to agents", () => {
  it("offers each signal, secrets resolved, only to agents that report its capability", async () => {
    const c = await configured("Own Offer", true);
    const metricsOnly = await c.fleet.enrolledAgent({ capabilities: OWN_METRICS });
    const all = await c.fleet.enrolledAgent({ capabilities: OWN_ALL });
    const none = await c.fleet.enrolledAgent();

    const expected = {
      endpoint: METRICS_URL,
      headers: { authorization: `Bearer ${API_KEY}`, "x-scope-orgid": "acme" },
    };
    await eventually(async () => (metricsOnly.ownTelemetry.offers.length > 0 ? true : undefined));
    expect(metricsOnly.ownTelemetry.state).toEqual({ metrics: expected });
    const [offer] = ownOffers(metricsOnly);
    expect(offer?.connectionSettings?.ownLogs).toBeUndefined();
    expect(offer?.connectionSettings?.ownTraces).toBeUndefined();
    // Never beside the key offer, and never on the enrollment connection that is about to end.
    expect(offer?.connectionSettings?.opamp).toBeUndefined();
    expect(ownOffers(metricsOnly)).toHaveLength(1);
    expect(metricsOnly.offers).toHaveLength(1);
    expect(metricsOnly.connectionCount).toBe(2);
    expect(offer?.connectionSettings?.hash).toHaveLength(32);

    await eventually(async () => (all.ownTelemetry.offers.length > 0 ? true : undefined));
    expect(all.ownTelemetry.state).toEqual({ metrics: expected, logs: { ...expected, endpoint: LOGS_URL } });
    // Traces are not set: offered empty, which tells the agent not to send any.
    expect(ownOffers(all)[0]?.connectionSettings?.ownTraces?.destinationEndpoint).toBe("");

    await none.heartbeat();
    expect(ownOffers(none)).toEqual([]);
    expect(none.received.filter((m) => m.connectionSettings && !m.connectionSettings.opamp)).toEqual([]);
  });

  it("re-offers a change live with a new hash, once, and the same settings on a new connection", async () => {
    const c = await configured("Own Live");
    const agent = await c.fleet.enrolledAgent({ capabilities: OWN_METRICS });
    await eventually(async () => (agent.ownTelemetry.offers.length === 1 ? true : undefined));
    const first = hex(ownOffers(agent)[0]?.connectionSettings?.hash);

    const since = agent.received.length;
    const put = await c.api.put(c.t("/own-telemetry"), {
      metrics: {
        endpoint: METRICS_URL,
        headers: { "x-scope-orgid": "acme-2", authorization: { secret: "xscaler_api_key" } },
      },
    });
    expect(put.status).toBe(200);
    const pushed = await agent.waitFor(
      (m) => agent.received.indexOf(m) >= since && !!m.connectionSettings?.ownMetrics,
    );
    expect(pushed.connectionSettings?.opamp).toBeUndefined();
    expect(hex(pushed.connectionSettings?.hash)).not.toBe(first);
    expect(agent.ownTelemetry.state.metrics?.headers).toEqual({
      authorization: API_KEY,
      "x-scope-orgid": "acme-2",
    });

    // A secret's new value is a change too.
    await c.api.put(c.t("/secrets/xscaler_api_key"), { value: `${API_KEY}-v2` });
    await eventually(async () =>
      agent.ownTelemetry.state.metrics?.headers.authorization === `${API_KEY}-v2` ? true : undefined,
    );
    const settled = ownOffers(agent).length;
    expect(settled).toBe(3);
    expect(new Set(ownOffers(agent).map((m) => hex(m.connectionSettings?.hash))).size).toBe(3);

    // No loop: heartbeats, an unchanged PUT and an unrelated secret bring no offer.
    const unchanged = await c.api.put(c.t("/own-telemetry"), {
      metrics: (await c.api.get(c.t("/own-telemetry"))).body.metrics,
    });
    expect(unchanged.status).toBe(200);
    await c.api.put(c.t("/secrets/unrelated"), { value: "unrelated-value" });
    for (let i = 0; i < 3; i++) await agent.heartbeat();
    await new Promise((r) => setTimeout(r, 1_200));
    expect(ownOffers(agent)).toHaveLength(settled);
    expect(agent.connectionCount).toBe(2);

    // Next connection: offered again with the same hash; the collector does not restart for it.
    const restarts = agent.ownTelemetry.restarts;
    await agent.restart();
    await agent.waitForConnection(4);
    await agent.settle();
    await eventually(async () => (ownOffers(agent).length === settled + 1 ? true : undefined));
    const again = ownOffers(agent).at(-1);
    expect(hex(again?.connectionSettings?.hash)).toBe(
      hex(ownOffers(agent)[settled - 1]?.connectionSettings?.hash),
    );
    expect(agent.ownTelemetry.restarts).toBe(restarts);
  });

  it("offers it to a plain-HTTP agent at its next poll, and to an agent once it reports the capability", async () => {
    const c = await configured("Own HTTP");
    const polling = await c.fleet.enrolledAgent({
      url: c.fleet.opampHttpUrl,
      capabilities: OWN_METRICS,
      pollIntervalMs: 100,
    });
    await eventually(async () => (polling.ownTelemetry.state.metrics ? true : undefined));
    await c.api.put(c.t("/own-telemetry"), { metrics: { endpoint: LOGS_URL.replace("logs", "metrics2") } });
    await eventually(async () =>
      polling.ownTelemetry.state.metrics?.endpoint === "https://otlp.example.com/v1/metrics2"
        ? true
        : undefined,
    );
    expect(polling.connectionCount).toBe(2);

    // Reports the capability only later (a supervisor config change without a restart): offered then.
    const late = await c.fleet.enrolledAgent();
    expect(ownOffers(late)).toEqual([]);
    const reply = await late.send({ capabilities: OWN_METRICS | AgentCapability.ReportsStatus });
    expect(reply.connectionSettings?.ownMetrics?.destinationEndpoint).toBe(
      "https://otlp.example.com/v1/metrics2",
    );
    expect(reply.connectionSettings?.opamp).toBeUndefined();
  });

  it("tells agents to stop after a DELETE, now and when they come back; never-configured tenants offer nothing", async () => {
    const c = await configured("Own Delete");
    const agent = await c.fleet.enrolledAgent({ capabilities: OWN_ALL });
    await eventually(async () => (agent.ownTelemetry.state.metrics ? true : undefined));
    expect((await c.api.delete(c.t("/own-telemetry"))).status).toBe(204);
    await eventually(async () => (agent.ownTelemetry.offers.length === 2 ? true : undefined));
    expect(agent.ownTelemetry.state).toEqual({});
    const off = ownOffers(agent)[1]?.connectionSettings;
    expect([off?.ownMetrics, off?.ownLogs, off?.ownTraces].map((s) => s?.destinationEndpoint)).toEqual([
      "",
      "",
      "",
    ]);

    const late = await c.fleet.enrolledAgent({ capabilities: OWN_ALL });
    await eventually(async () => (late.ownTelemetry.offers.length === 1 ? true : undefined));
    expect(late.ownTelemetry.state).toEqual({});

    const never = await tenant("Own Never");
    const quiet = await never.fleet.enrolledAgent({ capabilities: OWN_ALL });
    await quiet.heartbeat();
    expect(ownOffers(quiet)).toEqual([]);
  });

  it("offers nothing while the KMS cannot decrypt the secret, and the settings once it can", async () => {
    const c = await configured("Own KMS");
    // A fresh version while the KMS is up: no data key of it is cached when the KMS goes down.
    await c.api.put(c.t("/secrets/xscaler_api_key"), { value: `${API_KEY}-kms` });
    kms.down = true;
    const agent = await c.fleet.enrolledAgent({ capabilities: OWN_METRICS });
    await agent.heartbeat();
    expect(ownOffers(agent)).toEqual([]);
    expect(srv.logs()).toContain("own telemetry not offered now: a secret cannot be decrypted");
    kms.down = false;
    await eventually(
      async () =>
        agent.ownTelemetry.state.metrics?.headers.authorization === `Bearer ${API_KEY}-kms`
          ? true
          : undefined,
      10_000,
      "the offer after the KMS came back",
    );
    expect(ownOffers(agent)).toHaveLength(1);
  });

  it("never writes a secret value to an answer, a log line or a row", async () => {
    const c = await configured("Own Leaks");
    const agent = await c.fleet.enrolledAgent({ capabilities: OWN_METRICS });
    await eventually(async () => (agent.ownTelemetry.state.metrics ? true : undefined));
    // The supervisor reports its effective config, own-telemetry headers included: stored masked.
    await agent.reportEffectiveConfig(
      `service:\n  telemetry:\n    metrics:\n      readers:\n        - periodic:\n            exporter:\n              otlp:\n                headers:\n                  "authorization": "Bearer ${API_KEY}"\n`,
    );
    const view = await eventually(async () => {
      const a = await c.api.get(c.t(`/agents/${agent.instanceUidString}`));
      return a.body.effectiveConfig ? a.body : undefined;
    });
    expect(JSON.stringify(view.effectiveConfig)).toContain("[REDACTED]");
    const answers = [
      view,
      (await c.api.get(c.t("/own-telemetry"))).body,
      (await c.api.get(c.t("/audit-events?limit=100"))).body,
    ];
    expect(JSON.stringify(answers)).not.toContain(API_KEY);
    expect(srv.logs()).not.toContain(API_KEY);
    const { db } = srv.ctx.database;
    for (const table of ["tenant_own_telemetry", "audit_events", "fleet_events", "agents"]) {
      const rows = await sql`select * from ${sql.table(table)}`.execute(db);
      expect(JSON.stringify(rows.rows), table).not.toContain(API_KEY);
    }
  });
});

describe("two replicas", () => {
  let b: TestServer | undefined;
  afterAll(async () => {
    await b?.stop();
  });

  it("re-offers a change made through one replica to an agent held by the other", async () => {
    b = await startTestServer({
      kms,
      env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", ADMIN_TOKEN: srv.operatorKey },
      ...(testDatabaseKind === "postgres" ? { database: srv.database } : { shareDatabaseOf: srv }),
    });
    const c = await configured("Own Replicas");
    const { token } = await c.fleet.enrollmentToken();
    const agent = new TestAgent({
      url: `ws://127.0.0.1:${srv.port}/v1/opamp`,
      token,
      capabilities: OWN_METRICS,
    });
    try {
      await agent.start();
      await agent.waitForConnection(2);
      await agent.settle();
      await eventually(async () => (agent.ownTelemetry.offers.length === 1 ? true : undefined));
      const viaB = apiClient(b.url, srv.operatorKey);
      const res = await viaB.put(c.t("/own-telemetry"), {
        metrics: { endpoint: "https://other.example.com/v1/metrics" },
      });
      expect(res.status).toBe(200);
      await eventually(
        async () =>
          agent.ownTelemetry.state.metrics?.endpoint === "https://other.example.com/v1/metrics"
            ? true
            : undefined,
        5_000,
        "the change made on the other replica",
      );
    } finally {
      await agent.stop();
    }
  });
});
