/**
 * The only module that reads the environment. `loadConfig(process.env)` turns it into a typed,
 * nested Config once at boot; a wrong value stops start-up with a message naming the variable.
 */
import { resolve } from "node:path";
import { z } from "zod";
import { parseToken } from "./credentials/index.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const boolish = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const positiveInt = z.coerce.number().int().positive();

/**
 * Raw environment schema: one entry per variable, defaults as in the README table (a test
 * checks that the table lists every key of it).
 */
export const envSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8082),
    HOST: z.string().min(1).default("0.0.0.0"),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
    DATABASE_PASSWORD_FILE: z.string().min(1).optional(),
    DB_POOL_MAX: positiveInt.max(200).default(10),
    DB_CONNECTION_MAX_LIFETIME_SECONDS: positiveInt.max(86_400).default(900),
    DB_PREPARED_STATEMENTS: boolish.default(true),
    DATA_DIR: z.string().min(1).default("./data"),
    MIGRATE_ON_START: boolish.default(true),
    PUBLIC_OPAMP_URL: z
      .string()
      .regex(/^(wss?|https?):\/\/[^/\s]+\/\S*$/, "must be a full ws://, wss://, http:// or https:// URL")
      .optional(),
    ADMIN_TOKEN: z
      .string()
      .refine((v) => parseToken(v, "admin") !== null, "must be an xsa_ key (format and checksum)")
      .optional(),
    JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    KMS_PROVIDER: z.enum(["local", "aws"]).default("local"),
    KMS_KEY_ID: z.string().min(1).optional(),
    KMS_ENDPOINT: z.url().optional(),
    AWS_REGION: z.string().min(1).optional(),
    LOCAL_KMS_KEY: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, "must be 32 bytes, base64-encoded")
      .optional(),
    LOCAL_KMS_PREVIOUS_KEYS: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=(,[A-Za-z0-9+/]{43}=)*$/, "must be comma-separated 32-byte base64 keys")
      .optional(),
    SECRET_MAX_BYTES: positiveInt.max(1024 * 1024).default(64 * 1024),
    LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
    HEARTBEAT_INTERVAL_SECONDS: positiveInt.max(3600).default(30),
    OPAMP_MAX_MESSAGE_BYTES: positiveInt.default(16 * 1024 * 1024),
    OPAMP_HANDSHAKE_TIMEOUT_MS: positiveInt.default(10_000),
    OPAMP_PING_INTERVAL_MS: positiveInt.min(100).default(30_000),
    BODY_LIMIT_BYTES: positiveInt.default(1024 * 1024),
    SHUTDOWN_GRACE_MS: positiveInt.max(60_000).default(20_000),
    LIVENESS_FLUSH_MS: positiveInt.max(60_000).default(5_000),
    FLEET_EVENTS_POLL_MS: positiveInt.max(60_000).default(2_000),
    OPAMP_MAX_CONCURRENT_HANDSHAKES: positiveInt.default(1_000),
    OPAMP_PUSH_CHUNK: positiveInt.default(500),
    OPAMP_OFFER_CA_FILE: z.string().min(1).optional(),
    DELIVERY_STALL_SECONDS: positiveInt.default(300),
    RESTART_RATE_PER_SECOND: z.coerce.number().positive().max(10_000).default(10),
    REPLICA_ID: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z
      .string()
      .regex(/^https?:\/\/[^/\s]+(\/\S*)?$/, "must be an http:// or https:// URL (the OTLP/HTTP base)")
      .optional(),
    OTEL_SERVICE_NAME: z.string().min(1).max(255).default("agent-api"),
  })
  .superRefine((env, ctx) => {
    if (env.KMS_PROVIDER === "aws" && !env.KMS_KEY_ID) {
      ctx.addIssue({ code: "custom", path: ["KMS_KEY_ID"], message: "is required when KMS_PROVIDER=aws" });
    }
  });

export type LogLevel = (typeof LOG_LEVELS)[number];

/** Typed configuration, built once at boot and passed down explicitly. */
export interface Config {
  http: { host: string; port: number; bodyLimitBytes: number; shutdownGraceMs: number };
  database: {
    url: string | undefined;
    /**
     * A file holding the role's password, read for every new connection (a mounted secret that
     * the platform rotates); it takes the place of a password in the URL.
     */
    passwordFile: string | undefined;
    poolMax: number;
    /** Pooled connections retire after this long, so a rotated password is picked up. */
    connectionMaxLifetimeSeconds: number;
    preparedStatements: boolean;
    dataDir: string;
    migrateOnStart: boolean;
  };
  opamp: {
    /** Endpoint offered to agents; undefined = derived from the listening port at start. */
    publicUrl: string | undefined;
    heartbeatIntervalSeconds: number;
    maxMessageBytes: number;
    handshakeTimeoutMs: number;
    /** Dead-peer detection on silent WebSockets (see src/opamp/README.md). */
    pingIntervalMs: number;
    maxConcurrentHandshakes: number;
    /** Agents of a fan-out planned in one database round before their configs are pushed. */
    pushChunk: number;
    /**
     * PEM CA bundle sent as `certificate.ca_cert` with the key offer, so that supervisors keep
     * verifying the server certificate after switching to their own key.
     */
    offerCaFile: string | undefined;
  };
  fleet: {
    /** How often batched heartbeats (last_seen) are written. */
    livenessFlushMs: number;
    /** Fallback poll of the fleet events table (NOTIFY is only a wake-up). */
    eventsPollMs: number;
    /** Offered/applying deliveries with no report for this long are shown as stalled. */
    deliveryStallMs: number;
    /** The pace of restart commands when many agents are asked at once (agents per second). */
    restartsPerSecond: number;
  };
  auth: { adminToken: string | undefined; jwtSecret: string | undefined };
  kms:
    | { provider: "local"; localKey: string | undefined; previousKeys: string[]; dataDir: string }
    | { provider: "aws"; keyId: string; region: string | undefined; endpoint: string | undefined };
  secrets: { maxValueBytes: number };
  log: { level: LogLevel };
  /** OpenTelemetry traces: off (undefined) unless OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  tracing: { endpoint: string; serviceName: string } | undefined;
  replicaId: string | undefined;
}

/** A start-up configuration error; the message names every offending variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * Parses the environment. Empty strings count as unset, so `FOO=` in a compose file does not
 * turn into an invalid value.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0] ?? "(env)")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  return {
    http: {
      host: e.HOST,
      port: e.PORT,
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    },
    database: {
      url: e.DATABASE_URL,
      passwordFile: e.DATABASE_PASSWORD_FILE ? resolve(e.DATABASE_PASSWORD_FILE) : undefined,
      poolMax: e.DB_POOL_MAX,
      connectionMaxLifetimeSeconds: e.DB_CONNECTION_MAX_LIFETIME_SECONDS,
      preparedStatements: e.DB_PREPARED_STATEMENTS,
      dataDir,
      migrateOnStart: e.MIGRATE_ON_START,
    },
    opamp: {
      publicUrl: e.PUBLIC_OPAMP_URL,
      heartbeatIntervalSeconds: e.HEARTBEAT_INTERVAL_SECONDS,
      maxMessageBytes: e.OPAMP_MAX_MESSAGE_BYTES,
      handshakeTimeoutMs: e.OPAMP_HANDSHAKE_TIMEOUT_MS,
      pingIntervalMs: e.OPAMP_PING_INTERVAL_MS,
      maxConcurrentHandshakes: e.OPAMP_MAX_CONCURRENT_HANDSHAKES,
      pushChunk: e.OPAMP_PUSH_CHUNK,
      offerCaFile: e.OPAMP_OFFER_CA_FILE ? resolve(e.OPAMP_OFFER_CA_FILE) : undefined,
    },
    fleet: {
      livenessFlushMs: e.LIVENESS_FLUSH_MS,
      eventsPollMs: e.FLEET_EVENTS_POLL_MS,
      deliveryStallMs: e.DELIVERY_STALL_SECONDS * 1000,
      restartsPerSecond: e.RESTART_RATE_PER_SECOND,
    },
    auth: { adminToken: e.ADMIN_TOKEN, jwtSecret: e.JWT_SECRET },
    kms:
      e.KMS_PROVIDER === "aws"
        ? { provider: "aws", keyId: e.KMS_KEY_ID ?? "", region: e.AWS_REGION, endpoint: e.KMS_ENDPOINT }
        : {
            provider: "local",
            localKey: e.LOCAL_KMS_KEY,
            previousKeys: e.LOCAL_KMS_PREVIOUS_KEYS?.split(",") ?? [],
            dataDir,
          },
    secrets: { maxValueBytes: e.SECRET_MAX_BYTES },
    log: { level: e.LOG_LEVEL },
    tracing: e.OTEL_EXPORTER_OTLP_ENDPOINT
      ? { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME }
      : undefined,
    replicaId: e.REPLICA_ID,
  };
}

/** Settings of the client commands (`agent-api apply`), which need none of the server's. */
export function cliEnvironment(env: NodeJS.ProcessEnv): { apiToken: string | undefined } {
  return { apiToken: env.AGENT_API_TOKEN || undefined };
}
