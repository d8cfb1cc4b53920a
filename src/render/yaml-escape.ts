/**
 * How one interpolated value is written into the YAML text around it. Each function returns text
 * that, placed at an interpolation site of its kind, can only ever be read back as one scalar:
 * never a new key, list item, comment or document. Values a site cannot carry make the render
 * fail (YamlEscapeError) rather than being silently altered.
 */

/** Thrown when a value cannot be written safely at its site; the renderer maps it to "render_error". */
export class YamlEscapeError extends Error {
  override readonly name = "YamlEscapeError";
}

// Letters and digits of any script; ASCII punctuation that never starts YAML syntax mid-scalar.
// `:` and `=` only when another safe character follows (so never ": " and never a trailing ":").
// The first character is stricter: `.` and `-` only before a letter/digit/underscore, which rules
// out "- x", "---", "...", "-", and every other indicator ("?", "!", "&", "*", "|", ">", "%", "@",
// quotes, brackets, braces, "#", ",").
const PLAIN_SAFE =
  /^(?:[\p{L}\p{N}_/+~]|[.-](?=[\p{L}\p{N}_]))(?:[\p{L}\p{N}_./@+~-]|[:=](?=[\p{L}\p{N}_./@+~:=-]))*$/u;

/**
 * True when `text` can stand unquoted as a whole plain scalar and reads back as the same
 * characters. YAML may still *type* it: "4317" is an int, "true" a bool, "~" and "null" are null,
 * ".inf" a float — that is deliberate, so `port: {{p}}` stays a number.
 */
export function isPlainSafe(text: string): boolean {
  return PLAIN_SAFE.test(text);
}

// Characters a YAML parser may treat as a line break (\r; NEL, LS, PS in YAML 1.1 readers such as
// the collector's go-yaml), the BOM and U+FFFE/U+FFFF, C0/C1 controls and DEL, and lone surrogates
// (not encodable as UTF-8). Tab (\t) is printable YAML and allowed where raw text is written.
// With the `u` flag, [\ud800-\udfff] matches only unpaired surrogates.
const UNPRINTABLE_EXCEPT_TAB_LF =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]/u;
const ESCAPED_IN_DOUBLE_QUOTES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /[\u0000-\u001f"\\\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]/gu;

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  '"': '\\"',
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

function unicodeEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * The content of a YAML double-quoted scalar (without the quotes) that reads back as `text`:
 * backslash, quote and every line break or control character are escaped, so the result is one
 * physical line and cannot close the quotes.
 */
export function escapeDoubleQuoted(text: string): string {
  return text.replace(ESCAPED_IN_DOUBLE_QUOTES, (ch) => SHORT_ESCAPES[ch] ?? unicodeEscape(ch));
}

/** `text` as a complete YAML double-quoted scalar (also valid JSON). */
export function doubleQuoted(text: string): string {
  return `"${escapeDoubleQuoted(text)}"`;
}

/** A value where a whole plain scalar stands (`key: {{v}}`, `- {{v}}`, `{{k}}: v`, `[{{v}}]`). */
export function escapePlain(text: string): string {
  // An empty value is written as "" rather than nothing: `key:` alone would read back as null.
  if (text === "") return '""';
  return isPlainSafe(text) ? text : doubleQuoted(text);
}

/** A value in the middle of an unquoted scalar (`url: https://{{host}}:4317`): it cannot be quoted. */
export function escapeEmbedded(text: string): string {
  if (text === "" || isPlainSafe(text)) return text;
  throw new YamlEscapeError(
    "the value cannot be placed inside an unquoted YAML scalar (it contains spaces or YAML syntax); put the whole scalar in double quotes",
  );
}

/** A value inside a single-quoted scalar: `'` is doubled; line breaks cannot be written at all. */
export function escapeSingleQuoted(text: string): string {
  if (text.includes("\n") || UNPRINTABLE_EXCEPT_TAB_LF.test(text)) {
    throw new YamlEscapeError(
      "the value contains a line break or control character, which a single-quoted YAML scalar cannot carry; use double quotes",
    );
  }
  return text.replaceAll("'", "''");
}

/**
 * A value inside a block scalar (`|` or `>`): each line of the value is re-indented to `indent`,
 * the indentation of the template line, so no line can fall out of the scalar. `autoIndent` is set
 * when the value is the first content of a block scalar without an indentation indicator: YAML
 * then takes the scalar's indentation from the value's first non-empty line, so that line must
 * not start with a space.
 */
export function escapeBlock(text: string, indent: string, autoIndent: boolean): string {
  if (UNPRINTABLE_EXCEPT_TAB_LF.test(text)) {
    throw new YamlEscapeError(
      "the value contains a carriage return or control character, which a YAML block scalar cannot carry; use a double-quoted scalar",
    );
  }
  if (/^[ \n]*$/.test(text) && text.includes(" ")) {
    // A scalar made only of such a value is whitespace-only, which YAML readers disagree on
    // (the yaml package reads "     " under `|2` as an empty line, the spec as a space).
    throw new YamlEscapeError(
      "a value of only spaces and line breaks cannot be written reliably in a YAML block scalar; use a double-quoted scalar",
    );
  }
  if (autoIndent && /^[ \n]*/.exec(text)?.[0].includes(" ")) {
    throw new YamlEscapeError(
      "the value starts with spaces, which would change the indentation of the block scalar; add an indentation indicator (e.g. |2) or a fixed first line",
    );
  }
  return text.replaceAll("\n", `\n${indent}`);
}

/** A value inside a `#` comment: escaped like double-quoted content so it stays on the comment line. */
export function escapeComment(text: string): string {
  return escapeDoubleQuoted(text);
}

const JSON_EXTRA_ESCAPES = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

/**
 * JSON text for `value` that is also a single-line YAML flow node: besides JSON's own escaping,
 * DEL, C1 controls, LS/PS, the BOM and U+FFFE/U+FFFF are written as \uXXXX (still valid JSON).
 * `undefined` and functions become `null`.
 */
export function yamlSafeJson(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.replace(JSON_EXTRA_ESCAPES, unicodeEscape);
}
