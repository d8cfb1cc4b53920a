/**
 * The server's log after a run: lines counted by (level, component, message, error), and the
 * file cut to its head and tail when it grew large (a cascade of errors can write 100 MB).
 */
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

export interface LogLineCount {
  level: string;
  component: string;
  msg: string;
  err: string;
  count: number;
  first: string;
  last: string;
}

export interface ServerLogSummary {
  lines: number;
  bytes: number;
  truncated: boolean;
  counts: LogLineCount[];
}

const LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

export async function summarizeServerLog(
  file: string,
  keepBytes = 2 * 1024 * 1024,
): Promise<ServerLogSummary> {
  let bytes = 0;
  try {
    bytes = statSync(file).size;
  } catch {
    return { lines: 0, bytes: 0, truncated: false, counts: [] };
  }
  const counts = new Map<string, LogLineCount>();
  const head: string[] = [];
  const tail: string[] = [];
  let lines = 0;
  const rl = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    lines++;
    if (head.length < 500) head.push(line);
    else {
      tail.push(line);
      if (tail.length > 500) tail.shift();
    }
    // The inspector's banners (the bench opens it on loopback) are not the server's doing.
    if (line.startsWith("Debugger ") || line.startsWith("For help, see:") || line === "") continue;
    let rec: Record<string, unknown> | undefined;
    if (line.startsWith("{")) {
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        rec = undefined;
      }
    }
    const err = rec?.err;
    const entry = {
      level: rec
        ? typeof rec.level === "number"
          ? (LEVELS[rec.level] ?? String(rec.level))
          : String(rec.level)
        : "text",
      component: rec ? String(rec.component ?? "") : "",
      msg: rec ? String(rec.msg ?? "") : line.slice(0, 120),
      err:
        typeof err === "object" && err !== null
          ? String((err as { message?: unknown }).message ?? "")
          : String(err ?? ""),
    };
    const key = JSON.stringify(entry);
    const time = rec ? String(rec.time ?? "") : "";
    const c = counts.get(key);
    if (c) {
      c.count++;
      if (time) c.last = time;
    } else {
      counts.set(key, { ...entry, count: 1, first: time, last: time });
    }
  }
  let truncated = false;
  if (bytes > keepBytes) {
    const elided = lines - head.length - tail.length;
    writeFileSync(
      file,
      `${head.join("\n")}\n… ${elided} lines (${bytes} bytes in all) elided by the bench; counts in summary.md …\n${tail.join("\n")}\n`,
    );
    truncated = true;
  }
  return {
    lines,
    bytes,
    truncated,
    counts: [...counts.values()].sort((a, b) => b.count - a.count).slice(0, 30),
  };
}
