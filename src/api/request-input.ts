/**
 * What every request input (body, query, path and header parameters) must be before a route sees
 * it, whatever its schema says, checked once in the shared validation hook (router.ts):
 *
 * - Text the database can store: no NUL character (PostgreSQL `text` refuses U+0000) and no
 *   unpaired surrogate (it cannot be encoded as UTF-8, so it would be stored altered). Keys count
 *   as text too (label keys are stored).
 * - No `__proto__`, `constructor` or `prototype` key anywhere in a body: a JSON object with one
 *   parses fine, but copying it into a plain object silently drops or misreads that key (a label
 *   `__proto__` vanished), so it is refused rather than half-kept.
 */
import type { FieldIssue } from "../errors.js";
import { isStorableText } from "../fleet/storable-text.js";

const RESERVED_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Problems of one request input, by kind; empty arrays when it is fine. */
export interface InputIssues {
  /** Text that cannot be stored as it is (answered 400). */
  text: FieldIssue[];
  /** Keys that cannot be stored as they are (answered 422). */
  reservedKeys: FieldIssue[];
}

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Walks a parsed input (JSON value, or a record of parameter values) for both kinds of problem. */
export function inputIssues(value: unknown): InputIssues {
  const issues: InputIssues = { text: [], reservedKeys: [] };
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > 64) return;
    if (typeof v === "string") {
      if (!isStorableText(v)) {
        issues.text.push({
          path,
          message: "text with a NUL character or an unpaired surrogate cannot be stored",
        });
      }
      return;
    }
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) walk(item, join(path, i), depth + 1);
      return;
    }
    if (v === null || typeof v !== "object") return;
    for (const key of Object.keys(v)) {
      const at = join(path, key);
      if (RESERVED_KEYS.has(key))
        issues.reservedKeys.push({ path: at, message: `the key "${key}" is reserved` });
      else if (!isStorableText(key)) {
        issues.text.push({
          path: at,
          message: "a key with a NUL character or an unpaired surrogate cannot be stored",
        });
      }
      walk((v as Record<string, unknown>)[key], at, depth + 1);
    }
  };
  walk(value, "", 0);
  return issues;
}
