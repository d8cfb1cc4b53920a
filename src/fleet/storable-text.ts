/**
 * Text the database stores unchanged: no NUL character (PostgreSQL `text` refuses U+0000) and no
 * unpaired UTF-16 surrogate (it has no UTF-8 encoding, so the driver would store U+FFFD instead).
 */

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` can be stored in a PostgreSQL text column exactly as it is. */
export function isStorableText(s: string): boolean {
  return !s.includes("\u0000") && !UNPAIRED_SURROGATE.test(s);
}
