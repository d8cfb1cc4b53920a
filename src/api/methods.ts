/**
 * Which methods a path has, read from the app's own route table, so that a known path asked with
 * another method answers 405 with `Allow` (RFC 9110 §15.5.6) instead of 404, for every route
 * without a list kept by hand.
 */

interface RouteEntry {
  method: string;
  path: string;
}

interface PathMethods {
  pattern: RegExp;
  method: string;
  /** Parameter segments: a literal segment is more specific than a parameter. */
  params: number;
}

function patternOf(path: string): RegExp {
  const source = path
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}/?$`);
}

/**
 * Builds the lookup (lazily, once the routes are registered; middleware entries are skipped):
 * the methods of the most specific route templates matching a path. `…/agents/restart` is the
 * restart route's path, not an agent called "restart": it answers POST only.
 */
export function methodsOfPaths(routes: readonly RouteEntry[]): (path: string) => string[] {
  let table: PathMethods[] | undefined;
  return (path) => {
    table ??= routes
      .filter((r) => r.method !== "ALL" && !r.path.includes("*"))
      .map((r) => ({
        pattern: patternOf(r.path),
        method: r.method.toUpperCase(),
        params: r.path.split("/").filter((s) => s.startsWith(":")).length,
      }));
    const matching = table.filter((r) => r.pattern.test(path));
    const fewest = Math.min(...matching.map((r) => r.params));
    const methods = new Set(matching.filter((r) => r.params === fewest).map((r) => r.method));
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}

const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/** True when a request carries a body (a non-zero Content-Length, or a chunked one). */
export function hasBody(headers: { get(name: string): string | null }): boolean {
  const length = headers.get("content-length");
  if (length !== null) return length.trim() !== "0";
  return headers.get("transfer-encoding") !== null;
}

/** True when `contentType` names JSON (application/json, or a +json type), parameters allowed. */
export function isJsonMediaType(contentType: string | null): boolean {
  return contentType !== null && JSON_MEDIA_TYPE.test(contentType.trim());
}
