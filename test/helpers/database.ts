/**
 * Test databases. With TEST_DATABASE_URL (a PostgreSQL server URL), each call creates a fresh
 * database on that server; without it, each call gets a fresh embedded database directory.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface TestDatabase {
  /** DATABASE_URL for the server under test, or undefined for the embedded default. */
  url: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

/** Which database the suite runs against, for test names and skips-by-design in reports. */
export const testDatabaseKind = process.env.TEST_DATABASE_URL ? "postgres" : "embedded";

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), "agent-api-test-"));
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    return { url: undefined, dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const name = `agentapi_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir,
    drop: async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        // FORCE cannot end a backend of another role (an autovacuum worker that happens to be on
        // the database, for a role without pg_signal_backend): retry briefly, then leave it.
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            break;
          } catch (err) {
            if (attempt >= 10) {
              process.stderr.write(`test database ${name} left behind: ${(err as Error).message}\n`);
              break;
            }
            await new Promise((r) => setTimeout(r, 300));
          }
        }
      } finally {
        await c.end();
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
