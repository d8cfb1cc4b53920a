/**
 * The fleet console in a real browser (Debian's Chromium through playwright-core) against a real
 * server on a random port, with real OpAMP test agents: what a viewer and an editor see and do.
 * Every page error and console error during the run fails the test.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { sign } from "hono/jwt";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, eventually, type TenantFixture } from "../helpers/fleet.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { collectorConfig, rolloutFleet } from "../helpers/rollouts.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const DOCS = path.join(import.meta.dirname, "..", "..", "docs");
const JWT_SECRET = "console-e2e-jwt-secret-0123456789abcdef";

let srv: TestServer;
let fleet: TenantFixture;
let browser: Browser;
let viewerKey: string;
let editorKey: string;
let prodAgents: TestAgent[];
let rolloutId: string;
/** Page errors, console errors and off-server requests of the current test's browser session. */
let problems: string[] = [];

const t = (p: string) => `/api/v1/tenants/${fleet.tenantId}${p}`;

async function apiKey(role: "viewer" | "editor"): Promise<string> {
  const res = await fleet.api.post(t("/api-keys"), { name: `console-${role}`, role });
  expect(res.status).toBe(201);
  return res.body.key;
}

/** A fresh browser session (its own sessionStorage), watched for problems. */
async function openConsole(context: BrowserContext): Promise<Page> {
  problems = [];
  const page = await context.newPage();
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // The sign-in page first asks whoami without a key (the portal's JWT cookie might be there);
    // the browser logs that expected 401 itself. Anything else is a problem.
    if (msg.location().url.endsWith("/api/v1/whoami") && msg.text().includes("401")) return;
    problems.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()}`));
  page.on("request", (req) => {
    if (!req.url().startsWith(srv.url)) problems.push(`request off this server: ${req.url()}`);
  });
  await page.goto(`${srv.url}/ui/`);
  return page;
}

/** A fresh browser session signed in with `key` pasted into the API key field. */
async function signIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await openConsole(context);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Agents", exact: true }).waitFor();
  return { context, page };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install -y chromium`);
  srv = await startTestServer({
    env: { LIVENESS_FLUSH_MS: "200", FLEET_EVENTS_POLL_MS: "200", JWT_SECRET },
  });
  fleet = await createTenant(srv, "Console");
  viewerKey = await apiKey("viewer");
  editorKey = await apiKey("editor");
  // "base" follows its latest revision; "edge" is pinned to revision 1 and moves by rollout.
  expect((await fleet.api.put(t("/config-templates/base"), { content: collectorConfig(4317) })).status).toBe(
    201,
  );
  expect(
    (
      await fleet.api.put(t("/assignments/prod"), {
        selector: "env=prod",
        template: "base",
        revision: "latest",
      })
    ).status,
  ).toBe(201);
  expect((await fleet.api.put(t("/config-templates/edge"), { content: collectorConfig(5317) })).status).toBe(
    201,
  );
  expect(
    (await fleet.api.put(t("/assignments/edge"), { selector: "env=edge", template: "edge", revision: 1 }))
      .status,
  ).toBe(201);
  prodAgents = await rolloutFleet(fleet, 2, { env: "prod" });
  await rolloutFleet(fleet, 2, { env: "edge" });
  await eventually(
    async () => {
      const res = await fleet.api.get(t("/deliveries?status=applied"));
      return res.body.items.length === 4 ? true : undefined;
    },
    20_000,
    "four applied deliveries",
  );
  // A rollout that stays in its canary's bake: it can be paused and resumed from the console.
  expect((await fleet.api.put(t("/config-templates/edge"), { content: collectorConfig(5417) })).status).toBe(
    201,
  );
  const started = await fleet.api.post(t("/rollouts"), {
    assignment: "edge",
    revision: 2,
    strategy: { canary: 1, waves: ["100%"], bakeSeconds: 3600 },
  });
  expect(started.status).toBe(201);
  rolloutId = started.body.id;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.stopAgents();
  await srv?.stop();
});

describe("fleet console", () => {
  it("a viewer finds an enrolled agent, opens it and sees its delivery applied, with no write button", async () => {
    // The console is the built one, served with a policy that lets it load nothing from elsewhere.
    const index = await fetch(`${srv.url}/ui/`);
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    const { context, page } = await signIn(viewerKey);
    expect(await page.locator(".role").textContent()).toBe("viewer");
    // Fleet: the counts of the four agents.
    await page.locator('[data-tile="Online"] .tile-value').filter({ hasText: "4" }).waitFor();

    const agent = prodAgents[0];
    if (!agent) throw new Error("no agent");
    const uid = agent.instanceUidString;
    await page.getByRole("link", { name: "Agents", exact: true }).click();
    await page.getByLabel("Selector").fill("env=prod");
    await page.getByRole("button", { name: "Filter" }).click();
    const rows = page.locator("table.agents tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    await page.screenshot({ path: path.join(DOCS, "console-agents.png") });
    // Live: an agent that enrolls now shows up without a reload.
    const [newcomer] = await rolloutFleet(fleet, 1, { env: "prod" });
    await page.locator(`tr[data-uid="${newcomer?.instanceUidString}"]`).waitFor({ timeout: 15_000 });
    expect(await rows.count()).toBe(3);

    await page.locator(`tr[data-uid="${uid}"] a`).click();
    await page.getByTestId("delivery-status").filter({ hasText: "applied" }).waitFor();
    await page.getByTestId("running-config").filter({ hasText: "base@1" }).waitFor();
    await page.locator('[data-testid="deliveries"] li[data-status="applied"]').first().waitFor();
    expect(await page.getByTestId("explanation").textContent()).toContain("prod");
    await page.screenshot({ path: path.join(DOCS, "console-agent.png"), fullPage: true });

    for (const name of ["Rotate key", "Restart", "Retry", "Edit labels", "Revoke"])
      expect(await page.getByRole("button", { name }).count()).toBe(0);
    await page.goto(`${srv.url}/ui/#/templates/base`);
    await page.getByTestId("revisions").waitFor();
    expect(await page.getByRole("button", { name: "New revision" }).count()).toBe(0);
    await page.goto(`${srv.url}/ui/#/rollouts/${rolloutId}`);
    await page.getByTestId("rollout-state").filter({ hasText: "running" }).waitFor();
    for (const name of ["Pause", "Resume", "Abort"])
      expect(await page.getByRole("button", { name }).count()).toBe(0);
    await page.goto(`${srv.url}/ui/#/secrets`);
    await page.getByRole("heading", { name: "Secrets" }).waitFor();
    expect(await page.getByRole("button", { name: "Set secret" }).count()).toBe(0);
    await context.close();
    expect(problems).toEqual([]);
  });

  it("an editor pushes a new template revision and watches it apply on the agent", async () => {
    const { context, page } = await signIn(editorKey);
    await page.goto(`${srv.url}/ui/#/templates/base`);
    await page.getByRole("button", { name: "New revision" }).click();
    const content = page.getByLabel("Content");
    await content.fill((await content.inputValue()).replace("0.0.0.0:4317", "0.0.0.0:4417"));
    await page.getByLabel("Message").fill("move OTLP to 4417");
    await page.getByRole("button", { name: "Save revision" }).click();
    await page.getByText("Revision 2 saved.").waitFor();
    // The diff of the two revisions: one line out, one in.
    await page.getByTestId("diff").getByText("+1").waitFor();
    expect(await page.locator(".diff-added").allTextContents()).toEqual(["+         endpoint: 0.0.0.0:4417"]);
    expect(await page.locator(".diff-removed").allTextContents()).toEqual([
      "-         endpoint: 0.0.0.0:4317",
    ]);

    const uid = prodAgents[0]?.instanceUidString ?? "";
    await page.goto(`${srv.url}/ui/#/agents/${uid}`);
    await page.getByTestId("running-config").filter({ hasText: "base@2" }).waitFor({ timeout: 20_000 });
    await page.getByTestId("delivery-status").filter({ hasText: "applied" }).waitFor();
    await page.getByRole("button", { name: "Revoke" }).waitFor();
    // This test agent does not announce AcceptsRestartCommand: no restart offered.
    expect(await page.getByRole("button", { name: "Restart" }).isDisabled()).toBe(true);

    await page.getByRole("button", { name: "Edit labels" }).click();
    await page.getByLabel("Labels").fill("env=prod, tier=edge");
    await page.getByRole("button", { name: "Save labels" }).click();
    await page.getByText("Labels saved.").waitFor();
    await page.locator("code.label", { hasText: "tier=edge" }).first().waitFor();
    expect((await fleet.api.get(t(`/agents/${uid}`))).body.labels).toEqual({ env: "prod", tier: "edge" });
    await context.close();
    expect(problems).toEqual([]);
  });

  it("an editor pauses and resumes a rollout", async () => {
    const { context, page } = await signIn(editorKey);
    await page.goto(`${srv.url}/ui/#/rollouts/${rolloutId}`);
    const state = page.getByTestId("rollout-state");
    await state.filter({ hasText: "running" }).waitFor();
    await page.getByRole("button", { name: "Pause" }).click();
    await state.filter({ hasText: "paused" }).waitFor();
    expect((await fleet.api.get(t(`/rollouts/${rolloutId}`))).body.state).toBe("paused");
    await page.getByRole("button", { name: "Resume" }).click();
    await state.filter({ hasText: "running" }).waitFor();
    expect((await fleet.api.get(t(`/rollouts/${rolloutId}`))).body.state).toBe("running");
    await context.close();
    expect(problems).toEqual([]);
  });

  it("signs in with the portal's JWT cookie, without a key", async () => {
    const context = await browser.newContext();
    const exp = Math.floor(Date.now() / 1000) + 300;
    const token = await sign(
      { sub: "portal-user", tenant_id: fleet.tenantId, role: "editor", exp },
      JWT_SECRET,
      "HS256",
    );
    await context.addCookies([{ name: "agent_api_jwt", value: token, url: srv.url, httpOnly: true }]);
    const page = await openConsole(context);
    await page.getByRole("link", { name: "Agents", exact: true }).waitFor();
    expect(await page.locator(".role").textContent()).toBe("editor");
    expect(await page.getByLabel("API key").count()).toBe(0);
    await context.close();
    expect(problems).toEqual([]);
  });
});
