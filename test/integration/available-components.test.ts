/**
 * Available components as a pre-flight check, with the supervisor-like test agent: the server
 * asks for a build's component list once (only while it does not know the hash), stores it once
 * for every agent of that build, shows it, and refuses before sending a config that needs a
 * component the build lacks; agents that never reported components are not blocked.
 */
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { AgentCapability } from "../../src/opamp/codec.js";
import { COMPONENTS_WAIT_MS } from "../../src/opamp/component-list.js";
import { ServerToAgentFlag } from "../../src/protocol/capabilities.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgentOptions } from "../helpers/opamp/agent-options.js";
import { SUPERVISOR_CAPABILITIES } from "../helpers/opamp/agent-wire.js";
import { availableComponentsOf, type CollectorBuild } from "../helpers/opamp/available-components.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const WITH_COMPONENTS = SUPERVISOR_CAPABILITIES | AgentCapability.ReportsAvailableComponents;

/** A build without kafka (like the e2e collector) and one more type per test, so hashes differ. */
function build(extra: string): CollectorBuild {
  return {
    receivers: ["otlp", "nop", extra],
    processors: ["batch"],
    exporters: ["debug", "otlphttp"],
    extensions: ["opamp"],
    connectors: ["forward"],
  };
}

const KAFKA_CONFIG = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  batch: {}
exporters:
  kafka/logs:
    brokers: [127.0.0.1:9092]
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka/logs]
`;

const RUNNABLE_CONFIG = `receivers:
  otlp/in:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp/in]
      exporters: [debug]
`;

let srv: TestServer;
let fleet: TenantFixture;
const t = (s: string) => `/api/v1/tenants/${fleet.tenantId}${s}`;

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "300" } });
  fleet = await createTenant(srv, "Available Components");
});
afterEach(() => fleet.stopAgents());
afterAll(() => srv?.stop());

const asked = (a: TestAgent) =>
  a.received.filter((m) => (m.flags & ServerToAgentFlag.ReportAvailableComponents) !== 0n).length;
const listsSent = (a: TestAgent) =>
  a.sent.filter((m) => Object.keys(m.availableComponents?.components ?? {}).length > 0).length;
const hexOf = (b: CollectorBuild) => Buffer.from(availableComponentsOf(b).hash).toString("hex");

async function storedSets(hash: string) {
  const { rows } = await sql<{ components: unknown; refusal: string | null }>`
    select components, refusal from agent_component_sets
    where tenant_id = ${fleet.tenantId} and hash = ${hash}`.execute(srv.ctx.database.db);
  return rows;
}

async function enrolled(
  b: CollectorBuild,
  opts: Partial<TestAgentOptions> = {},
  labels = {},
): Promise<TestAgent> {
  return fleet.enrolledAgent({ capabilities: WITH_COMPONENTS, build: b, ...opts }, { labels });
}

async function assign(name: string, content: string, selector: string): Promise<void> {
  expect((await fleet.api.put(t(`/config-templates/${name}`), { content })).status).toBe(201);
  const r = await fleet.api.put(t(`/assignments/${name}`), { selector, template: name, priority: 1 });
  expect(r.status).toBe(201);
}

async function deliveriesOf(uid: string) {
  const r = await fleet.api.get(t(`/agents/${uid}/deliveries`));
  expect(r.status).toBe(200);
  return r.body.items as Array<{
    status: string;
    errorMessage: string | null;
    revision: { version: number } | null;
  }>;
}

describe("available components", () => {
  it("asks for the list once per unknown hash and stores it once for all agents of the build", async () => {
    const b = build("filelog");
    const first = await enrolled(b);
    // The enrollment connection asked (the hash was new); the key connection did not.
    expect(asked(first)).toBe(1);
    expect(listsSent(first)).toBe(1);
    await first.heartbeat();
    expect(asked(first)).toBe(1);

    const others = await Promise.all([enrolled(b), enrolled(b), enrolled(b)]);
    for (const a of others) {
      await a.heartbeat();
      expect(asked(a)).toBe(0);
      expect(listsSent(a)).toBe(0);
    }
    const rows = await storedSets(hexOf(b));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.refusal).toBeNull();
  });

  it("asks again when an agent's build changes, and stores a list sent without being asked", async () => {
    const a = await enrolled(build("journald"));
    const before = asked(a);
    const changed = availableComponentsOf(build("syslog"));
    const reply = await a.reportAvailableComponents(changed);
    expect(reply.flags & ServerToAgentFlag.ReportAvailableComponents).not.toBe(0n);
    await eventually(async () =>
      (await storedSets(hexOf(build("syslog")))).length === 1 ? true : undefined,
    );
    expect(asked(a)).toBe(before + 1);

    // A full-state report carries the whole list: stored without a question.
    const unasked = availableComponentsOf(build("kubeletstats"));
    const r = await a.send({ availableComponents: unasked });
    expect(r.flags & ServerToAgentFlag.ReportAvailableComponents).toBe(0n);
    expect(await storedSets(hexOf(build("kubeletstats")))).toHaveLength(1);
  });

  it("shows the agent's build in its view", async () => {
    const b = build("prometheus");
    const a = await enrolled(b);
    const view = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
    expect(view.status).toBe(200);
    expect(view.body.availableComponents).toMatchObject({
      hash: hexOf(b),
      status: "reported",
      refusal: null,
      receivers: [
        { type: "nop", module: expect.stringContaining("nopreceiver") },
        { type: "otlp", module: expect.any(String) },
        { type: "prometheus", module: expect.stringContaining("v0.156.0") },
      ],
      processors: [{ type: "batch" }],
      exporters: [{ type: "debug" }, { type: "otlphttp" }],
      extensions: [{ type: "opamp" }],
      connectors: [{ type: "forward" }],
    });
    // An agent without the capability has no build to show.
    const plain = await fleet.enrolledAgent();
    expect(
      (await fleet.api.get(t(`/agents/${plain.instanceUidString}`))).body.availableComponents,
    ).toBeNull();
  });

  it("refuses, before sending, a config whose exporter is not in the build; the agent keeps its config", async () => {
    await assign("kafka-logs", RUNNABLE_CONFIG, "team=kafka");
    const a = await enrolled(build("hostmetrics"), {}, { team: "kafka" });
    await eventually(async () =>
      (await deliveriesOf(a.instanceUidString))[0]?.status === "applied" ? true : undefined,
    );
    const pushedBefore = a.received.filter((m) => m.remoteConfig).length;

    const since = a.received.length;
    expect((await fleet.api.put(t("/config-templates/kafka-logs"), { content: KAFKA_CONFIG })).status).toBe(
      201,
    );
    const failed = await eventually(async () =>
      (await deliveriesOf(a.instanceUidString)).find(
        (d) => d.revision?.version === 2 && d.status === "failed",
      ),
    );
    expect(failed.errorMessage).toBe(`exporter "kafka" is not in this collector's build`);
    await new Promise((r) => setTimeout(r, 500));
    expect(a.received.slice(since).filter((m) => m.remoteConfig)).toHaveLength(0);
    expect(a.received.filter((m) => m.remoteConfig)).toHaveLength(pushedBefore);
    // Revision 1 still runs: its row stays applied.
    expect((await deliveriesOf(a.instanceUidString)).find((d) => d.revision?.version === 1)?.status).toBe(
      "applied",
    );

    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.status).toBe(200);
    expect(explain.body).toMatchObject({
      outcome: "missing_components",
      assignment: "kafka-logs",
      missingComponents: [{ kind: "exporter", type: "kafka" }],
    });
    expect(explain.body.explanation).toContain(`exporter "kafka" is not in this collector's build`);

    const status = await fleet.api.get(t("/assignments/kafka-logs"));
    expect(status.body.status).toMatchObject({
      agentsMissingComponents: 1,
      missingComponents: [{ instanceUid: a.instanceUidString, missing: ['exporter "kafka"'] }],
    });
  });

  it("holds config until the list asked for arrives, then refuses what the build lacks: nothing is sent", async () => {
    await assign("kafka-first", KAFKA_CONFIG, "team=first");
    const { token } = await fleet.enrollmentToken({ labels: { team: "first" }, allowConfigOnToken: true });
    const a = fleet.agent({
      token,
      capabilities: WITH_COMPONENTS & ~AgentCapability.AcceptsOpAMPConnectionSettings,
      build: build("sqlquery"),
    });
    await a.start();
    await a.settle();
    const failed = await eventually(async () =>
      (await deliveriesOf(a.instanceUidString)).find((d) => d.status === "failed"),
    );
    expect(failed.errorMessage).toBe(`exporter "kafka" is not in this collector's build`);
    expect(asked(a)).toBe(1);
    expect(a.received.filter((m) => m.remoteConfig)).toHaveLength(0);
  });

  it("does not block an agent that never reported components", async () => {
    await assign("kafka-plain", KAFKA_CONFIG, "team=plain");
    const a = await fleet.enrolledAgent({}, { labels: { team: "plain" } });
    await eventually(async () => (a.received.some((m) => m.remoteConfig) ? true : undefined));
    expect(asked(a)).toBe(0);
    const explain = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
    expect(explain.body).toMatchObject({ outcome: "config", missingComponents: [] });
  });

  it("refuses an oversize list: nothing of it is stored, it is not asked again, the agent is not blocked", async () => {
    await assign("kafka-big", KAFKA_CONFIG, "team=big");
    const receivers = Array.from({ length: 3000 }, (_, i) => `receiver${i}with_a_long_enough_name`);
    const big: CollectorBuild = { ...build("big"), receivers };
    const a = await enrolled(big, {}, { team: "big" });
    expect(listsSent(a)).toBe(1);
    expect(asked(a)).toBe(1);
    const rows = await storedSets(hexOf(big));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.components).toBeNull();
    expect(rows[0]?.refusal).toMatch(/the list is \d+ bytes, at most 262144 are accepted/);
    const view = await fleet.api.get(t(`/agents/${a.instanceUidString}`));
    expect(view.body.availableComponents).toMatchObject({ status: "refused", receivers: [] });
    expect(view.body.availableComponents.refusal).toMatch(/at most 262144/);
    // Without a list nothing is checked: the config goes out.
    await eventually(async () => (a.received.some((m) => m.remoteConfig) ? true : undefined));
    // A second agent of that build is not asked for it again.
    const b = await enrolled(big);
    expect(asked(b)).toBe(0);
  });
});

describe("an agent that does not answer the request for its components", () => {
  let clock: ManualClock;
  let mute: TestServer;
  let f: TenantFixture;

  beforeAll(async () => {
    clock = new ManualClock();
    mute = await startTestServer({ clock, env: { LIVENESS_FLUSH_MS: "200" } });
    f = await createTenant(mute, "Mute agents");
  });
  afterAll(async () => {
    await f?.stopAgents();
    await mute?.stop();
  });

  it("is not held for ever: after the wait its config goes out, unchecked", async () => {
    const put = (path: string, body: object) => f.api.put(`/api/v1/tenants/${f.tenantId}${path}`, body);
    expect((await put("/config-templates/kafka", { content: KAFKA_CONFIG })).status).toBe(201);
    expect(
      (await put("/assignments/kafka", { selector: "team=mute", template: "kafka", priority: 1 })).status,
    ).toBe(201);
    const { token } = await f.enrollmentToken({ labels: { team: "mute" }, allowConfigOnToken: true });
    const a = f.agent({
      token,
      capabilities: WITH_COMPONENTS & ~AgentCapability.AcceptsOpAMPConnectionSettings,
      build: build("mute"),
      answersComponentsRequest: false,
    });
    await a.start();
    expect(asked(a)).toBe(1);
    // Still waiting for the list: no config yet.
    expect((await a.heartbeat()).remoteConfig).toBeUndefined();
    await clock.advance(COMPONENTS_WAIT_MS);
    const reply = await a.heartbeat();
    expect(reply.remoteConfig).toBeDefined();
    expect(listsSent(a)).toBe(0);
    const view = await f.api.get(`/api/v1/tenants/${f.tenantId}/agents/${a.instanceUidString}`);
    expect(view.body.availableComponents).toMatchObject({ status: "awaiting", receivers: [] });
  });
});
