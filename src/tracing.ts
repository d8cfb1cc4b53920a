/**
 * OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Spans are made explicitly
 * at three places: the REST middleware (one per request), the OpAMP session (one per message)
 * and the database layer (one per statement, as a child of whichever of those is active).
 *
 * Off costs nothing: the SDK is imported dynamically only when tracing starts, and each helper
 * here checks one boolean before touching even the no-op API.
 */
import { type Attributes, context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

const TRACER_NAME = "agent-api";

let enabled = false;

/** Whether spans are recorded (tracing started in this process). */
export function tracingEnabled(): boolean {
  return enabled;
}

export interface TracingOptions {
  /** OTLP/HTTP base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  serviceName: string;
}

export interface TracingHandle {
  /** Exports what is buffered and stops tracing. */
  shutdown(): Promise<void>;
}

/** Starts exporting spans (the SDK is loaded here, and only here). */
export async function startTracing(options: TracingOptions): Promise<TracingHandle> {
  const { startTracingSdk } = await import("./tracing-sdk.js");
  const sdk = startTracingSdk(options);
  enabled = true;
  return {
    async shutdown() {
      enabled = false;
      await sdk.shutdown();
    },
  };
}

/**
 * Runs `fn` inside an active span named `name` (a no-op wrapper when tracing is off). The span
 * ends when `fn` settles; a thrown error marks it failed. `fn` may rename or annotate it.
 */
export function withSpan<T>(
  name: string,
  kind: "server" | "internal",
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!enabled) return fn(undefined);
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(
    name,
    { kind: kind === "server" ? SpanKind.SERVER : SpanKind.INTERNAL, attributes },
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** The subset of Kysely's log event a query span needs. */
export interface QueryLogEvent {
  level: "query" | "error";
  query: { sql: string };
  queryDurationMillis: number;
  error?: unknown;
}

/**
 * Kysely's `log` hook, called after each statement in the caller's async context: records the
 * statement as a client span that started `queryDurationMillis` ago, under the active span. The
 * text is the parameterised SQL; values (secrets among them) are never attached.
 */
export function recordQuerySpan(event: QueryLogEvent): void {
  if (!enabled) return;
  const end = performance.timeOrigin + performance.now();
  const operation = /^\s*(\w+)/.exec(event.query.sql)?.[1]?.toUpperCase() ?? "QUERY";
  const span = trace.getTracer(TRACER_NAME).startSpan(
    operation,
    {
      kind: SpanKind.CLIENT,
      startTime: end - event.queryDurationMillis,
      attributes: {
        "db.system.name": "postgresql",
        "db.operation.name": operation,
        "db.query.text": event.query.sql,
      },
    },
    context.active(),
  );
  if (event.level === "error") span.setStatus({ code: SpanStatusCode.ERROR });
  span.end(end);
}
