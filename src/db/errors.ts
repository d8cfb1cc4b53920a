/** PostgreSQL error classes the services react to (SQLSTATE codes, same on PGlite). */

function sqlState(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Two transactions waited on each other's row locks and PostgreSQL aborted this one (40P01). */
export function isDeadlock(err: unknown): boolean {
  return sqlState(err) === "40P01";
}

/**
 * Runs a statement that sets absolute values (safe to repeat) again when PostgreSQL aborted it as
 * a deadlock: writes of many agent rows from several replicas and batches meet on the same rows.
 */
export async function retryingDeadlocks<T>(run: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isDeadlock(err) || attempt >= attempts) throw err;
    }
  }
}

/** A unique constraint refused the row (23505). */
export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === "23505";
}

/** An error caused by the data of a statement (class 22 data exception, 23 integrity violation). */
export function isDataError(err: unknown): boolean {
  const code = sqlState(err);
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("23"));
}

/**
 * SQLSTATEs that say the server cannot serve this connection now: class 08 (connection
 * exception), the shutdown and start-up states of class 57, too many connections, and a refused
 * login (28000, 28P01: the password was rotated under us).
 */
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300", "28000", "28P01"]);

/** Socket errors of a connection attempt or a connection dropped under a statement. */
const SOCKET_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** What node-postgres and pg-pool throw, without a code, when a connection fails or is lost. */
const CLIENT_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Cannot use a pool after calling end)/;

/**
 * Whether `err` says the database cannot be reached now, as opposed to a statement that failed:
 * the class of the error, not the statement it came from. Follows `cause` and the errors of an
 * AggregateError (a connect that tried several addresses).
 */
export function isConnectionFailure(err: unknown, depth = 0): boolean {
  if (typeof err !== "object" || err === null || depth > 4) return false;
  const code = sqlState(err);
  if (
    typeof code === "string" &&
    (code.startsWith("08") || UNAVAILABLE_STATES.has(code) || SOCKET_ERRORS.has(code))
  )
    return true;
  const message = (err as { message?: unknown }).message;
  if (typeof message === "string" && CLIENT_MESSAGES.test(message)) return true;
  if (err instanceof AggregateError && err.errors.some((e) => isConnectionFailure(e, depth + 1))) return true;
  return isConnectionFailure((err as { cause?: unknown }).cause, depth + 1);
}
