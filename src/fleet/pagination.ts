/**
 * Opaque cursors for keyset pagination: the cursor carries the last key of the previous page,
 * so a page costs one index range scan however deep it is.
 *
 * A cursor is bound to the listing that issued it: it is tagged with its kind, and each part of
 * the key is checked against the type that listing's query expects (a UUID, a timestamp, an
 * integer in the 32-bit range, storable text). A crafted cursor, or one of another listing, is a
 * 400 `invalid_cursor` before any query runs, never a database error.
 */
import { InvalidCursorError } from "../errors.js";
import { isStorableText } from "./storable-text.js";

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

type CursorPart = "text" | "uuid" | "timestamp" | "position";
type PartValue<P extends CursorPart> = P extends "position" ? number : string;
type KeyOf<Parts extends readonly CursorPart[]> = { [I in keyof Parts]: PartValue<Parts[I]> };

/** One listing's cursor: its tag and the types of its key parts. */
export interface CursorKind<Parts extends readonly CursorPart[] = readonly CursorPart[]> {
  readonly tag: string;
  readonly parts: Parts;
}

function kind<const Parts extends readonly CursorPart[]>(tag: string, parts: Parts): CursorKind<Parts> {
  return { tag, parts };
}

/** Every listing's cursor kind; two listings never share a tag. */
export const CURSORS = {
  tenants: kind("tenants", ["text"]),
  apiKeys: kind("api-keys", ["text"]),
  enrollmentTokens: kind("enrollment-tokens", ["text"]),
  auditEvents: kind("audit-events", ["text"]),
  agents: kind("agents", ["uuid"]),
  templates: kind("templates", ["text"]),
  revisions: kind("revisions", ["position"]),
  assignments: kind("assignments", ["text"]),
  deliveries: kind("deliveries", ["timestamp", "text"]),
  secrets: kind("secrets", ["text"]),
  rollouts: kind("rollouts", ["timestamp", "text"]),
  rolloutAgents: kind("rollout-agents", ["position"]),
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const MAX_TEXT = 512;

function validPart(part: CursorPart, value: unknown): boolean {
  switch (part) {
    case "text":
      return typeof value === "string" && value.length <= MAX_TEXT && isStorableText(value);
    case "uuid":
      return typeof value === "string" && UUID.test(value);
    case "timestamp":
      return typeof value === "string" && ISO_TIMESTAMP.test(value) && Number.isFinite(Date.parse(value));
    case "position":
      return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 2_147_483_647;
  }
}

/** Encodes the key of the last row returned, tagged with its listing. */
export function encodeCursor<Parts extends readonly CursorPart[]>(
  cursorKind: CursorKind<Parts>,
  key: KeyOf<Parts>,
): string {
  return Buffer.from(JSON.stringify([cursorKind.tag, ...key]), "utf8").toString("base64url");
}

/** Decodes a cursor of `cursorKind`; anything else is a 400 `invalid_cursor` naming `cursor`. */
export function decodeCursor<Parts extends readonly CursorPart[]>(
  cursor: string,
  cursorKind: CursorKind<Parts>,
): KeyOf<Parts> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError();
  }
  if (
    !Array.isArray(value) ||
    value.length !== cursorKind.parts.length + 1 ||
    value[0] !== cursorKind.tag ||
    !cursorKind.parts.every((part, i) => validPart(part, value[i + 1]))
  ) {
    throw new InvalidCursorError();
  }
  return value.slice(1) as KeyOf<Parts>;
}

/**
 * Builds a page from `limit + 1` fetched rows: the extra row only tells whether a next page
 * exists.
 */
export function toPage<R, T, Parts extends readonly CursorPart[]>(
  rows: R[],
  limit: number,
  cursorKind: CursorKind<Parts>,
  keyOf: (row: R) => KeyOf<Parts>,
  view: (row: R) => T,
): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    items: pageRows.map(view),
    nextCursor: hasMore && last !== undefined ? encodeCursor(cursorKind, keyOf(last)) : null,
  };
}
