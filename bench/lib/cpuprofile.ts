/**
 * Reads a V8 .cpuprofile (what `node --cpu-prof` writes) and ranks functions by self time and by
 * inclusive time (a function counted once per sample, however deep it recurses).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  fn: string;
  selfMs: number;
  selfPercent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Time not idle and not garbage collection / program overhead. */
  busyMs: number;
  gcMs: number;
  topSelf: ProfileEntry[];
  topInclusive: { fn: string; inclusiveMs: number; inclusivePercent: number }[];
}

const SKIP = new Set(["(root)", "(idle)", "(program)", "(garbage collector)"]);

function nameOf(n: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = n.callFrame;
  if (!url) return functionName || "(anonymous)";
  let where = url.replace(/^file:\/\//, "");
  const nm = where.lastIndexOf("node_modules/");
  if (nm >= 0) where = where.slice(nm + "node_modules/".length);
  else if (where.startsWith(root)) where = where.slice(root.length + 1);
  return `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
}

export function summarizeProfile(file: string, root: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    const node = byId.get(id);
    if (!node) return;
    const name = node.callFrame.functionName;
    if (name === "(idle)") {
      idleUs += dt;
      return;
    }
    if (name === "(garbage collector)") gcUs += dt;
    const key = nameOf(node, root);
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      // Inclusive ranking is about the application and its libraries, not Node's plumbing.
      if (
        !n ||
        SKIP.has(n.callFrame.functionName) ||
        !n.callFrame.url ||
        n.callFrame.url.startsWith("node:")
      ) {
        continue;
      }
      const k = nameOf(n, root);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => Number(((us / Math.max(1, busyUs)) * 100).toFixed(1));
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    gcMs: Math.round(gcUs / 1000),
    topSelf: [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({ fn, selfMs: Math.round(us / 1000), selfPercent: pct(us) })),
    topInclusive: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({ fn, inclusiveMs: Math.round(us / 1000), inclusivePercent: pct(us) })),
  };
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

export interface HeapSummary {
  file: string;
  totalMb: number;
  topSelf: { fn: string; mb: number; percent: number }[];
  topInclusive: { fn: string; mb: number; percent: number }[];
}

/**
 * Reads a V8 sampling heap profile (.heapprofile: allocation sites of the objects still alive
 * when sampling stopped) and ranks functions by the bytes they allocated that are still retained.
 */
export function summarizeHeapProfile(file: string, root: string, top = 20): HeapSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as { head: HeapNode };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  const name = (n: HeapNode) => nameOf({ id: 0, callFrame: n.callFrame }, root);
  const walk = (n: HeapNode): void => {
    if (n.selfSize > 0) {
      const key = name(n);
      self.set(key, (self.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  // Inclusive: bytes allocated in a function or anything it called (each function once per path).
  const walkInclusive = (n: HeapNode, seen: Set<string>): number => {
    let sum = n.selfSize;
    const key = name(n);
    const skip =
      SKIP.has(n.callFrame.functionName) || !n.callFrame.url || n.callFrame.url.startsWith("node:");
    const fresh = !skip && !seen.has(key);
    if (fresh) seen.add(key);
    for (const c of n.children) sum += walkInclusive(c, seen);
    if (fresh) {
      seen.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    }
    return sum;
  };
  walk(profile.head);
  walkInclusive(profile.head, new Set());
  const mb = (b: number) => Number((b / 2 ** 20).toFixed(2));
  const pct = (b: number) => Number(((b / Math.max(1, total)) * 100).toFixed(1));
  return {
    file,
    totalMb: mb(total),
    topSelf: [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, b]) => ({ fn, mb: mb(b), percent: pct(b) })),
    topInclusive: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, b]) => ({ fn, mb: mb(b), percent: pct(b) })),
  };
}
