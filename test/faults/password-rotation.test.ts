/**
 * Fault 2 of issue 16: the database password is rotated under a running server (the incident of
 * a rotated password and a static secret). The server reads DATABASE_PASSWORD_FILE for every new
 * connection and retires pooled connections after DB_CONNECTION_MAX_LIFETIME_SECONDS.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { PgCluster, ROLE } from "./harness/cluster.js";
import { freePort, generation, sleep, within } from "./harness/fleet.js";
import { recordFault, runDir } from "./harness/report.js";
import { AgentApiProcess } from "./harness/server-process.js";

const LIFETIME_S = 3;

let cluster: PgCluster;
let server: AgentApiProcess;
let fleet: TenantFixture;
let passwordFile: string;
let n = 0;
const t = (suffix: string) => `/api/v1/tenants/${fleet.tenantId}${suffix}`;
const write = () => fleet.api.put(t(`/config-templates/r-${n++}`), { content: generation(7000 + n) });

/** Connections of the server's pool that were opened before `since`. */
async function poolBackendsOlderThan(since: Date): Promise<number> {
  const rows = await cluster.sql<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1 AND application_name = 'agent-api' AND backend_start < $2",
    [ROLE, since],
  );
  return Number(rows[0]?.n ?? 0);
}

beforeAll(async () => {
  cluster = await PgCluster.create(await freePort(), "rotation-pw-1");
  const db = await cluster.createDatabase("faults_rotation");
  const dir = runDir("rotation");
  passwordFile = join(dir, "db-password");
  writeFileSync(passwordFile, "rotation-pw-1\n", { mode: 0o600 });
  server = await AgentApiProcess.start({
    name: "rotation",
    databaseUrl: cluster.url(db, { withPassword: false }),
    dataDir: dir,
    env: {
      DATABASE_PASSWORD_FILE: passwordFile,
      DB_CONNECTION_MAX_LIFETIME_SECONDS: String(LIFETIME_S),
      FLEET_EVENTS_POLL_MS: "500",
    },
  });
  fleet = await createTenant(server, "Rotation");
});

afterAll(async () => {
  await server?.terminate();
  await cluster?.destroy();
});

describe("fault 2: the database password rotated under a running server", () => {
  it("picks up a rotated password from the file, and /readyz says when it cannot connect", async () => {
    // /readyz sampled every 200 ms all along, with what the test knew at that moment.
    const samples: { phase: string; status: number }[] = [];
    let phase = "before";
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ phase, status: await server.status("/readyz", 2_000) });
        await sleep(200);
      }
    })();
    expect((await write()).status).toBe(201);

    // 1. Rotated in the database and in the file together, no backend killed: pooled
    //    connections retire after their lifetime and reconnect with the new password. (Between
    //    the two steps a new connection fails, and /readyz may say so: that is the truth.)
    phase = "rotated";
    const rotatedAt = new Date();
    await cluster.rotatePassword("rotation-pw-2");
    writeFileSync(passwordFile, "rotation-pw-2\n");
    const writesWhileRetiring: number[] = [];
    const renewed = await within(LIFETIME_S * 1000 + 10_000, "every pooled connection renewed", async () => {
      writesWhileRetiring.push((await write()).status);
      return (await poolBackendsOlderThan(rotatedAt)) === 0 ? true : undefined;
    });

    // 2. Rotated in the database only, every backend killed: the file is stale now. A sample
    //    taken before the kill may still find a live pooled connection (and say 200, truly):
    //    "stale" starts once no connection with the old password is left.
    phase = "killing";
    await cluster.rotatePassword("rotation-pw-3");
    await cluster.terminateBackends();
    // A connection that was logging in while the first kill ran can survive it: kill again.
    await sleep(300);
    await cluster.terminateBackends();
    phase = "stale";
    const notReady = await server.waitReadyz(503, 5_000);
    const staleWrite = await write();

    // 3. The file catches up: writes succeed again.
    writeFileSync(passwordFile, "rotation-pw-3\n");
    phase = "fixed";
    const recovered = await within(10_000, "a write succeeds with the new password", async () => {
      const res = await write();
      return res.status === 201 ? res : undefined;
    });
    const readyAgain = await server.waitReadyz(200, 10_000);
    const listen = await within(10_000, "the LISTEN connection is back", async () =>
      (await cluster.backends("agent-api-listen")).length > 0 ? true : undefined,
    );
    await sleep(400);
    sampling = false;
    await sampler;

    // Once /readyz has said it cannot connect with the stale file, it must not say ready again
    // until the file is fixed (a 200 before that is a connection that really still worked).
    const stale = samples.filter((s) => s.phase === "stale");
    const firstRefusal = stale.findIndex((s) => s.status === 503);
    const staleReady = stale.slice(Math.max(0, firstRefusal)).filter((s) => s.status === 200).length;
    const retiringFailures = writesWhileRetiring.filter((s) => s !== 201).length;
    const leaked = server.log().includes("rotation-pw-");
    recordFault({
      id: "2",
      fault: "Database password rotated",
      done: `DATABASE_PASSWORD_FILE, DB_CONNECTION_MAX_LIFETIME_SECONDS=${LIFETIME_S}: (a) ALTER ROLE and the file together, no kill; (b) ALTER ROLE only and pg_terminate_backend, then the file`,
      criterion:
        "(a) pooled connections renewed within the lifetime, every write succeeds; (b) /readyz 503 and writes 503 + Retry-After while the file is stale, writes succeed within seconds of the file update, /readyz 200; never /readyz 200 while it cannot log in; the password never logged",
      seen: `(a) renewed in ${renewed.ms} ms, ${retiringFailures} of ${writesWhileRetiring.length} writes failed; (b) /readyz 503 after ${notReady} ms, write ${staleWrite.status} (Retry-After ${staleWrite.headers.get("retry-after")}), first write after the file update in ${recovered.ms} ms, /readyz 200 after ${readyAgain} ms more, LISTEN back in ${listen.ms} ms; ${staleReady} /readyz 200 while stale; password in the log: ${leaked}`,
      figures: {
        "pool renewed after rotation (ms)": renewed.ms,
        "writes failed while connections retired": `${retiringFailures}/${writesWhileRetiring.length}`,
        "readyz 503 after backends killed with a stale file (ms)": notReady,
        "write with a stale file": `${staleWrite.status}, Retry-After ${staleWrite.headers.get("retry-after")}`,
        "first successful write after the file update (ms)": recovered.ms,
        "readyz answers by phase": ["before", "rotated", "stale", "fixed"]
          .map((p) => {
            const of = samples.filter((x) => x.phase === p);
            const ok = of.filter((x) => x.status === 200).length;
            return `${p}: 200×${ok}, 503×${of.length - ok}`;
          })
          .join("; "),
        "readyz 200 while the file was stale": staleReady,
      },
      pass:
        retiringFailures === 0 &&
        staleWrite.status === 503 &&
        staleReady === 0 &&
        !leaked &&
        recovered.ms < 10_000,
    });

    expect(retiringFailures).toBe(0);
    expect(staleWrite.status).toBe(503);
    expect(staleWrite.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(staleReady).toBe(0);
    expect(recovered.ms).toBeLessThan(10_000);
    expect(leaked).toBe(false);
  });
});
