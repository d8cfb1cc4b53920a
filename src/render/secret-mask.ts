/**
 * The one way a secret's value is hidden wherever text that may carry it is shown: the explain
 * preview of a rendered config, the effective config an agent reports, a render failure's
 * message. Every secret value found in the text, raw or in a form the renderer writes it in, is
 * replaced by SECRET_MASK.
 */
import { escapeDoubleQuoted, yamlSafeJson } from "./yaml-escape.js";

/** What stands where a secret's value was. */
export const SECRET_MASK = "[REDACTED]";

/**
 * The texts a value can appear as in rendered YAML or a message: raw (plain scalars, block
 * scalars), escaped for double quotes or comments, JSON-escaped (the `json` helper), with `'`
 * doubled (single quotes), and each line of a multi-line value (a block scalar re-indents its
 * lines). Blank forms never count (they would mask the layout).
 */
function formsOf(value: string): string[] {
  const forms = [
    value,
    escapeDoubleQuoted(value),
    JSON.stringify(value).slice(1, -1),
    yamlSafeJson(value).slice(1, -1),
    value.replaceAll("'", "''"),
  ];
  if (value.includes("\n")) forms.push(...value.split("\n"));
  return forms.filter((f) => f.trim() !== "");
}

/**
 * `text` with every form of every value in `values` replaced by SECRET_MASK, longest first and in
 * one pass (a mask is never masked again). Forms shorter than `minLength` are left alone: callers
 * that mask text written by someone else (an agent's report) skip very short values, which would
 * mask ordinary words; a preview of our own render masks every value.
 */
export function maskSecretValues(text: string, values: readonly string[], minLength = 1): string {
  const forms = new Set<string>();
  for (const value of values)
    for (const form of formsOf(value)) if (form.length >= minLength) forms.add(form);
  if (forms.size === 0) return text;
  const pattern = [...forms]
    .sort((a, b) => b.length - a.length)
    .map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("|");
  return text.replace(new RegExp(pattern, "g"), () => SECRET_MASK);
}
