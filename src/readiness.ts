/**
 * Readiness: the database answers `SELECT 1` quickly, every migration is applied, and the
 * process is not draining. Liveness (/healthz) deliberately checks none of this, so a database
 * blip never restarts the fleet's server (and never sends every agent reconnecting at once).
 */

import type { RuntimeState } from "./context.js";
import type { DatabaseHandle } from "./db/database.js";
import { pendingMigrations } from "./db/migrator.js";

export interface ReadinessReport {
  ready: boolean;
  checks: {
    database: "ok" | "unreachable";
    migrations: "current" | "pending" | "unknown";
    draining: boolean;
  };
}

const PING_TIMEOUT_MS = 1_000;

export class Readiness {
  #migrationsCurrent = false;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly state: RuntimeState,
  ) {}

  async check(): Promise<ReadinessReport> {
    let database: ReadinessReport["checks"]["database"] = "ok";
    let migrations: ReadinessReport["checks"]["migrations"] = this.#migrationsCurrent ? "current" : "unknown";
    try {
      await this.database.ping(PING_TIMEOUT_MS);
      if (!this.#migrationsCurrent) {
        // Once current, always current for this process: migrations only move forward.
        this.#migrationsCurrent = (await pendingMigrations(this.database.db)).length === 0;
        migrations = this.#migrationsCurrent ? "current" : "pending";
      }
    } catch {
      database = "unreachable";
    }
    const draining = this.state.draining;
    return {
      ready: database === "ok" && migrations === "current" && !draining,
      checks: { database, migrations, draining },
    };
  }
}
