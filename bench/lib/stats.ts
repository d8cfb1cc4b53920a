/** Small statistics helpers (nearest-rank percentiles on sorted copies). */

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** Rounds for display: 3 significant digits, integers kept whole. */
export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  if (Math.abs(v) >= 10 ** digits) return Math.round(v);
  return Number(v.toPrecision(digits));
}

/** Points of an empirical CDF (x ascending, y = fraction 0..1), thinned to at most `max` points. */
export function cdfPoints(values: readonly number[], max = 400): [number, number][] {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const step = Math.max(1, Math.floor(n / max));
  const out: [number, number][] = [[sorted[0] ?? 0, 0]];
  for (let i = 0; i < n; i += step) out.push([sorted[i] ?? 0, (i + 1) / n]);
  out.push([sorted[n - 1] ?? 0, 1]);
  return out;
}

/** Counts per time bucket: [bucket start, count] for values relative to `origin`. */
export function histogram(values: readonly number[], bucket: number): [number, number][] {
  if (values.length === 0) return [];
  const counts = new Map<number, number>();
  let maxB = 0;
  for (const v of values) {
    const b = Math.floor(v / bucket);
    maxB = Math.max(maxB, b);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const out: [number, number][] = [];
  for (let b = 0; b <= maxB; b++) out.push([b * bucket, counts.get(b) ?? 0]);
  return out;
}
