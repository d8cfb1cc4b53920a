import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    "agent_config_templates",
    "agent_config_template_revisions",
    "agent_config_assignments",
    "audit_events",
  ]) {
    const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(
      srv.ctx.database.db,
    );
    out[table] = r.rows[0]?.n ?? -1;
  }
  return out;
}

beforeAll(async () => {
  srv = await startTestServer();
  fleet = await createTenant(srv, "Config API");
});
afterAll(() => srv?.stop());

describe("config templates", () => {
  it("creates revisions only when the content changes, immutable and listed newest first", async () => {
    const first = await fleet.api.put(t("/config-templates/web"), {
      content: "receivers: {}\n",
      description: "web tier",
      message: "init",
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      name: "web",
      latestVersion: 1,
      created: true,
      revision: { version: 1, message: "init" },
    });
    expect(first.body.revision.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(first.body.revision.author).toMatch(/^key_/);
    const same = await fleet.api.put(t("/config-templates/web"), { content: "receivers: {}\n" });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ latestVersion: 1, created: false, revision: { version: 1 } });
    const changed = await fleet.api.post(t("/config-templates/web/revisions"), {
      content: "receivers: {}\nexporters: {}\n",
      message: "exporters",
    });
    expect(changed.status).toBe(201);
    expect(changed.body.revision.version).toBe(2);
    const list = await fleet.api.get(t("/config-templates/web/revisions"));
    expect(list.body.items.map((r: { version: number }) => r.version)).toEqual([2, 1]);
    const v1 = await fleet.api.get(t("/config-templates/web/revisions/1"));
    expect(v1.body).toMatchObject({ version: 1, content: "receivers: {}\n" });
    const got = await fleet.api.get(t("/config-templates/web"));
    expect(got.body).toMatchObject({
      latestVersion: 2,
      description: "web tier",
      revision: { version: 2, content: "receivers: {}\nexporters: {}\n" },
    });
  });

  it("rejects a template that does not compile, uses an unknown helper or renders invalid YAML: 422 with position, nothing stored", async () => {
    const before = await counts();
    const cases: Array<[string, RegExp]> = [
      ["receivers:\n  otlp: {{#if}}\n", /./],
      ['receivers:\n  otlp: {{exec "rm -rf /"}}\n', /exec/],
      ["receivers: [unclosed\n", /./],
      ["- just\n- a list\n", /mapping/i],
      ["a: 1\na: 2\n", /./],
    ];
    for (const [content, message] of cases) {
      const res = await fleet.api.put(t("/config-templates/bad"), { content });
      expect(res.status, content).toBe(422);
      expect(res.body.code).toBe("unprocessable");
      expect(res.body.issues[0].path).toBe("content");
      expect(res.body.issues[0].message).toMatch(message);
      expect(typeof res.body.issues[0].line, content).toBe("number");
    }
    expect(await counts()).toEqual(before);
    expect((await fleet.api.get(t("/config-templates/bad"))).status).toBe(404);
  });

  it("refuses to delete a template an assignment uses (409), and deletes it once unused", async () => {
    await fleet.api.put(t("/config-templates/used"), { content: "receivers: {}\n" });
    await fleet.api.put(t("/assignments/uses-it"), { selector: "x=y", template: "used" });
    const before = await counts();
    const refused = await fleet.api.delete(t("/config-templates/used"));
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/uses-it/);
    expect(await counts()).toEqual(before);
    expect((await fleet.api.delete(t("/assignments/uses-it"))).status).toBe(204);
    expect((await fleet.api.delete(t("/config-templates/used"))).status).toBe(204);
  });

  it("honours If-Match on a template update (412 on a stale ETag)", async () => {
    await fleet.api.put(t("/config-templates/etag"), { content: "a: 1\n" });
    const etag = (await fleet.api.get(t("/config-templates/etag"))).headers.get("etag") ?? "";
    await fleet.api.put(t("/config-templates/etag"), { content: "a: 2\n" });
    const before = await counts();
    const stale = await fleet.api.put(
      t("/config-templates/etag"),
      { content: "a: 3\n" },
      { headers: { "if-match": etag } },
    );
    expect(stale.status).toBe(412);
    expect(await counts()).toEqual(before);
  });
});

describe("assignments", () => {
  it("creates, replaces and lists assignments with a canonical selector", async () => {
    await fleet.api.put(t("/config-templates/asg"), { content: "receivers: {}\n" });
    const created = await fleet.api.put(t("/assignments/prod"), {
      selector: "env = prod , region in (eu, us)",
      template: "asg",
      revision: 1,
      priority: 10,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "prod",
      selector: "env=prod,region in (eu,us)",
      template: "asg",
      revision: 1,
      priority: 10,
    });
    const replaced = await fleet.api.put(t("/assignments/prod"), {
      selector: "env=prod",
      template: "asg",
      revision: "latest",
      priority: 20,
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ revision: "latest", priority: 20 });
    const list = await fleet.api.get(t("/assignments"));
    expect(list.body.items.map((a: { name: string }) => a.name)).toContain("prod");
  });

  it("rejects a bad selector (422 with the column), a missing template or revision (422), nothing stored", async () => {
    await fleet.api.put(t("/config-templates/asg2"), { content: "receivers: {}\n" });
    const before = await counts();
    const badSelector = await fleet.api.put(t("/assignments/bad"), {
      selector: "env=prod,region in eu",
      template: "asg2",
    });
    expect(badSelector.status).toBe(422);
    expect(badSelector.body.issues[0]).toMatchObject({ path: "selector", column: 20 });
    const noTemplate = await fleet.api.put(t("/assignments/bad"), { selector: "env=prod", template: "nope" });
    expect(noTemplate.status).toBe(422);
    expect(noTemplate.body.issues[0].path).toBe("template");
    const noRevision = await fleet.api.put(t("/assignments/bad"), {
      selector: "env=prod",
      template: "asg2",
      revision: 9,
    });
    expect(noRevision.status).toBe(422);
    expect(noRevision.body.issues[0].path).toBe("revision");
    expect(await counts()).toEqual(before);
  });

  it("refuses a stale If-Match with 412", async () => {
    await fleet.api.put(t("/config-templates/asg3"), { content: "receivers: {}\n" });
    await fleet.api.put(t("/assignments/etag"), { selector: "a=b", template: "asg3" });
    const etag = (await fleet.api.get(t("/assignments/etag"))).headers.get("etag") ?? "";
    await fleet.api.put(t("/assignments/etag"), { selector: "a=c", template: "asg3" });
    const stale = await fleet.api.put(
      t("/assignments/etag"),
      { selector: "a=d", template: "asg3" },
      { headers: { "if-match": etag } },
    );
    expect(stale.status).toBe(412);
    expect((await fleet.api.get(t("/assignments/etag"))).body.selector).toBe("a=c");
  });
});
