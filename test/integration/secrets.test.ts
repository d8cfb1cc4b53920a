/**
 * Secrets: write-only API, envelope encryption, resolution at delivery, re-delivery on change,
 * redaction of reported effective configs, fail-closed when the KMS is down, and no plaintext
 * anywhere in the database or the logs.
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configPushedAfter, createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { apiClient } from "../helpers/http.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { SwitchableKms } from "../helpers/switchable-kms.js";
import { explicitKms } from "../helpers/test-kms.js";

let srv: TestServer;
let fleet: TenantFixture;
let kms: SwitchableKms;
const agents: TestAgent[] = [];
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

const EXPORT_TEMPLATE = `exporters:
  otlphttp:
    endpoint: https://otlp.example.com
    headers:
      Authorization: "Bearer {{secret "otlp_token"}}"
service:
  pipelines:
    traces:
      exporters: [otlphttp]
`;

/** Every text value of every table, as one string: what a database dump would show. */
async function databaseText(): Promise<string> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = 'public'`.execute(
    srv.ctx.database.db,
  );
  let text = "";
  for (const { table_name } of tables.rows) {
    const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} t`.execute(
      srv.ctx.database.db,
    );
    text += rows.rows.map((r) => r.row).join("\n");
  }
  return text;
}

async function enrolled(labels: Record<string, string>): Promise<TestAgent> {
  const { token } = await fleet.enrollmentToken({ labels });
  const a = new TestAgent({ url: fleet.opampUrl, token });
  agents.push(a);
  await a.start();
  await a.waitForConnection(2);
  await a.settle();
  return a;
}

function exporterAuth(msg: {
  remoteConfig?: { config?: { configMap: Record<string, { body: Uint8Array }> } };
}): string {
  const body = msg.remoteConfig?.config?.configMap[""]?.body;
  return parse(Buffer.from(body ?? []).toString("utf8")).exporters.otlphttp.headers.Authorization;
}

beforeAll(async () => {
  kms = new SwitchableKms(await explicitKms());
  srv = await startTestServer({
    kms,
    env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500", SECRET_MAX_BYTES: "1024" },
  });
  fleet = await createTenant(srv, "Secrets");
});
afterEach(async () => {
  kms.down = false;
  for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
});
afterAll(() => srv?.stop());

describe("secrets API", () => {
  it("stores a value write-only: versions and metadata come back, the value never does", async () => {
    const value = `tok-${randomBytes(12).toString("hex")}`;
    const created = await fleet.api.put(t("/secrets/api_key"), { value });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "api_key", version: 1 });
    expect(JSON.stringify(created.body)).not.toContain(value);
    const next = await fleet.api.put(t("/secrets/api_key"), { value: `${value}-2` });
    expect(next.status).toBe(200);
    expect(next.body.version).toBe(2);
    const got = await fleet.api.get(t("/secrets/api_key"));
    expect(got.body).toMatchObject({ name: "api_key", version: 2, referencedBy: [] });
    const list = await fleet.api.get(t("/secrets"));
    expect(list.body.items.map((s: { name: string }) => s.name)).toContain("api_key");
    const audit = await fleet.api.get(t("/audit-events?action=secret.update"));
    expect(audit.body.items).toHaveLength(1);
    for (const text of [
      JSON.stringify(got.body),
      JSON.stringify(list.body),
      JSON.stringify(audit.body),
      srv.logs(),
      await databaseText(),
    ]) {
      expect(text).not.toContain(value);
    }
  });

  it("rejects a bad name (400) and an oversized value (413), storing nothing", async () => {
    const bad = await fleet.api.put(t("/secrets/Bad%20Name"), { value: "x" });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe("name");
    const big = await fleet.api.put(t("/secrets/too_big"), { value: "x".repeat(2000) });
    expect(big.status).toBe(413);
    expect((await fleet.api.get(t("/secrets/too_big"))).status).toBe(404);
  });

  it("answers 503 with Retry-After on a write while the KMS is down; reads of metadata and /readyz still work", async () => {
    kms.down = true;
    const res = await fleet.api.put(t("/secrets/during_outage"), { value: "abcdef" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect((await fleet.api.get(t("/secrets"))).status).toBe(200);
    expect((await fleet.api.get("/readyz", { token: null })).status).toBe(200);
    expect((await fleet.api.get(t("/secrets/during_outage"))).status).toBe(404);
  });

  it("refuses to delete a secret an assigned revision uses (409) unless forced", async () => {
    await fleet.api.put(t("/secrets/used_secret"), { value: "value-used-1" });
    await fleet.api.put(t("/config-templates/uses-secret"), {
      content: 'a:\n  b: "{{secret "used_secret"}}"\n',
    });
    await fleet.api.put(t("/assignments/uses-secret"), {
      selector: "never=matches",
      template: "uses-secret",
    });
    const detail = await fleet.api.get(t("/secrets/used_secret"));
    expect(detail.body.referencedBy).toEqual([{ template: "uses-secret", version: 1, inUse: true }]);
    const refused = await fleet.api.delete(t("/secrets/used_secret"));
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain("uses-secret@1");
    expect((await fleet.api.delete(t("/secrets/used_secret?force=true"))).status).toBe(204);
    expect((await fleet.api.get(t("/secrets/used_secret"))).status).toBe(404);
  });
});

describe("secrets at delivery", () => {
  it("delivers the real value, re-delivers within 1 s when it changes, and keeps it out of storage and logs", async () => {
    const first = `s3cr3t-${randomBytes(10).toString("hex")}`;
    await fleet.api.put(t("/secrets/otlp_token"), { value: first });
    await fleet.api.put(t("/config-templates/export"), { content: EXPORT_TEMPLATE });
    await fleet.api.put(t("/assignments/export"), {
      selector: "tier=export",
      template: "export",
      priority: 1,
    });
    const a = await enrolled({ tier: "export" });
    const pushed = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    expect(exporterAuth(pushed)).toBe(`Bearer ${first}`);

    const second = `s3cr3t-${randomBytes(10).toString("hex")}`;
    const since = a.received.length;
    const started = Date.now();
    await fleet.api.put(t("/secrets/otlp_token"), { value: second });
    const again = await configPushedAfter(a, since);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(exporterAuth(again)).toBe(`Bearer ${second}`);

    // The agent reports its effective config (with the secret in it): stored and shown redacted.
    await a.settle();
    const detail = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
      return r.body.effectiveConfig?.files[""]?.body?.includes("[REDACTED]") ? r : undefined;
    });
    expect(detail.body.effectiveConfig.files[""].body).not.toContain(second);
    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.body.renderedConfig).toContain("Bearer [REDACTED]");

    const dump = await databaseText();
    const logs = srv.logs();
    for (const v of [first, second]) {
      expect(dump).not.toContain(v);
      expect(logs).not.toContain(v);
    }
  });

  it("redacts a changed secret's new value at once, even when a redaction list was being read as it changed", async () => {
    // A second replica on the same database, with its own (empty) data-key cache and a KMS the
    // test can hold: its redaction list is read while the secret changes on the first replica.
    const kmsB = new SwitchableKms(kms); // the same keys as replica A, behind a gate of its own
    const b = await startTestServer({
      kms: kmsB,
      shareDatabaseOf: srv,
      env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200" },
    });
    try {
      const first = `r4ce-${randomBytes(10).toString("hex")}`;
      const second = `r4ce-${randomBytes(10).toString("hex")}`;
      await fleet.api.put(t("/secrets/race_token"), { value: first });
      const gate = kmsB.hold();
      const reading = b.ctx.services.secrets.redact(fleet.tenantId, ["warming up"]);
      await gate.entered; // replica B has read the list (old version) and waits on the KMS
      await fleet.api.put(t("/secrets/race_token"), { value: second });
      // Replica B learns of the change through the fleet events (NOTIFY, or the 200 ms poll).
      await new Promise((r) => setTimeout(r, 1_000));
      gate.release();
      await reading;
      const [redacted] = await b.ctx.services.secrets.redact(fleet.tenantId, [`Bearer ${second}`]);
      expect(redacted).toBe("Bearer [REDACTED]");
    } finally {
      await b.stop();
    }
  });

  it("reads the redaction list once for many effective configs reported at once", async () => {
    await fleet.api.put(t("/secrets/many_reports"), { value: `m4ny-${randomBytes(10).toString("hex")}` });
    const secrets = srv.ctx.services.secrets;
    secrets.invalidate(fleet.tenantId); // as when the cached list has expired
    const before = srv.ctx.database.statements();
    const texts = await Promise.all(
      Array.from({ length: 50 }, (_, i) => secrets.redact(fleet.tenantId, [`report ${i}`])),
    );
    // One read of the list, against 50 when each call read it. The count also takes the server's
    // own background statements in the window (heartbeat flushes, event polls: up to ~10 while a
    // KMS emulator answers the decrypts), hence a bound well under 50 rather than exactly 1.
    expect(srv.ctx.database.statements() - before).toBeLessThan(25);
    expect(texts.map(([x]) => x)).toEqual(Array.from({ length: 50 }, (_, i) => `report ${i}`));
  });

  it("fails the delivery naming a missing secret, and sends nothing", async () => {
    await fleet.api.put(t("/config-templates/missing-secret"), {
      content: 'a:\n  b: "{{secret "nope_token"}}"\n',
    });
    await fleet.api.put(t("/assignments/missing-secret"), {
      selector: "tier=missing",
      template: "missing-secret",
      priority: 1,
    });
    const a = await enrolled({ tier: "missing" });
    const failed = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "failed" ? r : undefined;
    });
    expect(failed.body.items[0].errorMessage).toMatch(/nope_token/);
    expect(a.received.some((m) => m.remoteConfig)).toBe(false);
  });

  it("fails closed while the KMS is down and delivers once it is back (retried with backoff)", async () => {
    await fleet.api.put(t("/secrets/kms_token"), { value: "kms-value-123" });
    await fleet.api.put(t("/config-templates/kms"), { content: 'a:\n  token: "{{secret "kms_token"}}"\n' });
    await fleet.api.put(t("/assignments/kms"), { selector: "tier=kms", template: "kms", priority: 1 });
    // Make sure no data key is cached: a fresh version of the secret while the KMS is up.
    await fleet.api.put(t("/secrets/kms_token"), { value: "kms-value-456" });
    kms.down = true;
    const a = await enrolled({ tier: "kms" });
    await new Promise((r) => setTimeout(r, 300));
    expect(a.received.some((m) => m.remoteConfig)).toBe(false);
    const failed = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
    expect(failed.body.items[0]).toMatchObject({ status: "failed" });
    expect(failed.body.items[0].errorMessage).toMatch(/kms_token/);
    expect((await fleet.api.get("/readyz", { token: null })).status).toBe(200);
    kms.down = false;
    const pushed = await a.waitFor((m) => m.remoteConfig !== undefined, 8_000);
    const body = Buffer.from(pushed.remoteConfig?.config?.configMap[""]?.body ?? []).toString("utf8");
    expect(parse(body).a.token).toBe("kms-value-456");
  });
});

describe("redaction fails closed", () => {
  it("an effective config reported while a secret cannot be decrypted is not stored, nor shown, in clear", async () => {
    const value = `clear-${randomBytes(8).toString("hex")}`;
    expect((await fleet.api.put(t("/secrets/outage_token"), { value })).status).toBe(201);
    // A second replica that has never decrypted the secret (a cold data-key cache), whose KMS is
    // about to become unreachable.
    const kmsB = new SwitchableKms(kms);
    const b = await startTestServer({ kms: kmsB, shareDatabaseOf: srv, env: { LIVENESS_FLUSH_MS: "200" } });
    try {
      const { token } = await fleet.enrollmentToken();
      const a = new TestAgent({ url: `ws://127.0.0.1:${b.port}/v1/opamp`, token });
      agents.push(a);
      await a.start();
      await a.waitForConnection(2);
      await a.settle();
      const uid = a.instanceUidString;
      // Replica B's KMS goes down (B never decrypted the secret: nothing cached); the agent
      // reports an effective config that holds the secret's value.
      kmsB.down = true;
      const reply = await a.reportEffectiveConfig(
        `exporters:\n  otlphttp:\n    headers: {Authorization: ${value}}\n`,
      );
      expect(reply.errorResponse).toBeUndefined();
      const during = await apiClient(b.url, srv.operatorKey).get(t(`/agents/${uid}`));
      expect(during.status).toBe(200);
      // Not shown while it cannot be masked; the agent's status is still served.
      expect(during.body.effectiveConfig).toBeNull();
      expect(during.body.status).toBe("online");
      expect(await databaseText()).not.toContain(value);
      expect(b.logs()).not.toContain(value);
      expect(b.logs()).toContain("effective config not stored: its secrets cannot be masked now");

      kmsB.down = false;
      const after = await apiClient(b.url, srv.operatorKey).get(t(`/agents/${uid}`));
      // Nothing was stored for that report; the next one, once the secret can be masked, is.
      expect(after.body.effectiveConfig).toBeNull();
      await a.reportEffectiveConfig(
        `exporters:\n  otlphttp:\n    headers: {Authorization: ${value}}\n# again\n`,
      );
      const masked = await apiClient(b.url, srv.operatorKey).get(t(`/agents/${uid}`));
      expect(masked.body.effectiveConfig.files[""].body).toContain("Authorization: [REDACTED]");
      expect(JSON.stringify(masked.body)).not.toContain(value);
      expect(await databaseText()).not.toContain(value);
    } finally {
      for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
      await b.server.stop();
    }
  });
});
