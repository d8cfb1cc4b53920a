/** PostgreSQL error classes the services react to (SQLSTATE codes, same on PGlite). */

function sqlState(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Two transactions waited on each other's row locks and PostgreSQL aborted this one (40P01). */
export function isDeadlock(err: unknown): boolean {
  return sqlState(err) === "40P01";
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
