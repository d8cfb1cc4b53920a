/**
 * Hand-written SVG charts (no dependencies): line charts (CDFs, time series) and horizontal bar
 * charts (a figure next to its baseline). Plain SVG 1.1, readable in any browser or on GitHub.
 */

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Draw as steps (a CDF) instead of straight segments. */
  step?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Vertical reference lines (e.g. a budget). */
  markers?: readonly { x: number; label: string }[];
  yMax?: number;
}

export interface BarSpec {
  label: string;
  value: number;
  /** Shown after the bar, e.g. "1.9 ms". */
  text: string;
}

export interface BarChartSpec {
  title: string;
  /** Groups of bars, each group a figure with its baseline. */
  groups: readonly { name: string; bars: readonly BarSpec[] }[];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** "Nice" tick values covering [min, max]. */
export function ticks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

export function lineChart(spec: LineChartSpec): string {
  const W = 760;
  const legendRows = Math.ceil(spec.series.length / 2);
  const m = { l: 70, r: 20, t: 40, b: 56 + legendRows * 16 };
  const H = 360 + m.b;
  const pw = W - m.l - m.r;
  const ph = 360 - m.t - 4;
  const all = spec.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]).concat((spec.markers ?? []).map((mk) => mk.x));
  const ys = all.map((p) => p[1]);
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(xMin + 1e-9, ...xs) * 1.02;
  const yMin = Math.min(0, ...ys);
  const yMax = spec.yMax ?? Math.max(yMin + 1e-9, ...ys) * 1.05;
  const X = (x: number) => m.l + ((x - xMin) / (xMax - xMin)) * pw;
  const Y = (y: number) => m.t + ph - ((y - yMin) / (yMax - yMin)) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  );
  for (const t of ticks(xMin, xMax)) {
    parts.push(
      `<line x1="${X(t)}" y1="${m.t}" x2="${X(t)}" y2="${m.t + ph}" stroke="#eee"/>`,
      `<text x="${X(t)}" y="${m.t + ph + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of ticks(yMin, yMax)) {
    parts.push(
      `<line x1="${m.l}" y1="${Y(t)}" x2="${m.l + pw}" y2="${Y(t)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text x="${m.l + pw / 2}" y="${m.t + ph + 36}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text x="16" y="${m.t + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.t + ph / 2})">${esc(spec.yLabel)}</text>`,
  );
  (spec.markers ?? []).forEach((mk, i) => {
    const ty = m.t + 14 + i * 14;
    parts.push(
      `<line x1="${X(mk.x)}" y1="${m.t}" x2="${X(mk.x)}" y2="${m.t + ph}" stroke="#555" stroke-dasharray="5,4"/>`,
      X(mk.x) > m.l + pw * 0.8
        ? `<text x="${X(mk.x) - 4}" y="${ty}" fill="#555" text-anchor="end">${esc(mk.label)}</text>`
        : `<text x="${X(mk.x) + 4}" y="${ty}" fill="#555">${esc(mk.label)}</text>`,
    );
  });
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts: string[] = [];
    let prev: readonly [number, number] | undefined;
    for (const p of s.points) {
      if (s.step && prev) pts.push(`${X(p[0]).toFixed(1)},${Y(prev[1]).toFixed(1)}`);
      pts.push(`${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`);
      prev = p;
    }
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(" ")}"/>`);
    const lx = m.l + (i % 2) * (pw / 2);
    const ly = m.t + ph + 58 + Math.floor(i / 2) * 16;
    parts.push(
      `<rect x="${lx}" y="${ly - 6}" width="14" height="3" fill="${color}"/>`,
      `<text x="${lx + 20}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

export function barChart(spec: BarChartSpec): string {
  const W = 760;
  const rowH = 22;
  const groupGap = 14;
  const m = { l: 230, r: 150, t: 40, b: 20 };
  const rows = spec.groups.reduce((n, g) => n + g.bars.length, 0);
  const H = m.t + m.b + rows * rowH + spec.groups.length * (groupGap + 16);
  const pw = W - m.l - m.r;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  let y = m.t;
  for (const g of spec.groups) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(g.name)}</text>`);
    y += 16;
    const max = Math.max(1e-12, ...g.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
    g.bars.forEach((b, i) => {
      const w = Number.isFinite(b.value) ? Math.max(1, (b.value / max) * pw) : 0;
      parts.push(
        `<text x="${m.l - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${m.l}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${m.l + w + 6}" y="${y + 15}">${esc(b.text)}</text>`,
      );
      y += rowH;
    });
    y += groupGap;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
