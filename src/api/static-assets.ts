/**
 * Files the server hands to browsers from its own disk, never from a CDN (an air-gapped install
 * must work): the console built by `npm run build` into dist/console, and swagger-ui-dist for
 * the /docs page. Only files directly inside a known folder are served; a path that tries to
 * leave it (`..`, encoded slashes) is a 404.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * The console may load only its own files and call only this origin: a CDN script could not run
 * even if one slipped into the build.
 */
const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'";

/**
 * The package root (the folder with package.json), found by walking up from this file because
 * the module runs both from src/api (tsx) and from dist/src/api (built).
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "node_modules"))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** Where `npm run build` puts the console (console/vite.config.ts `build.outDir`). */
export function consoleFolder(): string {
  return join(packageRoot(), "dist", "console");
}

/** swagger-ui-dist's folder in node_modules (a runtime dependency). */
export function swaggerUiFolder(): string {
  return dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
}

/** The file `relative` inside `root`, or null when it would leave it or does not exist. */
async function readInside(root: string, relative: string): Promise<Buffer | null> {
  if (relative.includes("\0") || relative.includes("\\")) return null;
  const full = normalize(join(root, relative));
  if (!full.startsWith(root + sep)) return null;
  try {
    return await readFile(full);
  } catch {
    return null;
  }
}

/**
 * Answers `c` with the file `relative` of `root`; null when there is none (the caller decides
 * between a 404 and a fallback). Hashed assets (Vite's `assets/`) are cached for a year; the
 * rest is revalidated each time so a new build shows at once.
 */
export async function serveFile(
  c: Context,
  root: string,
  relative: string,
  options: { csp?: boolean; immutable?: boolean } = {},
): Promise<Response | null> {
  const body = await readInside(root, relative);
  if (!body) return null;
  const headers: Record<string, string> = {
    "Content-Type": CONTENT_TYPES[extname(relative)] ?? "application/octet-stream",
    "Cache-Control": options.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "X-Content-Type-Options": "nosniff",
  };
  if (options.csp) headers["Content-Security-Policy"] = CONSOLE_CSP;
  return c.body(new Uint8Array(body), 200, headers);
}
