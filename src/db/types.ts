/**
 * The database handle types services pass around. Services open transactions and hand them to
 * repositories; they never build queries themselves (SQL lives in repositories and src/db), so
 * they need these types and nothing else from the query builder.
 */
import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema.js";

/** The database (pool or embedded). */
export type Db = Kysely<Database>;
/** An open transaction. */
export type Tx = Transaction<Database>;
/** Either: what a repository function that may run inside or outside a transaction takes. */
export type Queryable = Db | Tx;
