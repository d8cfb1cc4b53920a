/**
 * The database types services and repositories pass around, so that only repositories and
 * `src/db` import `kysely` (STYLE.md 3): a service holds a `Db`, opens transactions on it and hands
 * the `Tx` to repository functions; a repository function that only reads or writes takes a
 * `Queryable`, one that locks rows takes the `Tx` (STYLE.md 7).
 */
import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema.js";

/** The connection pool (or the embedded database). */
export type Db = Kysely<Database>;

/** An open transaction. */
export type Tx = Transaction<Database>;

/** Either: a statement that runs the same inside or outside a transaction. */
export type Queryable = Db | Tx;
