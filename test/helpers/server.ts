/**
 * Starts the real server (createContext + createServer, as main.ts does) on port 0 against a
 * fresh test database, with a known operator key.
 */
import { Writable } from "node:stream";
import type { Clock } from "../../src/clock.js";
import { type Config, loadConfig } from "../../src/config.js";
import { type AppContext, createContext } from "../../src/context.js";
import { issueToken } from "../../src/credentials/index.js";
import type { Kms } from "../../src/kms/index.js";
import { createLogger } from "../../src/logger.js";
import { createServer, type RunningServer } from "../../src/server.js";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { serverKms } from "./test-kms.js";

export interface TestServer {
  url: string;
  port: number;
  operatorKey: string;
  ctx: AppContext;
  server: RunningServer;
  database: TestDatabase;
  /** Every log line the server wrote, as text (for "never logs a secret" assertions). */
  logs(): string;
  /** Stops the server and drops its database. */
  stop(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** Reuse a database (a second replica, or a restart); it is not dropped by stop(). */
  database?: TestDatabase;
  /**
   * Share another server's open database handle (a second replica in the same process; needed
   * for the embedded database, which one process opens once).
   */
  shareDatabaseOf?: TestServer;
  /** The KMS the server uses (default: the local provider under the test's DATA_DIR). */
  kms?: Kms;
  /** Time (a ManualClock moves only when the test advances it); default the system clock. */
  clock?: Clock;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? options.shareDatabaseOf?.database ?? (await createTestDatabase());
  const operatorKey = options.env?.ADMIN_TOKEN ?? issueToken("admin").plaintext;
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: database.dataDir,
    LOG_LEVEL: "info",
    ADMIN_TOKEN: operatorKey,
    SHUTDOWN_GRACE_MS: "2000",
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...options.env,
  };
  const config: Config = loadConfig(env);
  const kms = options.kms ?? (await serverKms());
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const ctx = await createContext(config, {
    logger: createLogger(config.log.level, sink),
    ...(options.shareDatabaseOf ? { database: options.shareDatabaseOf.ctx.database } : {}),
    ...(kms ? { kms } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await ctx.services.adminKeys.ensureOperatorKey(config.auth.adminToken);
  const server = createServer(ctx);
  const { port } = await server.start();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    operatorKey,
    ctx,
    server,
    database,
    logs: () => lines.join(""),
    stop: async () => {
      await server.stop();
      if (!options.database && !options.shareDatabaseOf) await database.drop();
    },
  };
}
