/** Why a render produced no config. Positions are 1-based. */
export type RenderFailureReason =
  | "missing_variable"
  | "missing_secret"
  | "secret_unavailable"
  | "invalid_yaml"
  | "not_a_mapping"
  | "render_error";

/** A render failure as returned to callers (the `ok: false` arm of RenderResult). */
export interface RenderFailureResult {
  ok: false;
  reason: RenderFailureReason;
  message: string;
  line?: number;
  column?: number;
  secretName?: string;
  retryAfterSeconds?: number;
}

/** Thrown inside a render (by helpers and escaping) and turned into a RenderFailureResult. */
export class RenderFailure extends Error {
  override readonly name = "RenderFailure";
  constructor(
    readonly reason: RenderFailureReason,
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }

  toResult(): RenderFailureResult {
    return failureResult(this.reason, this.message, this.line, this.column);
  }
}

/** Builds a failure result, leaving out absent positions (exactOptionalPropertyTypes-friendly). */
export function failureResult(
  reason: RenderFailureReason,
  message: string,
  line?: number,
  column?: number,
): RenderFailureResult {
  return {
    ok: false,
    reason,
    message,
    ...(line !== undefined ? { line } : {}),
    ...(column !== undefined ? { column } : {}),
  };
}
