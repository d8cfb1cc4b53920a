/** Label editing: "k=v, k2=v2" text to a map, and the JSON merge patch PATCH /agents takes. */

/** The labels of `text`, or a message saying what is wrong with it. */
export function parseLabels(text: string): Record<string, string> | string {
  const labels: Record<string, string> = {};
  for (const raw of text.split(",")) {
    const term = raw.trim();
    if (!term) continue;
    const eq = term.indexOf("=");
    if (eq <= 0) return `"${term}" is not key=value`;
    const key = term.slice(0, eq).trim();
    if (key in labels) return `label "${key}" given twice`;
    labels[key] = term.slice(eq + 1).trim();
  }
  return labels;
}

/** The merge patch from `before` to `after`: changed or new keys set, removed keys null. */
export function labelsPatch(
  before: Record<string, string>,
  after: Record<string, string>,
): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) if (before[key] !== value) patch[key] = value;
  return patch;
}
