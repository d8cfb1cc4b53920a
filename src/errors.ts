/**
 * One error hierarchy for every transport. Services throw AppError subclasses with a closed
 * `code`; REST maps them to problem+json (api/errors.ts), OpAMP to an upgrade status,
 * ServerErrorResponse or close code (opamp/errors.ts). Anything else is a bug: logged in full,
 * answered opaquely with the request id.
 */

export type ErrorCode =
  | "bad_request"
  | "validation_failed"
  | "invalid_cursor"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "method_not_allowed"
  | "precondition_failed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "headers_too_large"
  | "unprocessable"
  | "rate_limited"
  | "unavailable"
  | "internal";

/** A field-level problem, addressed by its JSON path (e.g. "labels.env"). */
export interface FieldIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class AppError extends Error {
  override readonly name: string = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { issues?: FieldIssue[]; retryAfterSeconds?: number; [k: string]: unknown } = {},
  ) {
    super(message);
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, issues: FieldIssue[] = []) {
    super("bad_request", message, { issues });
  }
}

/** A page cursor this API did not issue, or issued for another listing. */
export class InvalidCursorError extends AppError {
  constructor() {
    super("invalid_cursor", "invalid cursor", {
      issues: [{ path: "cursor", message: "not a cursor this API issued for this listing" }],
    });
  }
}

export class ValidationError extends AppError {
  constructor(message: string, issues: FieldIssue[]) {
    super("validation_failed", message, { issues });
  }
}

export class UnauthenticatedError extends AppError {
  /** `reason` is for metrics and logs only; clients always see the same message. */
  constructor(readonly reason: string) {
    super("unauthenticated", "missing, malformed, unknown, expired or revoked credential");
  }
}

export class ForbiddenError extends AppError {
  constructor(message = "the credential's role does not allow this action") {
    super("forbidden", message);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super("not_found", `${what} not found`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super("conflict", message, details);
  }
}

/** The path exists but not for this method; `allow` lists the methods it has. */
export class MethodNotAllowedError extends AppError {
  constructor(
    method: string,
    readonly allow: readonly string[],
  ) {
    super("method_not_allowed", `${method} is not allowed here; allowed: ${allow.join(", ")}`);
  }
}

/** A request body in a media type the API does not read (it reads application/json). */
export class UnsupportedMediaTypeError extends AppError {
  constructor(contentType: string) {
    super("unsupported_media_type", `request bodies must be application/json, not ${contentType}`, {
      issues: [{ path: "Content-Type", message: "must be application/json" }],
    });
  }
}

export class PreconditionFailedError extends AppError {
  constructor(message = "the resource changed since it was read (If-Match does not match its ETag)") {
    super("precondition_failed", message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super("payload_too_large", `request body exceeds ${limitBytes} bytes`, { limitBytes });
  }
}

export class UnprocessableError extends AppError {
  constructor(message: string, issues: FieldIssue[] = []) {
    super("unprocessable", message, { issues });
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super("rate_limited", "too many requests", { retryAfterSeconds });
  }
}

export class UnavailableError extends AppError {
  constructor(message: string, retryAfterSeconds = 5) {
    super("unavailable", message, { retryAfterSeconds });
  }
}

/** The database cannot be reached now (down, restarting, refusing the password); retry soon. */
export class DatabaseUnavailableError extends UnavailableError {
  constructor() {
    super("the database cannot be reached now; retry after the Retry-After seconds", 5);
  }
}
