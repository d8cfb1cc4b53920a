/**
 * The database handle: Kysely over node-postgres when DATABASE_URL is set, over embedded
 * PGlite under DATA_DIR otherwise. Same migrations, same queries. Also LISTEN (the wake-up
 * channel of DESIGN.md §8) and a readiness ping.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { parseIntoClientConfig } from "pg-connection-string";
import type { Logger } from "../logger.js";
import type { PoolStats } from "../metrics.js";
import { recordQuerySpan, tracingEnabled } from "../tracing.js";
import { isConnectionFailure } from "./errors.js";
import { PgliteDialect } from "./pglite-dialect.js";
import { preparingClient, StatementNames } from "./prepared-statements.js";
import type { Database } from "./schema.js";

export type { Database } from "./schema.js";

/** What the rest of the server sees of the database. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: "postgres" | "embedded";
  /** Subscribes to NOTIFY on `channel`; the returned function unsubscribes. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Throws unless `SELECT 1` answers within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void>;
  /**
   * Whether `err` says the database cannot be reached now (down, restarting, refusing the
   * password, the connection lost), as opposed to a statement that failed: the transports answer
   * the first kind with 503 and Retry-After.
   */
  isUnavailable(err: unknown): boolean;
  poolStats(): PoolStats | undefined;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url: string | undefined;
  /** Read for every new connection (pool and LISTEN); replaces a password in the URL. */
  passwordFile: string | undefined;
  poolMax: number;
  /** Pooled connections retire after this long (a rotated password takes effect). */
  connectionMaxLifetimeSeconds: number;
  dataDir: string;
  /** Run hot statements as named prepared statements (see prepared-statements.ts). */
  preparedStatements: boolean;
}

// int8 as a number while it is exact (counts, ids), as a bigint beyond; PGlite does the same.
function parseInt8(value: string): number | bigint {
  const big = BigInt(value);
  return big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER) ? big : Number(big);
}

const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20 ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Kysely's per-statement hook, only when traces are exported (Kysely times nothing otherwise). */
function queryTracing(): { log?: typeof recordQuerySpan } {
  return tracingEnabled() ? { log: recordQuerySpan } : {};
}

/** Opens the database the configuration names. */
export async function openDatabase(options: DatabaseOptions, logger: Logger): Promise<DatabaseHandle> {
  return options.url
    ? openPostgres({ ...options, url: options.url }, logger)
    : openEmbedded(options.dataDir, logger);
}

/** How a connection is made: the URL's settings, and the password from the file when there is one. */
type ConnectionSettings = pg.ClientConfig;

/**
 * With a password file, the URL's own password is dropped and the file is read again for every
 * new connection: a rotated secret takes effect on the next connect, without a restart. (The URL
 * is parsed here, by pg's own parser, because pg lets a connection string's password, even an
 * empty one, win over the `password` option.)
 */
function connectionSettings(url: string, passwordFile: string | undefined): ConnectionSettings {
  if (!passwordFile) return { connectionString: url };
  const { password: _fromUrl, ...settings } = parseIntoClientConfig(url);
  return {
    ...settings,
    password: async () => (await readFile(passwordFile, "utf8")).replace(/\r?\n$/, ""),
  };
}

async function openPostgres(
  options: DatabaseOptions & { url: string },
  logger: Logger,
): Promise<DatabaseHandle> {
  const connection = connectionSettings(options.url, options.passwordFile);
  const pool = new pg.Pool({
    ...(options.preparedStatements ? { Client: preparingClient(new StatementNames()) } : {}),
    ...connection,
    max: options.poolMax,
    types: pgTypes,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    // Retire connections so a rotated database password takes effect without a restart.
    maxLifetimeSeconds: options.connectionMaxLifetimeSeconds,
    application_name: "agent-api",
  });
  // The pool listens for errors of idle clients only. A checked-out client whose socket drops
  // between two statements (a database killed mid-transaction) emits "error" too, and without a
  // listener that would end the process; the statement in flight fails on its own and the pool
  // discards the client when it is released.
  const connectionLost = (err: Error & { code?: string }) =>
    logger.warn({ err: { message: err.message, code: err.code } }, "database connection lost");
  pool.on("error", connectionLost);
  pool.on("connect", (client) => client.on("error", connectionLost));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...queryTracing() });
  await withTimeout(sql`select 1`.execute(db), 10_000, "connecting to PostgreSQL");

  return {
    db,
    kind: "postgres",
    listen: (channel, onNotify) => listenPostgres(connection, channel, onNotify, logger),
    ping: async (timeoutMs) => {
      await withTimeout(sql`select 1`.execute(db), timeoutMs, "database ping");
    },
    isUnavailable: isConnectionFailure,
    poolStats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: options.poolMax,
    }),
    close: async () => {
      await db.destroy();
    },
  };
}

/**
 * A dedicated client for LISTEN that reconnects after errors. Missed notifications while it is
 * down are harmless: NOTIFY is only a wake-up, and readers poll the outbox table as well.
 */
async function listenPostgres(
  connection: ConnectionSettings,
  channel: string,
  onNotify: (payload: string) => void,
  logger: Logger,
): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const quoted = `"${channel.replaceAll('"', '""')}"`;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ ...connection, application_name: "agent-api-listen" });
    c.on("notification", (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? "");
    });
    c.on("error", (err) => {
      logger.warn({ err, channel }, "LISTEN connection lost; reconnecting");
      scheduleReconnect();
    });
    await c.connect();
    await c.query(`LISTEN ${quoted}`);
    client = c;
  };
  const scheduleReconnect = (): void => {
    const old = client;
    client = undefined;
    old?.end().catch(() => undefined);
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().catch((err: unknown) => {
        logger.warn({ err, channel }, "LISTEN reconnect failed");
        scheduleReconnect();
      });
    }, 1_000);
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}

async function openEmbedded(dataDir: string, logger: Logger): Promise<DatabaseHandle> {
  const dir = join(dataDir, "pgdata");
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  logger.info({ dataDir: dir }, "using the embedded PostgreSQL (PGlite); set DATABASE_URL for a server");
  const db = new Kysely<Database>({ dialect: new PgliteDialect(pglite), ...queryTracing() });

  return {
    db,
    kind: "embedded",
    listen: async (channel, onNotify) => {
      // Through the mutex: a LISTEN issued inside another caller's open transaction would be
      // dropped if that transaction rolled back.
      const unsubscribe = await db.connection().execute(() => pglite.listen(channel, onNotify));
      return async () => {
        await unsubscribe();
      };
    },
    ping: async (timeoutMs) => {
      await withTimeout(sql`select 1`.execute(db), timeoutMs, "database ping");
    },
    // In-process: there is no connection to lose.
    isUnavailable: () => false,
    poolStats: () => undefined,
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}
