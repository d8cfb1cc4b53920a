/**
 * AppError → OpAMP answers. Before the upgrade: an HTTP status (401, 429/503 with Retry-After),
 * never accept-then-close (opamp-go reconnects at once after a drop, so that would be a hot
 * loop). After it: a ServerErrorResponse; opamp-go only logs those, so they are for operators
 * reading supervisor logs, not for flow control.
 */
import { create } from "@bufbuild/protobuf";
import { AppError } from "../errors.js";
import {
  ServerErrorResponseType,
  type ServerToAgent,
  ServerToAgentSchema,
} from "../gen/opamp/v1/opamp_pb.js";

export interface UpgradeRejection {
  status: number;
  headers: Record<string, string>;
  reason: string;
}

/** The HTTP answer that refuses an upgrade (or a plain-HTTP request) for `err`. */
export function upgradeRejection(err: unknown): UpgradeRejection {
  if (err instanceof AppError) {
    const retry = err.details.retryAfterSeconds;
    switch (err.code) {
      case "unauthenticated":
        return {
          status: 401,
          headers: { "WWW-Authenticate": 'Bearer realm="agent-api"' },
          reason: err.message,
        };
      case "rate_limited":
        return { status: 429, headers: { "Retry-After": String(retry ?? 5) }, reason: err.message };
      case "unavailable":
        return { status: 503, headers: { "Retry-After": String(retry ?? 5) }, reason: err.message };
      default:
        break;
    }
  }
  return { status: 500, headers: {}, reason: "internal error" };
}

/** A reply carrying only an error (the spec: no other field but instance_uid may be set). */
export function errorReply(
  instanceUid: Uint8Array,
  type: ServerErrorResponseType,
  message: string,
): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid,
    errorResponse: { type, errorMessage: message },
  });
}

/** Unavailable with a retry hint (RetryInfo); opamp-go logs it, the connection stays. */
export function unavailable(instanceUid: Uint8Array, message: string, retryAfterSeconds = 5): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid,
    errorResponse: {
      type: ServerErrorResponseType.ServerErrorResponseType_Unavailable,
      errorMessage: message,
      Details: {
        case: "retryInfo",
        value: { retryAfterNanoseconds: BigInt(retryAfterSeconds) * 1_000_000_000n },
      },
    },
  });
}

export function badRequest(instanceUid: Uint8Array, message: string): ServerToAgent {
  return errorReply(instanceUid, ServerErrorResponseType.ServerErrorResponseType_BadRequest, message);
}

/** WebSocket close codes the server uses. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  tooBig: 1009,
} as const;
