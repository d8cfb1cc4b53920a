/**
 * The server as a process, started the way `npm start` starts it (through tsx here, so no build
 * step is needed): start-up errors, the operator key printed once, graceful shutdown.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";

const children: ChildProcess[] = [];
const databases: TestDatabase[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of databases.splice(0)) await d.drop();
});

function startProcess(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += String(d);
  });
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = stdout.match(re);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out waiting for ${re}; stdout: ${stdout}; stderr: ${stderr}`);
    },
  };
}

async function dbEnv(): Promise<Record<string, string>> {
  const d = await createTestDatabase();
  databases.push(d);
  return { DATA_DIR: d.dataDir, ...(d.url ? { DATABASE_URL: d.url } : {}) };
}

describe("agent-api process", () => {
  it("refuses to start on an invalid variable, naming it, with exit code 2", async () => {
    const p = startProcess({ PORT: "not-a-port", LOG_LEVEL: "silent" });
    const [code] = await once(p.child, "exit");
    expect(code).toBe(2);
    expect(p.stderr()).toMatch(/PORT: /);
  });

  it("prints a generated operator key once, on the first start only, and it works", async () => {
    const env = { ...(await dbEnv()), PORT: "0", LOG_LEVEL: "info" };
    const first = startProcess(env);
    const [, key] = (await first.waitFor(/\n\s+(xsa_[A-Za-z0-9]{38})\n/)) ?? [];
    const port = Number((await first.waitFor(/"port":(\d+)/))[1]);
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/tenants`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    first.child.kill("SIGTERM");
    await once(first.child, "exit");

    const second = startProcess(env);
    await second.waitFor(/agent-api listening/);
    expect(second.stdout()).not.toMatch(/xsa_[A-Za-z0-9]{38}/);
    second.child.kill("SIGTERM");
    await once(second.child, "exit");
  });

  it("drains and exits 0 on SIGTERM well within 25 s", async () => {
    const p = startProcess({ ...(await dbEnv()), PORT: "0", LOG_LEVEL: "info" });
    const port = Number((await p.waitFor(/"port":(\d+)/))[1]);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const started = Date.now();
    p.child.kill("SIGTERM");
    const [code] = await once(p.child, "exit");
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(p.stdout()).toContain('"msg":"stopped"');
  });
});
