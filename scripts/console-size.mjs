#!/usr/bin/env node
// After `vite build`: the JavaScript index.html loads first (its module scripts and their static
// imports), gzipped, must stay under the budget of issue 15 (~300 KB). Prints the figure; exits 1
// over budget so `npm run build` fails rather than ship a slow console.

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 300 * 1024;
const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "console");
const html = readFileSync(path.join(outDir, "index.html"), "utf8");
// The entry script and every chunk it preloads: all of it is fetched before the first paint.
const files = [...html.matchAll(/(?:src|href)="\/ui\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
if (files.length === 0) {
  console.error("console-size: no script found in dist/console/index.html");
  process.exit(2);
}
let total = 0;
for (const file of new Set(files))
  total += gzipSync(readFileSync(path.join(outDir, file)), { level: 9 }).length;
const kb = (total / 1024).toFixed(1);
if (total > BUDGET_BYTES) {
  console.error(`console first load: ${kb} KB gzipped JavaScript, over the ${BUDGET_BYTES / 1024} KB budget`);
  process.exit(1);
}
console.log(`console first load: ${kb} KB gzipped JavaScript (budget ${BUDGET_BYTES / 1024} KB)`);
