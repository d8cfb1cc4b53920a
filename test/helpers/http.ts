/** A small JSON client for the REST API, as a script would use it. */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  token?: string | null;
  headers?: Record<string, string>;
  /** A raw body sent as-is (malformed JSON tests); otherwise `json` is serialised. */
  raw?: string;
  json?: unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers.
export type Json = any;

export function apiClient(baseUrl: string, defaultToken: string) {
  async function call<T = Json>(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? defaultToken : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) {
      body = opts.raw;
      headers["content-type"] ??= "application/json";
    } else if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }
  return {
    get: <T = Json>(path: string, opts?: RequestOptions) => call<T>("GET", path, opts),
    post: <T = Json>(path: string, json?: unknown, opts?: RequestOptions) =>
      call<T>("POST", path, { ...opts, json }),
    put: <T = Json>(path: string, json?: unknown, opts?: RequestOptions) =>
      call<T>("PUT", path, { ...opts, json }),
    patch: <T = Json>(path: string, json?: unknown, opts?: RequestOptions) =>
      call<T>("PATCH", path, { ...opts, json }),
    delete: <T = Json>(path: string, opts?: RequestOptions) => call<T>("DELETE", path, opts),
    call,
  };
}

export type ApiClient = ReturnType<typeof apiClient>;
