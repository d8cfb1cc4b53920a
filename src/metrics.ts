/**
 * Prometheus metrics behind one facade: a helper per business event, low-cardinality labels only
 * (route templates, status codes, reasons; never tenant ids or instance UIDs, those go to logs).
 * Each context owns its own registry, so several servers can run in one test process.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Pool figures the database layer reports at scrape time. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export class Metrics {
  readonly registry = new Registry();

  readonly #httpRequests = new Counter({
    name: "agentapi_http_requests_total",
    help: "REST requests by route template, method and status code",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });
  readonly #httpDuration = new Histogram({
    name: "agentapi_http_request_duration_seconds",
    help: "REST request duration by route template and method",
    labelNames: ["route", "method"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly #authFailures = new Counter({
    name: "agentapi_auth_failures_total",
    help: "Rejected credentials by transport and reason",
    labelNames: ["transport", "reason"] as const,
    registers: [this.registry],
  });
  readonly #auditEvents = new Counter({
    name: "agentapi_audit_events_total",
    help: "Audit events written, by action",
    labelNames: ["action"] as const,
    registers: [this.registry],
  });

  constructor(poolStats: () => PoolStats | undefined = () => undefined) {
    collectDefaultMetrics({ register: this.registry, prefix: "agentapi_" });
    const pool = new Gauge({
      name: "agentapi_db_pool_connections",
      help: "Database pool connections by state (total, idle, waiting clients)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const s = poolStats();
        if (!s) return;
        this.set({ state: "total" }, s.total);
        this.set({ state: "idle" }, s.idle);
        this.set({ state: "waiting" }, s.waiting);
      },
    });
    void pool;
  }

  /** One finished REST request. `route` is the route template, never the raw path. */
  httpRequest(route: string, method: string, status: number, seconds: number): void {
    this.#httpRequests.inc({ route, method, status: String(status) });
    this.#httpDuration.observe({ route, method }, seconds);
  }

  authFailure(transport: "rest" | "opamp", reason: string): void {
    this.#authFailures.inc({ transport, reason });
  }

  auditEvent(action: string): void {
    this.#auditEvents.inc({ action });
  }

  /** Prometheus text exposition of every metric in this registry. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
