/**
 * A line diff of two template revisions (longest common subsequence), as the rows a unified
 * diff shows: kept, removed and added lines with their line numbers on each side. Quadratic in
 * lines, which is fine for config templates (hundreds of lines); above MAX_CELLS it falls back
 * to "everything removed, everything added" rather than freeze the page.
 */

export type DiffRow =
  | { kind: "same"; text: string; left: number; right: number }
  | { kind: "removed"; text: string; left: number }
  | { kind: "added"; text: string; right: number };

const MAX_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The rows turning `before` into `after`; removals come before additions at each change. */
export function lineDiff(before: string, after: string): DiffRow[] {
  const a = splitLines(before);
  const b = splitLines(after);
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [
      ...a.map((text, i): DiffRow => ({ kind: "removed", text, left: i + 1 })),
      ...b.map((text, j): DiffRow => ({ kind: "added", text, right: j + 1 })),
    ];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..], in one flat array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1
          : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
    }
  }
  const rows: DiffRow[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const left = a[i] as string;
    const right = b[j] as string;
    if (left === right) {
      rows.push({ kind: "same", text: left, left: i + 1, right: j + 1 });
      i++;
      j++;
    } else if ((lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0)) {
      rows.push({ kind: "removed", text: left, left: i + 1 });
      i++;
    } else {
      rows.push({ kind: "added", text: right, right: j + 1 });
      j++;
    }
  }
  for (; i < n; i++) rows.push({ kind: "removed", text: a[i] as string, left: i + 1 });
  for (; j < m; j++) rows.push({ kind: "added", text: b[j] as string, right: j + 1 });
  return rows;
}

/** How many lines were added and removed. */
export function diffStats(rows: readonly DiffRow[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const row of rows) {
    if (row.kind === "added") added++;
    if (row.kind === "removed") removed++;
  }
  return { added, removed };
}
