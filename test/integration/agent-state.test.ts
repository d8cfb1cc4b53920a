/**
 * What a user reads about one agent agrees with what happens to it: the config explanation comes
 * from the same render as the delivery (a missing secret, a KMS outage), secrets are masked one
 * way wherever the agent's config is shown, and deleting an agent keeps its delivery history.
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { Json } from "../helpers/http.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { SwitchableKms } from "../helpers/switchable-kms.js";
import { explicitKms } from "../helpers/test-kms.js";

let srv: TestServer;
let fleet: TenantFixture;
let kms: SwitchableKms;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

const enrolled = (labels: Record<string, string>) => fleet.enrolledAgent({}, { labels });

/** A template and an assignment that gives it to agents labelled `tier=<name>`. */
async function assign(name: string, content: string): Promise<void> {
  expect((await fleet.api.put(t(`/config-templates/${name}`), { content })).status).toBe(201);
  const assignment = await fleet.api.put(t(`/assignments/${name}`), {
    selector: `tier=${name}`,
    template: name,
    priority: 1,
  });
  expect(assignment.status).toBe(201);
}

async function latestDelivery(instanceUid: string, status: string) {
  return eventually(async () => {
    const r = await fleet.api.get(t(`/agents/${instanceUid}/deliveries`));
    return r.body.items[0]?.status === status ? r.body.items[0] : undefined;
  });
}

/** An agent of `tier` whose latest delivery reached `status`, then stopped and deleted. */
async function deletedAgent(tier: string, status: string): Promise<{ agent: TestAgent; delivery: Json }> {
  const agent = await enrolled({ tier });
  const delivery = await latestDelivery(agent.instanceUidString, status);
  await agent.stop();
  expect((await fleet.api.delete(t(`/agents/${agent.instanceUidString}`))).status).toBe(204);
  return { agent, delivery };
}

beforeAll(async () => {
  kms = new SwitchableKms(await explicitKms());
  srv = await startTestServer({ kms, env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Agent State");
});
afterEach(async () => {
  kms.down = false;
  await fleet.stopAgents();
});
afterAll(() => srv?.stop());

describe("the config explanation is the delivery's render", () => {
  it("explains a template whose secret does not exist as render_failed, with the delivery's reason", async () => {
    await assign("missing", 'a:\n  token: "{{secret "never_created"}}"\n');
    const a = await enrolled({ tier: "missing" });
    const delivery = await latestDelivery(a.instanceUidString, "failed");

    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.status).toBe(200);
    expect(explain.body).toMatchObject({
      outcome: "render_failed",
      assignment: "missing",
      renderedConfig: null,
      renderError: 'secret "never_created" does not exist',
      delivery: { status: "failed", errorMessage: delivery.errorMessage },
    });
    expect(delivery.errorMessage).toBe(`render failed: ${explain.body.renderError}`);
    expect(a.received.some((m) => m.remoteConfig)).toBe(false);
  });

  it("explains a KMS outage as a secret that cannot be read now, not as a config", async () => {
    await assign("outage", 'a:\n  token: "{{secret "outage_token"}}"\n');
    // A fresh version while the KMS is up: no data key of it is cached when the KMS goes down.
    expect((await fleet.api.put(t("/secrets/outage_token"), { value: "outage-value-1" })).status).toBe(201);
    const a = await enrolled({ tier: "other" });
    kms.down = true;
    await fleet.api.patch(t(`/agents/${a.instanceUidString}`), { labels: { tier: "outage" } });

    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.status).toBe(200);
    expect(explain.body).toMatchObject({
      outcome: "render_failed",
      assignment: "outage",
      renderedConfig: null,
    });
    expect(explain.body.renderError).toMatch(/secret "outage_token" is unavailable: .*KMS unreachable/);
    expect(explain.body.explanation).toMatch(/cannot be read now/);

    kms.down = false;
    const back = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(back.body).toMatchObject({ outcome: "config", renderError: null });
  });

  it("masks a secret in the preview with the mask of the agent's effective config, in every escaped form", async () => {
    // Quote and backslash: the YAML carries the value escaped, not as typed.
    const value = `p"ss\\word-${randomBytes(8).toString("hex")}`;
    const escaped = JSON.stringify(value).slice(1, -1);
    await fleet.api.put(t("/secrets/quoted_token"), { value });
    await assign(
      "masked",
      'exporters:\n  otlphttp:\n    headers:\n      Authorization: "Bearer {{secret "quoted_token"}}"\n',
    );
    const a = await enrolled({ tier: "masked" });
    const pushed = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    const body = Buffer.from(pushed.remoteConfig?.config?.configMap[""]?.body ?? []).toString("utf8");
    expect(parse(body).exporters.otlphttp.headers.Authorization).toBe(`Bearer ${value}`);

    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.body.outcome).toBe("config");
    const preview: string = explain.body.renderedConfig;
    expect(parse(preview).exporters.otlphttp.headers.Authorization).toBe("Bearer [REDACTED]");

    const detail = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
      return r.body.effectiveConfig?.files[""]?.body ? r : undefined;
    });
    const effective: string = detail.body.effectiveConfig.files[""].body;
    expect(parse(effective).exporters.otlphttp.headers.Authorization).toBe("Bearer [REDACTED]");
    for (const text of [preview, effective]) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(escaped);
    }
  });
});

describe("deleting an agent", () => {
  it("keeps its delivery history, listed by status and by agent; roll-ups count only current agents", async () => {
    await assign("kept", "receivers: {}\n");
    const a = await enrolled({ tier: "kept" });
    const applied = await latestDelivery(a.instanceUidString, "applied");
    const counted = await fleet.api.get(t("/assignments/kept"));
    expect(counted.body.status.deliveries.applied).toBe(1);
    await a.stop();

    expect((await fleet.api.delete(t(`/agents/${a.instanceUidString}`))).status).toBe(204);
    expect((await fleet.api.get(t(`/agents/${a.instanceUidString}`))).status).toBe(404);

    const byStatus = await fleet.api.get(t("/deliveries?status=applied&limit=100"));
    expect(byStatus.status).toBe(200);
    expect(byStatus.body.items).toContainEqual(
      expect.objectContaining({ id: applied.id, instanceUid: a.instanceUidString, status: "applied" }),
    );
    const byAgent = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
    expect(byAgent.body.items.map((d: { id: string }) => d.id)).toEqual([applied.id]);
    const rollup = await fleet.api.get(t("/deliveries/rollup?by=assignment"));
    expect(rollup.status).toBe(200);
    expect(rollup.body.items.find((i: { key: string }) => i.key === "kept")).toBeUndefined();
    expect((await fleet.api.get(t("/assignments/kept"))).body.status.deliveries.applied).toBe(0);
  });

  it("leaves a deleted agent's failed delivery failed when failed deliveries are retried", async () => {
    await assign("retry-gone", 'a:\n  token: "{{secret "retry_gone_token"}}"\n');
    const { agent: a, delivery: failed } = await deletedAgent("retry-gone", "failed");

    const retry = await fleet.api.post(t("/deliveries/retry"), { template: "retry-gone", version: 1 });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ agents: 0 });
    const history = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
    expect(history.body.items).toEqual([
      expect.objectContaining({ id: failed.id, status: "failed", errorMessage: failed.errorMessage }),
    ]);
  });

  it("lets an agent re-enrolling with the same uid continue its history", async () => {
    await assign("again", "exporters: {}\n");
    const { agent: a, delivery: first } = await deletedAgent("again", "applied");

    const back = await fleet.enrolledAgent({ instanceUid: a.instanceUid }, { labels: { tier: "again" } });
    await back.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    const again = await eventually(async () => {
      const d = await latestDelivery(a.instanceUidString, "applied");
      return d.attempts === 2 ? d : undefined;
    });
    expect(again).toMatchObject({ id: first.id, configHash: first.configHash });
  });

  it("leaves the kept history to go with its tenant: deleting the tenant deletes it", async () => {
    // Last in the file: it deletes the file's tenant.
    await assign("tenant-gone", "processors: {}\n");
    await deletedAgent("tenant-gone", "applied");
    const rows = () =>
      sql<{ n: number }>`select count(*)::int as n from agent_config_deliveries
        where tenant_id = ${fleet.tenantId}`.execute(srv.ctx.database.db);
    expect((await rows()).rows[0]?.n).toBeGreaterThan(0);

    const etag = (await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}`)).headers.get("etag") ?? "";
    const gone = await fleet.api.delete(`/api/v1/tenants/${fleet.tenantId}`, {
      headers: { "if-match": etag },
    });
    expect(gone.status).toBe(204);
    expect((await rows()).rows[0]?.n).toBe(0);
  });
});
