/**
 * Layered configs (docs/layers.md) with supervisor-like test agents: a platform base (otlp →
 * file) and a security overlay (a SIEM export with a secret) merged on the hosts it selects; a
 * base alone sent exactly as before; two same-priority overlays that disagree, and an overlay
 * with no base, send nothing and say why; explain names every layer and who set each component;
 * a rollout of the overlay's assignment moves only the overlay; GitOps bundles and CLI manifests
 * carry the layer.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ManualClock } from "../../src/clock.js";
import { applyCli } from "../helpers/cli.js";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { configsSent, driveUntil, rolloutFleet } from "../helpers/rollouts.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const SIEM_TOKEN = "siem-token-7c1d2e9f";

const platform = (version: string) => `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
exporters:
  file:
    path: /var/log/otel/${version}.json
extensions:
  health_check: {}
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
  telemetry:
    logs:
      level: info
`;

const security = (endpoint: string) => `exporters:
  otlphttp/security:
    endpoint: ${endpoint}
    headers:
      authorization: "Bearer {{secret "siem"}}"
service:
  pipelines:
    logs:
      exporters: [otlphttp/security]
`;

let srv: TestServer;
let fleet: TenantFixture;
const clock = new ManualClock();
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;
let siemHosts: TestAgent[];
let plainHost: TestAgent;
let overlayOnly: TestAgent;
let teamHost: TestAgent;

async function explain(a: TestAgent) {
  const r = await fleet.api.get(t(`/agents/${a.instanceUidString}/config`));
  expect(r.status).toBe(200);
  return r.body;
}

const lastConfig = (a: TestAgent) => {
  const body = configsSent(a).at(-1);
  return body === undefined ? undefined : parse(body);
};

beforeAll(async () => {
  srv = await startTestServer({ clock, env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200" } });
  fleet = await createTenant(srv, "Layers");
  expect((await fleet.api.put(t("/secrets/siem"), { value: SIEM_TOKEN })).status).toBe(201);
  expect((await fleet.api.put(t("/config-templates/platform"), { content: platform("v1") })).status).toBe(
    201,
  );
  expect(
    (await fleet.api.put(t("/config-templates/security"), { content: security("https://siem-1.example") }))
      .status,
  ).toBe(201);
  for (const [name, level] of [
    ["debug-a", "debug"],
    ["debug-b", "warn"],
  ] as const) {
    const content = `service:\n  telemetry:\n    logs:\n      level: ${level}\n`;
    expect((await fleet.api.put(t(`/config-templates/${name}`), { content })).status).toBe(201);
  }
  const put = async (name: string, body: Record<string, unknown>) => {
    const r = await fleet.api.put(t(`/assignments/${name}`), body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  expect(await put("platform", { selector: "env=prod", template: "platform", revision: 1 })).toMatchObject({
    layer: "base",
  });
  expect(
    await put("security", {
      selector: "siem=yes",
      template: "security",
      revision: 1,
      priority: 10,
      layer: "overlay",
    }),
  ).toMatchObject({ layer: "overlay", priority: 10 });
  await put("debug-a", { selector: "team=x", template: "debug-a", priority: 5, layer: "overlay" });
  await put("debug-b", { selector: "team=x", template: "debug-b", priority: 5, layer: "overlay" });

  siemHosts = await rolloutFleet(fleet, 2, { env: "prod", siem: "yes" });
  const one = async (labels: Record<string, string>) =>
    (await rolloutFleet(fleet, 1, labels))[0] as TestAgent;
  plainHost = await one({ env: "prod" });
  overlayOnly = await one({ siem: "yes" });
  teamHost = await one({ env: "prod", team: "x" });
  await eventually(
    async () => ([...siemHosts, plainHost].every((a) => a && configsSent(a).length === 1) ? true : undefined),
    10_000,
  );
}, 60_000);
afterAll(async () => {
  await fleet?.stopAgents();
  await srv?.stop();
});

describe("layered configs", () => {
  it("sends a base alone exactly as rendered, as before layers existed", async () => {
    expect(configsSent(plainHost)).toEqual([platform("v1")]);
    const e = await explain(plainHost);
    expect(e).toMatchObject({
      outcome: "config",
      layers: [{ assignment: "platform", template: "platform", revision: 1, priority: 0, layer: "base" }],
    });
    expect(e.origins).toContainEqual({ section: "exporters", name: "file", setBy: ["platform"] });
  });

  it("merges the overlay over the base: the SIEM exporter is appended to the base's logs pipeline", async () => {
    for (const a of siemHosts) {
      expect(lastConfig(a)).toEqual({
        receivers: { otlp: { protocols: { grpc: { endpoint: "0.0.0.0:4317" } } } },
        exporters: {
          file: { path: "/var/log/otel/v1.json" },
          "otlphttp/security": {
            endpoint: "https://siem-1.example",
            headers: { authorization: `Bearer ${SIEM_TOKEN}` },
          },
        },
        extensions: { health_check: {} },
        service: {
          extensions: ["health_check"],
          pipelines: { logs: { receivers: ["otlp"], exporters: ["file", "otlphttp/security"] } },
          telemetry: { logs: { level: "info" } },
        },
      });
      // The agent applied it: its delivery is applied under the merged config's hash.
      await eventually(async () => {
        const d = await fleet.api.get(t(`/agents/${a.instanceUidString}/deliveries`));
        return d.body.items[0]?.status === "applied" ? true : undefined;
      });
    }
  });

  it("explain lists every layer and which layer set each component and pipeline, secrets masked", async () => {
    const e = await explain(siemHosts[0] as TestAgent);
    expect(e.outcome).toBe("config");
    expect(e.assignment).toBe("platform");
    expect(e.layers).toEqual([
      { assignment: "platform", template: "platform", revision: 1, priority: 0, layer: "base" },
      { assignment: "security", template: "security", revision: 1, priority: 10, layer: "overlay" },
    ]);
    expect(e.origins).toEqual([
      { section: "receivers", name: "otlp", setBy: ["platform"] },
      { section: "exporters", name: "file", setBy: ["platform"] },
      { section: "exporters", name: "otlphttp/security", setBy: ["security"] },
      { section: "extensions", name: "health_check", setBy: ["platform"] },
      { section: "pipelines", name: "logs", setBy: ["platform", "security"] },
    ]);
    expect(e.matching).toContainEqual(expect.objectContaining({ assignment: "security", layer: "overlay" }));
    expect(e.renderedConfig).toContain("[REDACTED]");
    expect(JSON.stringify(e)).not.toContain(SIEM_TOKEN);
    expect(e.explanation).toMatch(/"platform" wins with priority 0, merged with overlay\(s\) "security"/);
  });

  it("sends nothing to an agent only an overlay matches, and explain says there is no base", async () => {
    expect(configsSent(overlayOnly)).toEqual([]);
    const e = await explain(overlayOnly);
    expect(e).toMatchObject({ outcome: "none", assignment: null, renderedConfig: null, layers: [] });
    expect(e.explanation).toMatch(
      /overlay\(s\) "security" match but no base assignment does.*nothing is sent/,
    );
  });

  it("sends nothing when two same-priority overlays set one path differently, and shows the conflict", async () => {
    expect(configsSent(teamHost)).toEqual([]);
    const e = await explain(teamHost);
    expect(e).toMatchObject({
      outcome: "conflict",
      conflict: ["debug-a", "debug-b"],
      conflictPath: "service.telemetry.logs.level",
      renderedConfig: null,
    });
    expect(e.explanation).toMatch(/overlays "debug-a" and "debug-b" have the same priority.*Nothing is sent/);
    // Raising one overlay's priority settles it: the higher one wins, and the config goes out.
    expect(
      (
        await fleet.api.put(t("/assignments/debug-b"), {
          selector: "team=x",
          template: "debug-b",
          priority: 6,
          layer: "overlay",
        })
      ).status,
    ).toBe(200);
    await eventually(async () => (configsSent(teamHost).length === 1 ? true : undefined));
    expect(lastConfig(teamHost)?.service.telemetry.logs.level).toBe("warn");
    const settled = await explain(teamHost);
    expect(settled.layers.map((l: { assignment: string }) => l.assignment)).toEqual([
      "platform",
      "debug-a",
      "debug-b",
    ]);
  });

  it("refuses a layer that is neither base nor overlay (400 naming the field), storing nothing", async () => {
    const r = await fleet.api.put(t("/assignments/bad-layer"), {
      selector: "env=prod",
      template: "platform",
      layer: "middle",
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain("layer");
    expect((await fleet.api.get(t("/assignments/bad-layer"))).status).toBe(404);
  });

  it("a rollout of the overlay's assignment moves only the overlay; the base keeps its revision", async () => {
    // The platform team has a revision 2 of the base too, but its assignment stays pinned to 1.
    expect((await fleet.api.put(t("/config-templates/platform"), { content: platform("v2") })).status).toBe(
      201,
    );
    expect(
      (await fleet.api.put(t("/config-templates/security"), { content: security("https://siem-2.example") }))
        .status,
    ).toBe(201);
    const started = await fleet.api.post(t("/rollouts"), {
      assignment: "security",
      revision: 2,
      strategy: { canary: 1, waves: ["100%"], bakeSeconds: 1, maxFailures: 0 },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body).toMatchObject({ fromRevision: 1, toRevision: 2, population: 2 });
    const done = await driveUntil(clock, async () => {
      const r = await fleet.api.get(t(`/rollouts/${started.body.id}`));
      return r.body.state === "completed" ? r.body : undefined;
    });
    expect(done.counts.succeeded).toBe(2);
    for (const a of siemHosts) {
      const config = lastConfig(a);
      expect(config.exporters["otlphttp/security"].endpoint).toBe("https://siem-2.example");
      expect(config.exporters.file.path).toBe("/var/log/otel/v1.json");
      const e = await explain(a);
      expect(e.layers.map((l: { revision: number }) => l.revision)).toEqual([1, 2]);
    }
    // Agents without the overlay were never part of it and got nothing new.
    expect(configsSent(plainHost)).toEqual([platform("v1")]);
  });
});

describe("GitOps and the CLI carry the layer", () => {
  const cli = (args: string[]) => applyCli(srv.operatorKey, args);

  it("POST /apply stores an overlay, and a layer change alone is an update", async () => {
    const bundle = (layer: string) => ({
      source: "git:layers",
      templates: [{ name: "gitops-extra", content: "exporters:\n  debug: {}\n" }],
      assignments: [
        { name: "gitops-extra", selector: "gitops=yes", template: "gitops-extra", priority: 1, layer },
      ],
    });
    expect((await fleet.api.post(t("/apply"), bundle("overlay"))).status).toBe(200);
    expect((await fleet.api.get(t("/assignments/gitops-extra"))).body.layer).toBe("overlay");
    const changed = await fleet.api.post(t("/apply?dryRun=true"), bundle("base"));
    expect(changed.body.changes).toContainEqual(
      expect.objectContaining({ kind: "assignment", name: "gitops-extra", action: "update" }),
    );
    const bad = await fleet.api.post(t("/apply"), bundle("side"));
    expect(bad.status).toBe(400);
    expect((await fleet.api.get(t("/assignments/gitops-extra"))).body.layer).toBe("overlay");
  });

  it("agent-api apply reads layer: overlay from a manifest, and refuses any other layer", async () => {
    const tenant = await createTenant(srv, "Layers CLI");
    const dir = await mkdtemp(join(tmpdir(), "layers-"));
    await writeFile(
      join(dir, "fleet.yaml"),
      [
        "kind: ConfigTemplate\nname: platform\ncontent: |\n  receivers: { otlp: {} }\n",
        "kind: ConfigTemplate\nname: security\ncontent: |\n  exporters: { debug: {} }\n",
        "kind: Assignment\nname: platform\nselector: env=prod\ntemplate: platform\n",
        "kind: Assignment\nname: security\nselector: siem=yes\ntemplate: security\npriority: 10\nlayer: overlay\n",
      ].join("---\n"),
    );
    const args = ["-f", dir, "--tenant", tenant.tenantId, "--url", srv.url, "--source", "git:layers"];
    const applied = await cli(args);
    expect(applied.code, applied.stderr).toBe(0);
    const get = (name: string) => tenant.api.get(`/api/v1/tenants/${tenant.tenantId}/assignments/${name}`);
    expect((await get("security")).body).toMatchObject({ layer: "overlay", priority: 10 });
    expect((await get("platform")).body).toMatchObject({ layer: "base" });

    await writeFile(
      join(dir, "bad.yaml"),
      "kind: Assignment\nname: odd\nselector: env=prod\ntemplate: platform\nlayer: middle\n",
    );
    const bad = await cli(args);
    // A manifest the CLI cannot read is a usage error (exit 2), before anything is sent.
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"layer" must be "base" or "overlay"');
    expect((await get("odd")).status).toBe(404);
  });
});

// Last: 20,000 renders keep the event loop busy for seconds (idle HTTP keep-alive sockets close).
describe("the fan-out path", () => {
  it("a fan-out to 10,000 agents parses no YAML for a base alone, and each layer once for a merge", async () => {
    const desired = srv.ctx.services.desiredConfigs;
    const agents = (labels: Record<string, string>) =>
      Array.from({ length: 10_000 }, (_, i) => ({
        instanceUid: `00000000-0000-7000-8000-${String(i).padStart(12, "0")}`,
        labels,
        attributes: {},
      }));
    const before = desired.merger.parses;
    const plain = await desired.compute(fleet.tenantId, agents({ env: "prod" }));
    expect(desired.merger.parses).toBe(before);
    const bodies = new Set([...plain.values()].map((d) => (d.kind === "config" ? d.yaml : d.kind)));
    expect([...bodies]).toEqual([platform("v1")]);

    const merged = await desired.compute(fleet.tenantId, agents({ env: "prod", siem: "yes" }));
    // One combination of rendered layers (base + overlay): at most one parse per layer, once.
    expect(desired.merger.parses - before).toBeLessThanOrEqual(2);
    expect(new Set([...merged.values()].map((d) => (d.kind === "config" ? d.hash : d.kind))).size).toBe(1);
  });
});
