/**
 * REST error mapping: AppError → RFC 9457 problem+json with a stable `code` and the request id.
 * Unknown errors are logged in full and answered opaquely.
 */
import { z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { AppError, type ErrorCode, type FieldIssue, MethodNotAllowedError } from "../errors.js";
import type { Logger } from "../logger.js";

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  invalid_cursor: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  method_not_allowed: 405,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  headers_too_large: 431,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

const TITLE: Record<ErrorCode, string> = {
  bad_request: "Bad request",
  validation_failed: "Validation failed",
  invalid_cursor: "Invalid cursor",
  unauthenticated: "Unauthenticated",
  forbidden: "Forbidden",
  not_found: "Not found",
  conflict: "Conflict",
  method_not_allowed: "Method not allowed",
  precondition_failed: "Precondition failed",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  headers_too_large: "Request header fields too large",
  unprocessable: "Unprocessable content",
  rate_limited: "Too many requests",
  unavailable: "Service unavailable",
  internal: "Internal server error",
};

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "urn:agent-api:problem:not_found" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: "not_found" }),
    requestId: z.string(),
    issues: z
      .array(
        z.object({
          path: z.string(),
          message: z.string(),
          line: z.number().int().optional(),
          column: z.number().int().optional(),
        }),
      )
      .optional(),
  })
  .openapi("Problem");

export type Problem = z.infer<typeof ProblemSchema>;

function problemContent(description: string) {
  return { description, content: { "application/problem+json": { schema: ProblemSchema } } };
}

/** The error answers every authenticated route can give; spread into each route's responses. */
export const commonErrorResponses = {
  400: problemContent("Malformed request: bad JSON, unknown field, wrong type (with field paths)"),
  401: problemContent("Missing, malformed, unknown, expired or revoked credential"),
  403: problemContent("The credential's role is too low"),
  404: problemContent("No such resource in a tenant this credential can see"),
  413: problemContent("Request body over the limit (the connection is closed after the answer)"),
  415: problemContent("A request body that is not application/json"),
  422: problemContent("Semantically invalid (with field paths), e.g. a reserved key such as __proto__"),
  431: problemContent("Request line or headers over the limit (the connection is closed)"),
  500: problemContent("Unexpected error; the request id identifies it in the logs"),
  503: problemContent("The database cannot be reached now; retry after Retry-After seconds"),
} as const;

export const conflictResponse = { 409: problemContent("Conflicts with the current state") } as const;
/** Every POST can answer it: an Idempotency-Key reused for another request (middleware/idempotency.ts). */
export const idempotencyConflictResponse = {
  409: problemContent(
    "Conflicts with the current state, or the Idempotency-Key was used for another request",
  ),
} as const;
export const preconditionResponse = {
  412: problemContent("If-Match does not match the current ETag"),
} as const;
export const unprocessableResponse = {
  422: problemContent("Semantically invalid (with positions)"),
} as const;

/**
 * The problem+json answer Node's HTTP parser gives on its own (before any route runs) when a
 * request is malformed or its request line and headers are too big: a complete HTTP/1.1 response
 * that closes the connection.
 */
export function rawProblemResponse(status: 400 | 408 | 431, requestId: string): string {
  const code: ErrorCode = status === 431 ? "headers_too_large" : "bad_request";
  const detail =
    status === 431
      ? "the request line or headers exceed the server's limit (shorten the query string)"
      : status === 408
        ? "the request was not received in time"
        : "malformed HTTP request";
  const body = JSON.stringify({
    type: `urn:agent-api:problem:${code}`,
    title: status === 408 ? "Request timeout" : TITLE[code],
    status,
    detail,
    code,
    requestId,
  });
  const reason =
    status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request";
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/problem+json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** Builds the problem body and status for any thrown value. */
export function toProblem(
  err: unknown,
  requestId: string,
  logger: Logger,
): { status: number; body: Problem; headers: Record<string, string> } {
  const headers: Record<string, string> = { "Content-Type": "application/problem+json" };
  let code: ErrorCode;
  let detail: string;
  let issues: FieldIssue[] | undefined;
  if (err instanceof AppError) {
    code = err.code;
    detail = err.message;
    issues = err.details.issues?.length ? err.details.issues : undefined;
    if (err.details.retryAfterSeconds !== undefined)
      headers["Retry-After"] = String(err.details.retryAfterSeconds);
    if (code === "unauthenticated") headers["WWW-Authenticate"] = 'Bearer realm="agent-api"';
    if (err instanceof MethodNotAllowedError) headers.Allow = err.allow.join(", ");
  } else if (err instanceof HTTPException && err.status < 500) {
    // Hono's own validators (malformed JSON) and middleware (body limit).
    code = err.status === 413 ? "payload_too_large" : err.status === 401 ? "unauthenticated" : "bad_request";
    detail = err.message || TITLE[code];
    if (code === "bad_request" && /JSON/i.test(detail)) issues = [{ path: "", message: detail }];
  } else {
    logger.error({ err, requestId }, "unhandled error");
    code = "internal";
    detail = `unexpected error; quote request id ${requestId}`;
  }
  const status = STATUS[code];
  // The body of a refused oversized request is left unread: the connection cannot carry another
  // request, so the client is told (Node then closes it after this answer).
  if (code === "payload_too_large") headers.Connection = "close";
  return {
    status,
    headers,
    body: {
      type: `urn:agent-api:problem:${code}`,
      title: TITLE[code],
      status,
      detail,
      code,
      requestId,
      ...(issues ? { issues } : {}),
    },
  };
}

/** Zod issues → field paths ("labels.env", "items[2].name"). */
export function zodIssuesToFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
      .join("");
    if (issue.code === "unrecognized_keys") {
      const prefix = path ? `${path}.` : "";
      return { path: issue.keys.map((k) => `${prefix}${k}`).join(", "), message: "unknown field" };
    }
    return { path, message: issue.message };
  });
}
