/**
 * The OpenTelemetry SDK, loaded by tracing.ts only when OTEL_EXPORTER_OTLP_ENDPOINT is set (a
 * dynamic import: with tracing off these packages are never loaded). Spans are batched and sent
 * as OTLP/HTTP (JSON) to `<endpoint>/v1/traces`; async context follows AsyncLocalStorage.
 */
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

/** Where spans go and the service they name (tracing.ts's TracingOptions; not imported from it:
 * tracing.ts loads this file, and this file never reaches back). */
export function startTracingSdk(options: { endpoint: string; serviceName: string }): {
  shutdown(): Promise<void>;
} {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, "")}/v1/traces` }),
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}
