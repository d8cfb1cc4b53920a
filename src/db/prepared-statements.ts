/**
 * Named prepared statements for the statements the server runs over and over (session starts,
 * batched report writes, credential lookups): PostgreSQL parses and plans each once per
 * connection instead of on every call, and the client stops sending its text. The hot path's
 * statements have a fixed text whatever the batch size (arrays, not IN lists), so a handful of
 * names covers it.
 *
 * A text is prepared once it has run HOT_AFTER times; at most MAX_NAMES texts get a name, so
 * one-off statements (REST filters, migrations) never accumulate on the server's connections.
 * Turned off with DB_PREPARED_STATEMENTS=false (for a transaction-pooling proxy in front of
 * PostgreSQL that cannot keep them).
 */
import pg from "pg";

const HOT_AFTER = 3;
const MAX_NAMES = 200;
/** Distinct texts counted at most (a flood of one-off texts must not grow memory). */
const MAX_COUNTED = 5_000;

export class StatementNames {
  readonly #runs = new Map<string, number>();
  readonly #names = new Map<string, string>();

  /** The name to prepare `text` under, or undefined to run it unnamed. */
  nameFor(text: string): string | undefined {
    const name = this.#names.get(text);
    if (name !== undefined) return name;
    const runs = (this.#runs.get(text) ?? 0) + 1;
    if (runs < HOT_AFTER) {
      if (this.#runs.size < MAX_COUNTED || this.#runs.has(text)) this.#runs.set(text, runs);
      return undefined;
    }
    if (this.#names.size >= MAX_NAMES) return undefined;
    this.#runs.delete(text);
    const fresh = `agentapi_${this.#names.size + 1}`;
    this.#names.set(text, fresh);
    return fresh;
  }

  get size(): number {
    return this.#names.size;
  }
}

/**
 * A pg.Client class whose `query(text, values)` (the form Kysely uses) runs hot texts as named
 * prepared statements; pg prepares a name once per connection and reuses it after.
 */
export function preparingClient(names: StatementNames): typeof pg.Client {
  class PreparingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's query() is a set of overloads; this only forwards them.
    override query(config: any, values?: any, callback?: any): any {
      if (typeof config === "string" && Array.isArray(values) && callback === undefined) {
        const name = names.nameFor(config);
        if (name !== undefined) return super.query({ name, text: config, values });
      }
      return super.query(config, values, callback);
    }
  }
  return PreparingClient;
}
