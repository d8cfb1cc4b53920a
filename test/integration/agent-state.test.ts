/**
 * What a user reads about one agent agrees with what happens to it: the config explanation comes
 * from the same render as the delivery (a missing secret, a KMS outage), secrets are masked one
 * way wherever the agent's config is shown, and deleting an agent keeps its delivery history.
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import { TestAgent } from "../helpers/opamp-agent.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { SwitchableKms } from "../helpers/switchable-kms.js";
import { explicitKms } from "../helpers/test-kms.js";

let srv: TestServer;
let fleet: TenantFixture;
let kms: SwitchableKms;
const agents: TestAgent[] = [];
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

async function enrolled(labels: Record<string, string>, instanceUid?: Uint8Array): Promise<TestAgent> {
  const { token } = await fleet.enrollmentToken({ labels });
  const a = new TestAgent({ url: fleet.opampUrl, token, ...(instanceUid ? { instanceUid } : {}) });
  agents.push(a);
  await a.start();
  await a.waitForConnection(2);
  await a.settle();
  return a;
}

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

beforeAll(async () => {
  kms = new SwitchableKms(await explicitKms());
  srv = await startTestServer({ kms, env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Agent State");
});
afterEach(async () => {
  kms.down = false;
  for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
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
