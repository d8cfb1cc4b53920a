/**
 * GitOps: POST /apply (diff, atomic, idempotent, prune by source) and the `agent-api apply` CLI
 * on the example manifests in templates/examples/gitops, as the README uses them.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyCli } from "../helpers/cli.js";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;

const cli = (args: string[]) => applyCli(srv.operatorKey, args);

beforeAll(async () => {
  srv = await startTestServer();
  fleet = await createTenant(srv, "GitOps");
});
afterAll(() => srv?.stop());

const bundle = (extra: Record<string, unknown> = {}) => ({
  source: "git:acme/fleet",
  templates: [{ name: "base", content: "receivers: {}\n" }],
  assignments: [{ name: "all", selector: "", template: "base", revision: "latest", priority: 0 }],
  ...extra,
});

describe("POST /apply", () => {
  it("answers a diff on a dry run and changes nothing, then applies atomically and idempotently", async () => {
    const dry = await fleet.api.post(t("/apply?dryRun=true"), bundle());
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({
      dryRun: true,
      summary: { create: 2, update: 0, delete: 0, unchanged: 0 },
    });
    expect((await fleet.api.get(t("/config-templates/base"))).status).toBe(404);

    const real = await fleet.api.post(t("/apply"), bundle());
    expect(real.body).toMatchObject({ dryRun: false, summary: { create: 2 } });
    expect((await fleet.api.get(t("/config-templates/base"))).body).toMatchObject({
      latestVersion: 1,
      source: "git:acme/fleet",
    });
    expect((await fleet.api.get(t("/assignments/all"))).body.source).toBe("git:acme/fleet");

    const again = await fleet.api.post(t("/apply"), bundle());
    expect(again.body.summary).toEqual({ create: 0, update: 0, delete: 0, unchanged: 2 });

    const changed = await fleet.api.post(
      t("/apply"),
      bundle({ templates: [{ name: "base", content: "receivers: {}\nexporters: {}\n" }] }),
    );
    expect(changed.body.changes).toContainEqual({
      kind: "template",
      name: "base",
      action: "update",
      detail: expect.objectContaining({ version: 2 }),
    });
  });

  it("rejects the whole bundle when one object is invalid, naming each problem, and changes nothing", async () => {
    const before = await fleet.api.get(t("/config-templates"));
    const res = await fleet.api.post(
      t("/apply"),
      bundle({
        templates: [
          { name: "fine", content: "receivers: {}\n" },
          { name: "broken", content: "receivers: {{#each}}\n" },
        ],
        assignments: [
          { name: "x", selector: "env in prod", template: "fine", revision: "latest", priority: 0 },
        ],
      }),
    );
    expect(res.status).toBe(422);
    const paths = res.body.issues.map((i: { path: string }) => i.path);
    expect(paths).toContain("templates[1].content");
    expect(paths).toContain("assignments[0].selector");
    expect((await fleet.api.get(t("/config-templates/fine"))).status).toBe(404);
    expect((await fleet.api.get(t("/config-templates"))).body).toEqual(before.body);
  });

  it("rolls back everything when an object fails against the database (assignment to a missing template)", async () => {
    const res = await fleet.api.post(
      t("/apply"),
      bundle({
        templates: [{ name: "first", content: "receivers: {}\n" }],
        assignments: [
          { name: "dangling", selector: "", template: "does-not-exist", revision: "latest", priority: 0 },
        ],
      }),
    );
    expect(res.status).toBe(422);
    expect((await fleet.api.get(t("/config-templates/first"))).status).toBe(404);
  });

  it("prunes only objects carrying the same source marker", async () => {
    await fleet.api.put(t("/config-templates/handmade"), { content: "receivers: {}\n" });
    await fleet.api.post(
      t("/apply"),
      bundle({
        templates: [
          { name: "base", content: "receivers: {}\n" },
          { name: "extra", content: "a: 1\n" },
        ],
      }),
    );
    const other = await fleet.api.post(t("/apply"), {
      source: "git:other/repo",
      templates: [{ name: "theirs", content: "b: 1\n" }],
      assignments: [],
    });
    expect(other.status).toBe(200);
    const pruned = await fleet.api.post(t("/apply?prune=true"), bundle());
    expect(pruned.body.changes).toContainEqual({ kind: "template", name: "extra", action: "delete" });
    expect((await fleet.api.get(t("/config-templates/extra"))).status).toBe(404);
    expect((await fleet.api.get(t("/config-templates/handmade"))).status).toBe(200);
    expect((await fleet.api.get(t("/config-templates/theirs"))).status).toBe(200);
  });
});

describe("agent-api apply (CLI)", () => {
  it("applies the example manifest directory: dry run, then for real, then nothing to do", async () => {
    const tenant = await createTenant(srv, "GitOps CLI");
    const args = [
      "-f",
      "templates/examples/gitops",
      "--tenant",
      tenant.tenantId,
      "--url",
      srv.url,
      "--source",
      "git:examples",
    ];
    const dry = await cli([...args, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("Dry run: nothing was changed.");
    expect(dry.stdout).toContain("+ template base: create");
    expect(dry.stdout).toContain("+ assignment production-export: create");
    expect(dry.stdout).toContain("4 to create, 0 to update, 0 to delete, 0 unchanged");
    expect((await tenant.api.get(`/api/v1/tenants/${tenant.tenantId}/config-templates/base`)).status).toBe(
      404,
    );

    const real = await cli(args);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain("Applied.");
    expect(real.stdout).toContain("4 created, 0 updated, 0 deleted, 0 unchanged");
    const asg = await tenant.api.get(`/api/v1/tenants/${tenant.tenantId}/assignments/production-export`);
    expect(asg.body).toMatchObject({ selector: "env=prod,!canary", template: "export", priority: 10 });

    const again = await cli(args);
    expect(again.stdout).toContain("0 created, 0 updated, 0 deleted, 4 unchanged");
  });

  it("prints the server's problems and exits 1 on an invalid manifest; exits 2 on bad usage", async () => {
    const dir = await mkdtemp(join(tmpdir(), "manifests-"));
    await writeFile(
      join(dir, "bad.yaml"),
      'kind: ConfigTemplate\nname: bad\ncontent: "receivers: {{#if}}"\n',
    );
    const res = await cli(["-f", dir, "--tenant", fleet.tenantId, "--url", srv.url]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("422");
    expect(res.stderr).toContain("templates[0].content");
    const usage = await cli(["--tenant", fleet.tenantId]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing --file");
  });
});
