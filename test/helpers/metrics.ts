/**
 * Reads a server's /metrics the way Prometheus does: the Prometheus text format parsed into
 * series, so tests assert on what an operator's queries would see.
 */

export interface Scrape {
  /** Every metric family named by a `# TYPE` line (histograms and counters as declared). */
  families: Set<string>;
  /** Every sample name (histograms give `_bucket`, `_sum`, `_count`). */
  samples: Set<string>;
  /** The value of one series; labels must match exactly the ones given (others ignored); undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over every series of `name` matching `labels` (0 when none). */
  sum(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a Prometheus text exposition. */
export function parseExposition(text: string): Scrape {
  const families = new Set<string>();
  const samples = new Set<string>();
  const series: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const name = line.split(" ")[2];
      if (name) families.add(name);
      continue;
    }
    if (line.startsWith("#") || line.trim() === "") continue;
    const m = SAMPLE.exec(line);
    if (!m?.[1]) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) if (l[1]) labels[l[1]] = l[2] ?? "";
    samples.add(m[1]);
    series.push({ name: m[1], labels, value: Number(m[3]) });
  }
  const matching = (name: string, labels: Record<string, string>) =>
    series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    families,
    samples,
    value(name, labels = {}) {
      return matching(name, labels)[0]?.value;
    },
    sum(name, labels = {}) {
      return matching(name, labels).reduce((total, s) => total + s.value, 0);
    },
  };
}

/** GET /metrics of a running server, parsed. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}
