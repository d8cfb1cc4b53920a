/**
 * The console's only way to the server: openapi-fetch over the types generated from the
 * server's own /openapi.json (src/gen/api.d.ts). Every call carries the API key from the
 * browser session, or none (then the portal's JWT cookie is used, see docs/console.md).
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./gen/api";

export type Schemas = components["schemas"];
export type Agent = Schemas["Agent"];
export type AgentDetail = Schemas["AgentDetail"];
export type Role = Schemas["WhoAmI"]["role"];

/** sessionStorage only: the key is gone when the tab closes, and never reaches localStorage. */
const KEY_STORAGE = "agent-api.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** A problem+json answer, as an Error the pages can show. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    const key = storedKey();
    if (key) request.headers.set("Authorization", `Bearer ${key}`);
    // Lets the server accept the portal's JWT cookie for this request (CSRF guard, docs/console.md).
    request.headers.set("X-Agent-Api-Console", "1");
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

/** The data of an openapi-fetch answer, or an ApiError with the problem's detail. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || result.data === undefined) {
    const problem = (result.error ?? {}) as { code?: string; detail?: string; title?: string };
    throw new ApiError(
      result.response.status,
      problem.code ?? "error",
      problem.detail ?? problem.title ?? `HTTP ${result.response.status}`,
    );
  }
  return result.data;
}
