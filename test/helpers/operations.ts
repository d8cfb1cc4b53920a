/**
 * The REST operations as the server documents them in /openapi.json, for tests that walk every
 * route (roles, tenant isolation): a route added to the code is walked without a test edit, and
 * one whose path needs a parameter nobody knows how to fill fails loudly.
 */
import { expect } from "vitest";

export type Role = "viewer" | "editor" | "admin" | "operator";
export const RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3, operator: 4 };

export interface Operation {
  method: string;
  /** The OpenAPI path template, e.g. `/api/v1/tenants/{tenantId}/agents/{instanceUid}`. */
  path: string;
  requiredRole: Role;
  hasBody: boolean;
  /** The statuses the document lists for it. */
  documented: Set<number>;
  /** Under `/api/v1/tenants/{tenantId}`. */
  tenantScoped: boolean;
  agentScoped: boolean;
  /** "METHOD path", for messages. */
  label: string;
  summary: string;
}

interface OpenApiOperation {
  "x-required-role"?: string;
  summary?: string;
  requestBody?: unknown;
  responses?: Record<string, unknown>;
  parameters?: { name: string; in: string; required?: boolean }[];
}

/** Every operation of the server's /openapi.json; fails when one declares no known role. */
export async function documentedOperations(baseUrl: string): Promise<Operation[]> {
  const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, OpenApiOperation>>;
  };
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const label = `${method.toUpperCase()} ${path}`;
      const role = op["x-required-role"];
      expect(Object.keys(RANK), `${label} declares x-required-role`).toContain(role);
      const requiredQuery = (op.parameters ?? []).filter((p) => p.in === "query" && p.required);
      expect(requiredQuery, `${label}: a required query parameter the walkers cannot fill`).toEqual([]);
      ops.push({
        method: method.toUpperCase(),
        path,
        requiredRole: role as Role,
        hasBody: op.requestBody !== undefined,
        documented: new Set(Object.keys(op.responses ?? {}).map(Number)),
        tenantScoped: path.startsWith("/api/v1/tenants/{tenantId}"),
        agentScoped: path.includes("{instanceUid}"),
        label,
        summary: op.summary ?? "",
      });
    }
  }
  return ops;
}

/** The path with every `{param}` replaced from `params`; throws for a parameter not in it. */
export function pathOf(op: Operation, params: Record<string, string>): string {
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${op.label}: no value for path parameter {${name}}`);
    return encodeURIComponent(value);
  });
}

/** Reads first, then writes, deletes last, the tenant's own deletion at the very end. */
export function destructiveLast(ops: readonly Operation[]): Operation[] {
  const weight = (op: Operation) =>
    op.method === "GET" ? 0 : op.method !== "DELETE" ? 1 : op.path === "/api/v1/tenants/{tenantId}" ? 3 : 2;
  return [...ops].sort((a, b) => weight(a) - weight(b));
}

export interface Answer {
  status: number;
  code: string | undefined;
  detail: string | undefined;
  /** The body as sent. */
  text: string;
}

/** Calls `op` with `authorization` (or none); an operation with a body gets `{}`. */
export async function call(
  baseUrl: string,
  op: Operation,
  params: Record<string, string>,
  authorization: string | null,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = `Bearer ${authorization}`;
  if (op.hasBody) headers["content-type"] = "application/json";
  const res = await fetch(`${baseUrl}${pathOf(op, params)}`, {
    method: op.method,
    headers,
    body: op.hasBody ? "{}" : undefined,
  });
  const text = await res.text();
  let body: { code?: string; detail?: string } = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    // not JSON: no code
  }
  return { status: res.status, code: body.code, detail: body.detail, text };
}
