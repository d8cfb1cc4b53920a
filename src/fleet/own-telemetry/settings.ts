/**
 * Own-telemetry settings (issue 13): what a tenant stores, the rules a request must pass, and
 * the resolved destinations that are offered to agents. Pure: no I/O.
 *
 * Why the character rules are this strict: opampsupervisor (v0.158.0, templates/owntelemetry.yaml)
 * writes every offered header into the collector's YAML config as `"<key>": "<value>"` without
 * escaping, and the endpoint as a plain scalar; the collector then expands `${…}` in that config.
 * A quote, a backslash, a line break or a `$` would break the collector's config or inject into
 * it, so neither a stored value nor a resolved secret may carry one.
 */
import type { FieldIssue } from "../../errors.js";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../../render/index.js";

export const TELEMETRY_SIGNALS = ["metrics", "logs", "traces"] as const;
export type TelemetrySignal = (typeof TELEMETRY_SIGNALS)[number];

/** A header whose value is a tenant secret (plus an optional plain prefix such as "Bearer "). */
export interface SecretHeaderRef {
  secret: string;
  prefix?: string;
}
export type HeaderValue = string | SecretHeaderRef;

/** One destination as stored and shown: secret references, never secret values. */
export interface StoredDestination {
  endpoint: string;
  headers: Record<string, HeaderValue>;
}
export type StoredOwnTelemetry = Partial<Record<TelemetrySignal, StoredDestination>>;

/** One destination as offered: every header value resolved. Lives in memory only. */
export interface ResolvedDestination {
  endpoint: string;
  headers: Array<{ key: string; value: string }>;
}
export type OwnTelemetryDestinations = Partial<Record<TelemetrySignal, ResolvedDestination>>;

export const MAX_HEADERS = 20;
const MAX_ENDPOINT_CHARS = 2048;
const MAX_HEADER_VALUE_CHARS = 4096;
const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const HEADER_NAME_RULE = "1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit";
/** Credentials must come from a secret: a plain value would be stored, shown and audited. */
const CREDENTIAL_HEADERS = new Set(["authorization", "proxy-authorization"]);

/** Why `value` cannot be carried as a header value, or undefined when it can. */
export function headerValueProblem(value: string): string | undefined {
  if (value.length > MAX_HEADER_VALUE_CHARS) return `at most ${MAX_HEADER_VALUE_CHARS} characters`;
  if (!/^[\x20-\x7e]*$/.test(value)) return "printable ASCII only (no line breaks or control characters)";
  if (/["\\$]/.test(value))
    return 'no ", \\ or $ (the supervisor writes header values unescaped into the collector config, which expands $-references)';
  return undefined;
}

/** The normalised endpoint (`URL.href`), or why it is refused. */
function checkEndpoint(raw: string): { endpoint: string } | { problem: string } {
  const absolute = "an absolute http(s) URL, e.g. https://otlp.example.com/v1/metrics";
  if (raw.length > MAX_ENDPOINT_CHARS) return { problem: `at most ${MAX_ENDPOINT_CHARS} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: absolute };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { problem: absolute };
  if (url.username || url.password)
    return { problem: "no credentials in the URL: send them in a header that references a secret" };
  // `url.hash` is "" for a bare "#": look at the text.
  if (url.hash || url.href.includes("#")) return { problem: "no #fragment" };
  if (/[\s"\\$]/.test(url.href)) return { problem: 'no whitespace, ", \\ or $' };
  return { endpoint: url.href };
}

export interface CheckedOwnTelemetry {
  /** Normalised settings (endpoint as URL.href, header names sorted). */
  settings: StoredOwnTelemetry;
  issues: FieldIssue[];
  /** Every secret referenced, with the path of its reference. */
  secrets: Array<{ name: string; path: string }>;
}

/** Validates and normalises a request; issues name JSON paths ("metrics.headers.authorization.secret"). */
export function checkOwnTelemetry(input: StoredOwnTelemetry): CheckedOwnTelemetry {
  const issues: FieldIssue[] = [];
  const secrets: CheckedOwnTelemetry["secrets"] = [];
  const settings: StoredOwnTelemetry = {};
  if (TELEMETRY_SIGNALS.every((s) => input[s] === undefined)) {
    issues.push({ path: "", message: "set metrics, logs or traces (DELETE removes the settings)" });
  }
  for (const signal of TELEMETRY_SIGNALS) {
    const destination = input[signal];
    if (!destination) continue;
    const endpoint = checkEndpoint(destination.endpoint);
    if ("problem" in endpoint) issues.push({ path: `${signal}.endpoint`, message: endpoint.problem });
    const names = Object.keys(destination.headers).sort();
    if (names.length > MAX_HEADERS)
      issues.push({ path: `${signal}.headers`, message: `at most ${MAX_HEADERS} headers` });
    const seen = new Set<string>();
    const headers: Record<string, HeaderValue> = {};
    for (const name of names) {
      const path = `${signal}.headers.${name}`;
      const value = destination.headers[name] as HeaderValue;
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) issues.push({ path, message: `header name: ${HEADER_NAME_RULE}` });
      if (seen.has(lower)) issues.push({ path, message: "the same header twice (names ignore case)" });
      seen.add(lower);
      if (typeof value === "string") {
        if (CREDENTIAL_HEADERS.has(lower)) {
          issues.push({
            path,
            message: 'a credential header takes a secret reference: {"secret": "<name>"}',
          });
        }
        const problem = headerValueProblem(value);
        if (problem) issues.push({ path, message: problem });
        headers[name] = value;
        continue;
      }
      if (!SECRET_NAME_PATTERN.test(value.secret)) {
        issues.push({ path: `${path}.secret`, message: `secret name: ${SECRET_NAME_RULE}` });
      } else {
        secrets.push({ name: value.secret, path: `${path}.secret` });
      }
      if (value.prefix !== undefined) {
        const problem = headerValueProblem(value.prefix);
        if (problem) issues.push({ path: `${path}.prefix`, message: problem });
      }
      headers[name] = value.prefix
        ? { secret: value.secret, prefix: value.prefix }
        : { secret: value.secret };
    }
    settings[signal] = {
      endpoint: "endpoint" in endpoint ? endpoint.endpoint : destination.endpoint,
      headers,
    };
  }
  return { settings, issues, secrets };
}

/** Reads a stored `settings` column (written by this module; NULL after a delete → none). */
export function parseStoredOwnTelemetry(json: unknown): StoredOwnTelemetry {
  const out: StoredOwnTelemetry = {};
  if (typeof json !== "object" || json === null) return out;
  for (const signal of TELEMETRY_SIGNALS) {
    const d = (json as Record<string, unknown>)[signal] as Partial<StoredDestination> | undefined;
    if (d && typeof d.endpoint === "string" && typeof d.headers === "object" && d.headers !== null) {
      out[signal] = { endpoint: d.endpoint, headers: d.headers };
    }
  }
  return out;
}

/** A stable text of settings, to tell an unchanged PUT (jsonb does not keep key order). */
export function canonicalOwnTelemetry(settings: StoredOwnTelemetry): string {
  const value = (v: HeaderValue) => (typeof v === "string" ? v : [v.secret, v.prefix ?? null]);
  return JSON.stringify(
    TELEMETRY_SIGNALS.map((s) => {
      const d = settings[s];
      const headers = Object.entries(d?.headers ?? {})
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, value(v)]);
      return d ? [s, d.endpoint, headers] : [s];
    }),
  );
}

/** What the audit row keeps: endpoints, header names and secret names, never a header value. */
export function auditSummary(settings: StoredOwnTelemetry): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const signal of TELEMETRY_SIGNALS) {
    const d = settings[signal];
    if (!d) continue;
    const values = Object.values(d.headers);
    out[signal] = {
      endpoint: d.endpoint,
      headers: Object.keys(d.headers),
      secrets: values.flatMap((v) => (typeof v === "string" ? [] : [v.secret])),
    };
  }
  return out;
}
