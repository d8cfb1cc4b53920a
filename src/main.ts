#!/usr/bin/env node
/**
 * Process entry. `agent-api` (or `agent-api serve`) runs the server; `agent-api migrate`
 * applies pending migrations and exits. Configuration comes from the environment only.
 */
import { runApply } from "./cli/apply.js";
import { runRollouts } from "./cli/rollouts.js";
import { type Config, ConfigError, cliEnvironment, loadConfig } from "./config.js";
import { createContext } from "./context.js";
import { openDatabase } from "./db/database.js";
import { migrateToLatest } from "./db/migrator.js";
import { createLogger } from "./logger.js";
import { createServer } from "./server.js";

const USAGE = `usage: agent-api [serve | migrate | secrets rewrap | apply … | rollouts …]

  serve            run the server (default)
  migrate          apply pending database migrations and exit
  secrets rewrap   re-wrap every secret's data key under the current KMS key and exit
  apply            apply GitOps manifests to a running server (agent-api apply --help)
  rollouts         list, read, pause, resume or abort rollouts (agent-api rollouts --help)

Configuration is read from the environment; see README.md.`;

async function serve(config: Config): Promise<void> {
  const ctx = await createContext(config);
  const { generated } = await ctx.services.adminKeys.ensureOperatorKey(config.auth.adminToken);
  if (generated) {
    // Printed once, to stdout and not through the logger: this is the only time the key exists
    // in plaintext. It is stored as SHA-256 only.
    process.stdout.write(
      `\n  Operator API key (shown once, store it now; set ADMIN_TOKEN to choose your own):\n\n    ${generated}\n\n`,
    );
  }
  const server = createServer(ctx);
  await server.start();

  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      ctx.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    ctx.logger.info({ signal }, "shutting down");
    // Hard deadline under Kubernetes' default 30 s grace period.
    const deadline = setTimeout(() => process.exit(1), 25_000);
    deadline.unref();
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        ctx.logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

async function migrate(config: Config): Promise<void> {
  const logger = createLogger(config.log.level);
  const database = await openDatabase(config.database, logger);
  try {
    const applied = await migrateToLatest(database.db);
    logger.info({ applied }, applied.length ? "migrations applied" : "database already current");
  } finally {
    await database.close();
  }
}

/**
 * Moves every secret's data key to the current KMS key (after changing KMS_KEY_ID, or
 * LOCAL_KMS_KEY with the old key in LOCAL_KMS_PREVIOUS_KEYS). Values and config hashes stay.
 */
async function rewrap(config: Config): Promise<void> {
  const ctx = await createContext(config);
  try {
    const counts = await ctx.services.secrets.rewrapAll();
    process.stdout.write(
      `rewrapped ${counts.rewrapped}, already current ${counts.unchanged}, failed ${counts.failed}\n`,
    );
    if (counts.failed > 0) process.exitCode = 1;
  } finally {
    await ctx.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? "serve";
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === "apply" || command === "rollouts") {
    // A client command: it talks to a server over HTTP and needs none of the server's settings.
    const code = await (command === "apply" ? runApply : runRollouts)(
      argv.slice(1),
      (l: string) => process.stdout.write(`${l}\n`),
      (l: string) => process.stderr.write(`${l}\n`),
      { token: cliEnvironment(process.env).apiToken },
    );
    process.exit(code);
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agent-api: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  switch (command) {
    case "serve":
      return serve(config);
    case "migrate":
      return migrate(config);
    case "secrets":
      if (argv[1] !== "rewrap") break;
      return rewrap(config);
    default:
      break;
  }
  process.stderr.write(`agent-api: unknown command "${argv.join(" ")}"\n${USAGE}\n`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`agent-api: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
