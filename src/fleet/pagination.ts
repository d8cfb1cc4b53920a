/**
 * Opaque cursors for keyset pagination: the cursor carries the last key of the previous page,
 * so a page costs one index range scan however deep it is.
 */
import { BadRequestError } from "../errors.js";

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Encodes the key of the last row returned. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

/** Decodes a cursor; a tampered or foreign cursor is a 400 naming the `cursor` parameter. */
export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(value) &&
      value.length === arity &&
      value.every((v) => typeof v === "string" || typeof v === "number")
    ) {
      return value;
    }
  } catch {
    // fall through to the error below
  }
  throw new BadRequestError("invalid cursor", [{ path: "cursor", message: "not a cursor this API issued" }]);
}

/**
 * Builds a page from `limit + 1` fetched rows: the extra row only tells whether a next page
 * exists.
 */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  keyOf: (row: R) => readonly (string | number)[],
  view: (row: R) => T,
): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    items: pageRows.map(view),
    nextCursor: hasMore && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
