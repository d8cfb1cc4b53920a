/**
 * pino loggers. One root, named children per layer. Credentials and secret values are redacted
 * by path; code never logs a token, only its id or display prefix.
 */
import { type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger } from "pino";

/** Paths whose values must never reach a log line. */
export const REDACTED_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "token",
  "*.token",
  "key",
  "*.key",
  "value",
  "*.value",
  "secret",
  "*.secret",
  "password",
  "*.password",
  "plaintext",
  "*.plaintext",
];

/** Creates the root logger. `destination` is for tests that capture output. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "agent-api" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: "[REDACTED]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
