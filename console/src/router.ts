/**
 * Hash routing (`/ui/#/agents/<uid>`): the server serves one index.html for /ui/ and needs no
 * fallback route, and a link can be shared as is.
 */
import { useEffect, useState } from "react";

export interface Route {
  /** Path segments after "#/", e.g. ["agents", "<uid>"]. */
  segments: string[];
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
  return { segments: path.split("/").filter(Boolean).map(decodeURIComponent), params };
}

/** The hash of a route: segments encoded, parameters appended when any. */
export function href(segments: readonly string[], params?: URLSearchParams): string {
  const query = params?.toString();
  return `#/${segments.map(encodeURIComponent).join("/")}${query ? `?${query}` : ""}`;
}

export function useRoute(): Route {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return parseHash(hash);
}

export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, "", to);
  else window.location.hash = to;
  if (replace) window.dispatchEvent(new HashChangeEvent("hashchange"));
}
