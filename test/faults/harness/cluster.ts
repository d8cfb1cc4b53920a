/**
 * A throwaway PostgreSQL cluster for fault tests: `initdb` into a directory under /tmp, started
 * with `pg_ctl` on its own port, killed (`pg_ctl -m immediate`) and started again by the test.
 * Runs as the `postgres` user when the tests run as root (initdb refuses root). Local socket
 * connections are trusted (the test's superuser statements); TCP needs a password, so the role
 * the server uses really authenticates (the password-rotation fault depends on it).
 */
import { execFile, execSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/** The newest PostgreSQL server binaries on this machine (PG_BIN overrides). */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql (set PG_BIN)");
  return join(root, versions[0], "bin");
}

/** `cmd args` as the postgres user when we are root, as ourselves otherwise. */
async function asPostgres(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  const { stdout } = await run(file, argv, { timeout: timeoutMs, cwd: "/tmp" });
  return stdout;
}

export const ROLE = "agentapi_faults";

export class PgCluster {
  readonly bin = postgresBin();
  readonly dir: string;
  readonly dataDir: string;
  /** Unix socket directory (superuser statements connect through it, trusted). */
  readonly socketDir: string;
  readonly logFile: string;
  #password: string;

  private constructor(
    readonly port: number,
    password: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "agent-api-faults-"));
    this.dataDir = join(this.dir, "data");
    this.socketDir = this.dir;
    this.logFile = join(this.dir, "postgres.log");
    this.#password = password;
  }

  /** initdb, start, and a login role (password auth over TCP) that may create databases. */
  static async create(port: number, password = "faults-pw-1"): Promise<PgCluster> {
    const c = new PgCluster(port, password);
    if (process.getuid?.() === 0) chownSync(c.dir, uidOf("postgres"), gidOf("postgres"));
    await asPostgres(join(c.bin, "initdb"), [
      "-D",
      c.dataDir,
      "-U",
      "postgres",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--no-sync",
      "-E",
      "UTF8",
    ]);
    await c.start();
    await c.sql(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${password}'`);
    return c;
  }

  /** The URL of `database` for the server's role, with the current password (or none). */
  url(database: string, opts: { withPassword?: boolean } = {}): string {
    const auth = opts.withPassword === false ? ROLE : `${ROLE}:${this.#password}`;
    return `postgres://${auth}@127.0.0.1:${this.port}/${database}`;
  }

  get password(): string {
    return this.#password;
  }

  async start(): Promise<void> {
    await asPostgres(join(this.bin, "pg_ctl"), [
      "-D",
      this.dataDir,
      "-l",
      this.logFile,
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${this.port} -k ${this.socketDir} -c listen_addresses=127.0.0.1 -c max_connections=200`,
      "start",
    ]);
  }

  /** What a crash looks like to clients: every backend gone at once, no checkpoint. */
  async killImmediate(): Promise<void> {
    await asPostgres(join(this.bin, "pg_ctl"), ["-D", this.dataDir, "-m", "immediate", "-w", "stop"]);
  }

  async stop(): Promise<void> {
    await asPostgres(join(this.bin, "pg_ctl"), ["-D", this.dataDir, "-m", "fast", "-w", "stop"]).catch(
      () => undefined,
    );
  }

  /** Stops the cluster and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A superuser statement through the trusted local socket; rows as objects. */
  async sql<T extends Record<string, unknown>>(
    text: string,
    values: unknown[] = [],
    database = "postgres",
  ): Promise<T[]> {
    const client = new pg.Client({ host: this.socketDir, port: this.port, user: "postgres", database });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** A fresh database owned by the server's role. */
  async createDatabase(name: string): Promise<string> {
    await this.sql(`CREATE DATABASE ${pg.escapeIdentifier(name)} OWNER ${ROLE}`);
    return name;
  }

  /** ALTER ROLE … PASSWORD: existing sessions stay, new logins need the new password. */
  async rotatePassword(password: string): Promise<void> {
    await this.sql(`ALTER ROLE ${ROLE} PASSWORD '${password.replaceAll("'", "''")}'`);
    this.#password = password;
  }

  /** Terminates the server role's backends (all, or those of one application name); how many. */
  async terminateBackends(applicationName?: string): Promise<number> {
    const rows = await this.sql<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE usename = $1 AND ($2::text IS NULL OR application_name = $2)`,
      [ROLE, applicationName ?? null],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Backends of the server's role with this application name (e.g. the LISTEN connection). */
  async backends(applicationName: string): Promise<number[]> {
    const rows = await this.sql<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND application_name = $2",
      [ROLE, applicationName],
    );
    return rows.map((r) => r.pid);
  }
}

/** The uid or gid of a system user (to hand the cluster directory to postgres). */
function idOf(flag: "-u" | "-g", name: string): number {
  return Number(execSync(`id ${flag} ${name}`, { encoding: "utf8" }).trim());
}
const uidOf = (name: string) => idOf("-u", name);
const gidOf = (name: string) => idOf("-g", name);
